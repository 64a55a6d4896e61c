package backoff_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// Bodies: what Transport reads of a response before it hands it on, and
// that the caller still reads it whole.

// bodyOf returns a body of n bytes that tells its positions apart.
func bodyOf(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(strconv.Itoa(i) + ",")
	}
	return b.String()[:n]
}

func TestTransportFailedBodyForClassifier(t *testing.T) {
	for _, size := range []int{0, 1, 100, 4095, 4096, 4097, 10000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			body := bodyOf(size)
			var n atomic.Int32
			srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Vendor", "a"+strconv.Itoa(int(n.Add(1))))
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, body)
			})
			var seen []*backoff.StatusError
			tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait, backoff.WithMaxAttempts(2),
				backoff.WithClassifier(func(err error) backoff.Class {
					var se *backoff.StatusError
					require.ErrorAs(t, err, &se)
					seen = append(seen, se)
					return backoff.Classify(err)
				})}}
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
			assert.Equal(t, body, readBody(t, resp), "the caller reads the whole body, unchanged")
			require.Len(t, seen, 2)
			for i, se := range seen {
				assert.Equal(t, body[:min(size, 4096)], string(se.Body), "attempt %d", i+1)
				if size == 0 {
					assert.Nil(t, se.Body)
				}
				assert.Equal(t, "a"+strconv.Itoa(i+1), se.Header.Get("X-Vendor"))
			}
			// The discarded first response was drained to at most 4 KiB in
			// all, its peeked bytes counted.
			assert.Equal(t, int64(min(size, 4096)), c.bytesRead(0))
			assert.EqualValues(t, 2, c.closed.Load())
		})
	}
}

// brokenBody gives data and then err.
type brokenBody struct {
	r      io.Reader
	err    error
	closed atomic.Int32
}

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, b.err
	}
	return n, err
}

func (b *brokenBody) Close() error { b.closed.Add(1); return nil }

func TestTransportFailedBodyCutIsTheCallers(t *testing.T) {
	// A Permanent status whose body breaks after 10 bytes: the caller reads
	// the 10 bytes and then the same error, as from Base itself.
	body := &brokenBody{r: strings.NewReader("0123456789"), err: io.ErrUnexpectedEOF}
	tr := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 404, Header: http.Header{}, Body: body, ContentLength: 100}, nil
	})}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, "0123456789", string(b))
	require.NoError(t, resp.Body.Close())
	assert.EqualValues(t, 1, body.closed.Load())
}

func TestTransportFailedBodyUnderAttemptTimeout(t *testing.T) {
	// The first 4 KiB of a failed status are read within the attempt
	// timeout: a 500 whose body stalls before them times the attempt out.
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				w.WriteHeader(500)
				io.WriteString(w, "partial")
				http.NewResponseController(w).Flush()
				<-r.Context().Done()
				return
			}
			io.WriteString(w, "ok")
		})
		defer stop()
		var errs []error
		tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait, backoff.WithAttemptTimeout(time.Second),
			backoff.WithNotify(func(a backoff.Attempt, _ time.Duration) { errs = append(errs, a.Err) })}}
		req, _ := http.NewRequest(http.MethodGet, "http://glm.test/", nil)
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, "ok", readBody(t, resp))
		assert.Equal(t, time.Second, time.Since(start))
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], context.DeadlineExceeded)
	})
}

func TestTransportNilBody(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		opts     []backoff.Option
	}{
		{name: "200", statuses: []int{200}},
		{name: "200 with attempt timeout", statuses: []int{200}, opts: []backoff.Option{backoff.WithAttemptTimeout(time.Minute)}},
		{name: "500 drained, then 200, with attempt timeout", statuses: []int{500, 200}, opts: []backoff.Option{backoff.WithAttemptTimeout(time.Minute)}},
		{name: "500 returned, with attempt timeout", statuses: []int{500, 500}, opts: []backoff.Option{backoff.WithAttemptTimeout(time.Minute), backoff.WithMaxAttempts(2)}},
		{name: "404 returned", statuses: []int{404}},
		{name: "200 buffered", statuses: []int{200}, opts: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			var seen [][]byte
			tr := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
				n++
				return &http.Response{StatusCode: tc.statuses[n-1], Header: http.Header{}}, nil
			}), BufferBody: 1 << 10, Options: append([]backoff.Option{noWait,
				backoff.WithNotify(func(a backoff.Attempt, _ time.Duration) {
					var se *backoff.StatusError
					require.ErrorAs(t, a.Err, &se)
					seen = append(seen, se.Body)
				})}, tc.opts...)}
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, tc.statuses[len(tc.statuses)-1], resp.StatusCode)
			require.NotNil(t, resp.Body, "an empty body, as http.Client makes it")
			assert.Equal(t, "", readBody(t, resp))
			assert.Equal(t, len(tc.statuses), n)
			for _, b := range seen {
				assert.Nil(t, b)
			}
		})
	}
}

