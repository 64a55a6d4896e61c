package backoff_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
)

// FuzzTransportResponses drives Transport with an in-memory Base whose
// answers the fuzzer chooses (statuses, headers, body lengths, bodies cut
// short, transport errors), and checks what must hold whatever they are:
// no panic; attempts within the limit; a returned response is the last one
// Base gave, and its caller reads its whole body unchanged (or, for a body
// cut short, the same bytes and then the same error); every other body is
// closed by the time RoundTrip returns, after at most 4 KiB of a discarded
// failed body was read; the request's body is closed.

var fuzzStatuses = []int{200, 201, 204, 301, 304, 400, 401, 404, 408, 409, 429, 500, 502, 503, 504}

// fuzzBody is a response body that records how it was used.
type fuzzBody struct {
	data   []byte
	err    error // after data: io.EOF, or the cut
	pos    int
	closed int
}

func (b *fuzzBody) Read(p []byte) (int, error) {
	if b.closed > 0 {
		return 0, errors.New("read after close")
	}
	if b.pos == len(b.data) {
		return 0, b.err
	}
	n := copy(p, b.data[b.pos:])
	b.pos += n
	return n, nil
}

func (b *fuzzBody) Close() error { b.closed++; return nil }

// fuzzClock makes every wait of Retry instant; the attempt timeout (an
// hour) never fires.
type fuzzClock struct{}

