package backoff_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/backoff-go/backoff"
)

// A client whose requests are retried: the server below is overloaded for
// its first two requests, and asks for a short pause each time.
func ExampleNewClient() {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.Header().Set("Retry-After-Ms", "10")
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"choices":[{"message":{"content":"hello"}}]}`)
	}))
	defer srv.Close()

	client := backoff.NewClient(
		backoff.WithMaxAttempts(4),
		backoff.WithStrategy(backoff.Fixed(time.Millisecond)),
	)
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()

	// A POST is retried on 503: the server says it did not act on it.
	resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"autoglm-phone-9b","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, "after", n.Load(), "requests")
	fmt.Println(string(body))
	// Output:
	// 200 OK after 3 requests
	// {"choices":[{"message":{"content":"hello"}}]}
}

// When retries run out, the last response is returned as it came, so the
// caller can read what the server said.
func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()

	client := &http.Client{Transport: &backoff.Transport{
		Base: base,
		Options: []backoff.Option{
			backoff.WithMaxAttempts(3),
			backoff.WithStrategy(backoff.Fixed(time.Millisecond)),
			backoff.WithNotify(func(a backoff.Attempt, wait time.Duration) {
				fmt.Printf("attempt %d: %v (%s), retrying in %v\n", a.Number, a.Err, a.Class, wait)
			}),
		},
	}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s: %s", resp.Status, body)
	// Output:
	// attempt 1: backoff: HTTP status 502 Bad Gateway (transient), retrying in 1ms
	// attempt 2: backoff: HTTP status 502 Bad Gateway (transient), retrying in 1ms
	// 502 Bad Gateway: upstream down
}