func TestTransportBufferBody(t *testing.T) {
	t.Run("a body cut mid-way is retried", func(t *testing.T) {
		var n atomic.Int32
		srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				hijackAndWrite(t, w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
				return
			}
			io.WriteString(w, "whole")
		})
		tr := &backoff.Transport{Base: c, BufferBody: 1 << 20, Options: []backoff.Option{noWait}}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.EqualValues(t, 2, c.closed.Load(), "both bodies closed by Transport: the second was read whole")
		assert.Equal(t, "whole", readBody(t, resp))
		assert.EqualValues(t, 2, n.Load())
	})

	for _, tc := range []struct {
		name   string
		header http.Header
		tries  int32
	}{
		{name: "POST cut mid-body is not retried", tries: 1},
		{name: "POST with Idempotency-Key cut mid-body is retried", header: http.Header{"Idempotency-Key": {"k"}}, tries: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if n.Add(1) == 1 {
					hijackAndWrite(t, w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
					return
				}
				io.WriteString(w, "whole")
			})
			tr := &backoff.Transport{Base: c, BufferBody: 1 << 20, Options: []backoff.Option{noWait}}
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("hi"))
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := tr.RoundTrip(req)
			assert.Equal(t, tc.tries, n.Load())
			if tc.tries == 1 {
				assert.Nil(t, resp)
				require.ErrorIs(t, err, backoff.ErrPermanent, "the server acted on it")
				assert.True(t, errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "connection reset"), "%v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "whole", readBody(t, resp))
		})
	}

	t.Run("exactly the limit is read whole", func(t *testing.T) {
		srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, bodyOf(100)) })
		tr := &backoff.Transport{Base: c, BufferBody: 100}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.EqualValues(t, 1, c.closed.Load(), "read whole and released before RoundTrip returns")
		assert.Equal(t, bodyOf(100), readBody(t, resp))
		_, err = resp.Body.Read(make([]byte, 1))
		assert.Error(t, err, "read after close")
	})

	for _, tc := range []struct {
		name   string
		length bool  // send a Content-Length
		read   int64 // by Transport before it returns
	}{
		{name: "longer than the limit, chunked, streams with the bytes read put back", read: 101},
		{name: "longer than the limit by Content-Length is not read", length: true, read: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := bodyOf(10000)
			srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.length {
					w.Header().Set("Content-Length", "10000")
				}
				w.WriteHeader(200)
				for i := 0; i < len(body); i += 50 {
					io.WriteString(w, body[i:i+50])
					http.NewResponseController(w).Flush()
				}
			})
			tr := &backoff.Transport{Base: c, BufferBody: 100}
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, tc.read, c.bytesRead(0))
			assert.Zero(t, c.closed.Load())
			assert.Equal(t, body, readBody(t, resp))
			assert.EqualValues(t, 1, c.closed.Load())
		})
	}

	t.Run("negative is an error that names it", func(t *testing.T) {
		c := &counting{base: roundTripFunc(func(*http.Request) (*http.Response, error) { panic("no attempt") })}
		body := &closeCounter{ReadCloser: io.NopCloser(strings.NewReader("x"))}
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
		resp, err := (&backoff.Transport{Base: c, BufferBody: -1}).RoundTrip(req)
		assert.Nil(t, resp)
		require.EqualError(t, err, "backoff: Transport.BufferBody is negative: -1")
		assert.EqualValues(t, 1, body.closed.Load())
		assert.Zero(t, c.trips.Load())
	})
}

func TestTransportBufferBodySparesStreams(t *testing.T) {
	// An event stream is handed on at its headers, never buffered.
	for _, ct := range []string{"text/event-stream", "Text/Event-Stream; charset=utf-8"} {
		t.Run(ct, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", ct)
					io.WriteString(w, "data: one\n\n")
					http.NewResponseController(w).Flush()
					time.Sleep(5 * time.Second)
					io.WriteString(w, "data: two\n\n")
				})
				defer stop()
				tr := &backoff.Transport{Base: c, BufferBody: 1 << 20}
				req, _ := http.NewRequest(http.MethodGet, "http://glm.test/", nil)
				start := time.Now()
				resp, err := tr.RoundTrip(req)
				require.NoError(t, err)
				assert.Zero(t, time.Since(start))
				assert.Equal(t, "data: one\n\ndata: two\n\n", readBody(t, resp))
				assert.Equal(t, 5*time.Second, time.Since(start))
			})
		})
	}
}

func TestTransportBufferBodyUnderAttemptTimeout(t *testing.T) {
	// Buffering is part of the attempt: a body that stalls times it out, and
	// the attempt is retried.
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				io.WriteString(w, "partial")
				http.NewResponseController(w).Flush()
				<-r.Context().Done()
				return
			}
			io.WriteString(w, "whole")
		})
		defer stop()
		tr := &backoff.Transport{Base: c, BufferBody: 1 << 20,
			Options: []backoff.Option{noWait, backoff.WithAttemptTimeout(time.Second)}}
		req, _ := http.NewRequest(http.MethodGet, "http://glm.test/", nil)
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, "whole", readBody(t, resp))
		assert.EqualValues(t, 2, n.Load())
		assert.Error(t, c.sent[1].Context().Err(), "a body read whole ends its attempt")
	})
}

func TestPeekedBodyReadsInPieces(t *testing.T) {
	body := bodyOf(5000)
	tr := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 400, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}, nil
	})}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	var got bytes.Buffer
	p := make([]byte, 7)
	for {
		n, err := resp.Body.Read(p)
		got.Write(p[:n])
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	assert.Equal(t, body, got.String())
}