func (fuzzClock) Now() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
func (fuzzClock) After(d time.Duration) <-chan time.Time {
	if d >= time.Hour {
		return nil
	}
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

// fuzzTrip is one answer of Base.
type fuzzTrip struct {
	resp *http.Response
	body *fuzzBody // nil: none, or a nil Body
	err  error
}

func fuzzAnswer(i int, spec []byte) fuzzTrip {
	kind, status, flags := spec[0], fuzzStatuses[int(spec[1])%len(fuzzStatuses)], spec[2]
	size := int(spec[3]%40)<<8 | int(spec[4])
	switch kind % 16 {
	case 0:
		return fuzzTrip{err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	case 1:
		return fuzzTrip{err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}
	case 2:
		return fuzzTrip{err: errors.New("stream error: stream ID 1; REFUSED_STREAM")}
	case 3:
		return fuzzTrip{} // neither a response nor an error
	}
	data := make([]byte, size)
	for j := range data {
		data[j] = byte((i*31 + j) % 251)
	}
	body := &fuzzBody{data: data, err: io.EOF}
	if spec[5]&1 != 0 {
		body.data = data[:size*int(spec[5])/256]
		body.err = io.ErrUnexpectedEOF
	}
	h := http.Header{}
	resp := &http.Response{StatusCode: status, Header: h, Body: body, ContentLength: -1}
	if flags&1 != 0 {
		resp.ContentLength = int64(size)
	}
	if flags&2 != 0 {
		h.Set("Content-Type", "text/event-stream")
	}
	if flags&4 != 0 {
		h.Set("Retry-After", []string{"0", "1", "junk", "30"}[flags>>4%4])
	}
	if flags&8 != 0 {
		resp.Body, body = nil, nil
	}
	t := fuzzTrip{resp: resp, body: body}
	if kind%16 == 4 {
		t.err = io.ErrUnexpectedEOF // a response and an error
	}
	return t
}

func FuzzTransportResponses(f *testing.F) {
	f.Add([]byte{5, 0, 0, 0, 10, 0}, uint8(0), uint16(0), uint8(4), uint8(0))
	f.Add([]byte{5, 11, 1, 20, 0, 0, 5, 0, 0, 0, 5, 0}, uint8(0), uint16(0), uint8(4), uint8(0))      // 500 of 5 KiB, then 200
	f.Add([]byte{5, 10, 4, 0, 50, 0, 5, 10, 4, 0, 50, 0}, uint8(1), uint16(0), uint8(2), uint8(0))    // 429s on a POST
	f.Add([]byte{5, 0, 1, 0, 100, 129, 5, 0, 0, 0, 3, 0}, uint8(1), uint16(1000), uint8(3), uint8(2)) // a cut 200, buffered, with a key
	f.Add([]byte{5, 0, 0, 30, 0, 0}, uint8(0), uint16(64), uint8(1), uint8(1))                        // over the buffer
	f.Add([]byte{0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 5, 7, 8, 0, 0, 0}, uint8(1), uint16(0), uint8(4), uint8(0))
	f.Add([]byte{3, 0, 0, 0, 0, 0, 4, 0, 0, 0, 9, 0, 5, 13, 0, 0, 9, 1}, uint8(0), uint16(0), uint8(4), uint8(1))
	f.Fuzz(func(t *testing.T, script []byte, method uint8, buffer uint16, attempts uint8, flags uint8) {
		maxAttempts := int(attempts%6) + 1
		var trips []fuzzTrip
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				r.Body.Close() // as a RoundTripper must
			}
			i := len(trips)
			spec := make([]byte, 6)
			if off := 6 * i; off < len(script) {
				copy(spec, script[off:])
			} else {
				spec[0] = 5 // a plain 200 once the script runs out
			}
			tr := fuzzAnswer(i, spec)
			trips = append(trips, tr)
			return tr.resp, tr.err
		})
		opts := []backoff.Option{backoff.WithStrategy(backoff.Fixed(0)), backoff.WithClock(fuzzClock{}),
			backoff.WithMaxAttempts(maxAttempts)}
		if flags&1 != 0 {
			opts = append(opts, backoff.WithAttemptTimeout(time.Hour))
		}
		tr := &backoff.Transport{Base: base, Options: opts, BufferBody: int64(buffer)}
		var reqBody *closeCounter
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		if method%2 == 1 {
			reqBody = &closeCounter{ReadCloser: io.NopCloser(strings.NewReader("{}"))}
			req, _ = http.NewRequest(http.MethodPost, "http://127.0.0.1/", reqBody)
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("{}")), nil }
		}
		if flags&2 != 0 {
			req.Header.Set("Idempotency-Key", "k")
		}

		resp, err := tr.RoundTrip(req)
		if len(trips) < 1 || len(trips) > maxAttempts {
			t.Fatalf("%d attempts, limit %d", len(trips), maxAttempts)
		}
		last := trips[len(trips)-1]
		for i, trip := range trips {
			if trip.body == nil || (err == nil && i == len(trips)-1) {
				continue
			}
			if trip.body.closed == 0 {
				t.Fatalf("attempt %d: body left open", i+1)
			}
			if trip.resp.StatusCode >= 400 && trip.err == nil && trip.body.pos > 4096 {
				t.Fatalf("attempt %d: %d bytes of a discarded body read", i+1, trip.body.pos)
			}
		}
		if reqBody != nil && reqBody.closed.Load() == 0 {
			t.Fatal("the request's body left open")
		}
		if err != nil {
			if resp != nil {
				t.Fatalf("a response and an error: %v", err)
			}
			var e *backoff.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is no *backoff.Error: %v", err, err)
			}
			if e.Attempts != len(trips) {
				t.Fatalf("Error.Attempts %d, made %d", e.Attempts, len(trips))
			}
			return
		}
		if last.resp == nil || resp.StatusCode != last.resp.StatusCode || last.err != nil {
			t.Fatalf("returned a response that is not the last answer of Base")
		}
		if resp.Body == nil {
			t.Fatal("nil Body returned")
		}
		got, rerr := io.ReadAll(resp.Body)
		var want []byte
		wantErr := error(nil)
		if last.body != nil {
			want = last.body.data
			if last.body.err != io.EOF {
				wantErr = last.body.err
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the caller read %d bytes, want the %d of the body", len(got), len(want))
		}
		if !errors.Is(rerr, wantErr) || (wantErr == nil) != (rerr == nil) {
			t.Fatalf("body read ended with %v, want %v", rerr, wantErr)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		if last.body != nil && last.body.closed == 0 {
			t.Fatal("closing the returned body did not close Base's")
		}
	})
}
