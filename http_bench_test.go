package backoff_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
)

var sinkResp *http.Response

// benchGet sends GET requests through rt to a local server and reads each
// body, as a client would; the server's cost is the same on both sides.
func benchGet(b *testing.B, rt func(base *http.Transport) http.RoundTripper) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: rt(base)}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func BenchmarkHTTPGet(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		benchGet(b, func(base *http.Transport) http.RoundTripper { return base })
	})
	b.Run("backoff", func(b *testing.B) {
		benchGet(b, func(base *http.Transport) http.RoundTripper {
			return &backoff.Transport{Base: base}
		})
	})
	b.Run("backoff-attempt-timeout", func(b *testing.B) {
		benchGet(b, func(base *http.Transport) http.RoundTripper {
			return &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithAttemptTimeout(time.Minute)}}
		})
	})
}
