package backoff_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
)

// The cost of a successful request through Transport, next to the bare
// http.Transport it wraps, on a loopback server. The goal: within 5% of the
// bare transport's time, and at most 2 more allocations.

var transports = []struct {
	name string
	wrap func(base *http.Transport) http.RoundTripper
}{
	{"bare", func(base *http.Transport) http.RoundTripper { return base }},
	{"backoff", func(base *http.Transport) http.RoundTripper {
		return &backoff.Transport{Base: base}
	}},
	{"backoff-attempt-timeout", func(base *http.Transport) http.RoundTripper {
		return &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithAttemptTimeout(time.Minute)}}
	}},
}

// benchServer answers every request with a short body, after reading the
// request's.
func benchServer(b *testing.B) (*httptest.Server, *http.Transport) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"ok":true}`)
	}))
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(func() {
		base.CloseIdleConnections()
		srv.Close()
	})
	return srv, base
}

// send does what a client does with a response: read it and close it.
func send(b *testing.B, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func BenchmarkHTTPGet(b *testing.B) {
	for _, tt := range transports {
		b.Run(tt.name, func(b *testing.B) {
			srv, base := benchServer(b)
			rt := tt.wrap(base)
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			b.ReportAllocs()
			for b.Loop() {
				send(b, rt, req)
			}
		})
	}
}

func BenchmarkHTTPPost(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 512)
	for _, tt := range transports {
		b.Run(tt.name, func(b *testing.B) {
			srv, base := benchServer(b)
			rt := tt.wrap(base)
			b.ReportAllocs()
			for b.Loop() {
				// A new request each time, as its body is consumed.
				req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(payload))
				send(b, rt, req)
			}
		})
	}
}

func BenchmarkHTTPGetParallel(b *testing.B) {
	for _, tt := range transports {
		b.Run(tt.name, func(b *testing.B) {
			srv, base := benchServer(b)
			client := &http.Client{Transport: tt.wrap(base)}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(srv.URL)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkTransportOverhead isolates what Transport adds to a successful
// request, with a Base that answers at once from memory: the loopback
// benchmarks above are too noisy on a busy machine to show a difference
// this small.
func BenchmarkTransportOverhead(b *testing.B) {
	resp := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	for _, tt := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", base},
		{"backoff", &backoff.Transport{Base: base}},
		{"backoff-production-like", &backoff.Transport{Base: base, Options: []backoff.Option{
			backoff.WithMaxAttempts(4),
			backoff.WithStrategy(backoff.Classified{}),
			backoff.WithMaxElapsed(time.Minute),
		}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkResp, _ = tt.rt.RoundTrip(req)
			}
		})
	}
}

var sinkResp *http.Response

// BenchmarkTransportFailedBody is the cost of one failed response (a 503 with
// an error body, retried at once) before the success that follows, from
// memory: what reading the first 4 KiB for the classifier adds, by the size
// of the error body. "bare-retry" is the same two answers without a body to
// read, the floor.
func BenchmarkTransportFailedBody(b *testing.B) {
	for _, size := range []int{0, 300, 4096, 16384} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			payload := bytes.Repeat([]byte("e"), size)
			n := 0
			base := roundTripFunc(func(*http.Request) (*http.Response, error) {
				if n++; n%2 == 1 {
					return &http.Response{StatusCode: 503, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(payload))}, nil
				}
				return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
			})
			tr := &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithStrategy(backoff.Fixed(0))}}
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			b.ReportAllocs()
			for b.Loop() {
				sinkResp, _ = tr.RoundTrip(req)
			}
		})
	}
}
