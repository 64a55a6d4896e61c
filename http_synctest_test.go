package backoff_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/pipenet"
)

// The tests here need time to pass, so they run in synctest bubbles, with a
// real http.Server and http.Transport talking over in-memory connections
// (net.Pipe), whose blocking synctest understands; loopback sockets are not
// durably blocking, so the fake clock would not move while they wait.

// pipeServer serves h over in-memory connections until the returned stop
// is called; c is a Base that reaches it, for any URL.
func pipeServer(h http.HandlerFunc) (c *counting, stop func()) {
	l := pipenet.Listen("pipe")
	srv := &http.Server{Handler: h}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	base := &http.Transport{DialContext: l.Dial}
	return &counting{base: base}, func() {
		base.CloseIdleConnections()
		srv.Close()
		<-served
	}
}

// stamps records when each request arrived.
type stamps struct {
	mu sync.Mutex
	at []time.Time
}

func (s *stamps) add() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = append(s.at, time.Now())
	return len(s.at)
}

// gaps returns the time between successive requests.
func (s *stamps) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var g []time.Duration
	for i := 1; i < len(s.at); i++ {
		g = append(g, s.at[i].Sub(s.at[i-1]))
	}
	return g
}

func (s *stamps) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at)
}

func TestTransportRetryAfter(t *testing.T) {
	const strategyWait = 100 * time.Millisecond
	date := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	for _, tc := range []struct {
		name   string
		status int
		method string // default POST
		header func() http.Header
		wait   time.Duration
	}{
		{name: "429 seconds", status: 429, header: func() http.Header { return http.Header{"Retry-After": {"2"}} }, wait: 2 * time.Second},
		{name: "503 seconds", status: 503, header: func() http.Header { return http.Header{"Retry-After": {"7"}} }, wait: 7 * time.Second},
		{name: "503 HTTP date", status: 503, header: func() http.Header { return http.Header{"Retry-After": {date(3 * time.Second)}} }, wait: 3 * time.Second},
		{name: "429 RFC 850 date", status: 429, header: func() http.Header {
			return http.Header{"Retry-After": {time.Now().Add(4 * time.Second).UTC().Format(time.RFC850)}}
		}, wait: 4 * time.Second},
		{name: "429 retry-after-ms first", status: 429, header: func() http.Header {
			return http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}
		}, wait: 1500 * time.Millisecond},
		{name: "429 date in the past", status: 429, header: func() http.Header { return http.Header{"Retry-After": {date(-time.Hour)}} }, wait: strategyWait},
		{name: "429 shorter than the strategy", status: 429, header: func() http.Header { return http.Header{"Retry-After-Ms": {"10"}} }, wait: strategyWait},
		{name: "503 junk", status: 503, header: func() http.Header { return http.Header{"Retry-After": {"soon"}} }, wait: strategyWait},
		{name: "503 fraction", status: 503, header: func() http.Header { return http.Header{"Retry-After": {"1.5"}} }, wait: strategyWait},
		{name: "503 negative", status: 503, header: func() http.Header { return http.Header{"Retry-After": {"-3"}} }, wait: strategyWait},
		{name: "503 over a day", status: 503, header: func() http.Header { return http.Header{"Retry-After": {"86401"}} }, wait: strategyWait},
		{name: "500 ignores Retry-After", status: 500, method: "PUT", header: func() http.Header { return http.Header{"Retry-After": {"5"}} }, wait: strategyWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var s stamps
				c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
					if s.add() == 1 {
						for k, v := range tc.header() {
							w.Header()[k] = v
						}
						w.WriteHeader(tc.status)
						return
					}
					io.WriteString(w, "ok")
				})
				defer stop()
				tr := &backoff.Transport{Base: c, Options: []backoff.Option{backoff.WithStrategy(backoff.Fixed(strategyWait))}}
				req, _ := http.NewRequest(cmp.Or(tc.method, http.MethodPost), "http://glm.test/v1/chat/completions", strings.NewReader("{}"))
				resp, err := tr.RoundTrip(req)
				require.NoError(t, err)
				assert.Equal(t, "ok", readBody(t, resp))
				assert.Equal(t, []time.Duration{tc.wait}, s.gaps())
			})
		})
	}
}

func TestTransportRetryAfterPastDeadline(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		requests   int
		elapsed    time.Duration
		status     int
	}{
		{name: "longer than the time left", retryAfter: "10", requests: 1, elapsed: 0, status: 503},
		{name: "exactly the time left", retryAfter: "5", requests: 1, elapsed: 0, status: 503},
		{name: "shorter than the time left", retryAfter: "4", requests: 2, elapsed: 4 * time.Second, status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var s stamps
				c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
					n := s.add()
					if n == 1 {
						w.Header().Set("Retry-After", tc.retryAfter)
						w.WriteHeader(503)
					}
					fmt.Fprintf(w, "attempt %d", n)
				})
				defer stop()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
				start := time.Now()
				resp, err := (&backoff.Transport{Base: c, Options: []backoff.Option{noWait}}).RoundTrip(req)
				require.NoError(t, err)
				assert.Equal(t, tc.elapsed, time.Since(start))
				assert.Equal(t, tc.status, resp.StatusCode)
				assert.Equal(t, fmt.Sprintf("attempt %d", tc.requests), readBody(t, resp))
				assert.Equal(t, tc.requests, s.count())
				assert.EqualValues(t, tc.requests, c.closed.Load())
			})
		})
	}
}

func TestTransportClientTimeout(t *testing.T) {
	// http.Client.Timeout is a deadline on the request's context: a
	// Retry-After past it ends the request at once with the last response.
	synctest.Test(t, func(t *testing.T) {
		var s stamps
		c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
			s.add()
			w.Header().Set("Retry-After", "10")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "come back later")
		})
		defer stop()
		client := &http.Client{Timeout: 5 * time.Second, Transport: &backoff.Transport{Base: c}}
		start := time.Now()
		resp, err := client.Get("http://glm.test/")
		require.NoError(t, err)
		assert.Zero(t, time.Since(start))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "10", resp.Header.Get("Retry-After"))
		assert.Equal(t, "come back later", readBody(t, resp))
		assert.Equal(t, 1, s.count())
	})
}

// hang is a handler that never answers, until the client goes away.
func hang(s *stamps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.add()
		// The server notices that the client went away only once the
		// request body has been read.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}
}

func TestTransportAttemptTimeout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		deadline time.Duration // of the caller's context; 0: none
		opts     []backoff.Option
		requests int
		elapsed  time.Duration
		reason   error
	}{
		{name: "GET retried until exhausted", method: "GET", requests: 3, elapsed: 3 * time.Second, reason: backoff.ErrExhausted},
		{name: "retried even if the classifier says Permanent", method: "GET", requests: 3, elapsed: 3 * time.Second,
			opts:   []backoff.Option{backoff.WithClassifier(func(error) backoff.Class { return backoff.Permanent })},
			reason: backoff.ErrExhausted},
		{name: "POST not retried", method: "POST", requests: 1, elapsed: time.Second, reason: backoff.ErrPermanent},
		{name: "caller's deadline first", method: "GET", deadline: 1500 * time.Millisecond, requests: 2,
			elapsed: 1500 * time.Millisecond, reason: context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var s stamps
				c, stop := pipeServer(hang(&s))
				defer stop()
				ctx := context.Background()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				req, _ := http.NewRequestWithContext(ctx, tc.method, "http://glm.test/", strings.NewReader("{}"))
				tr := &backoff.Transport{Base: c, Options: append([]backoff.Option{
					noWait, backoff.WithMaxAttempts(3), backoff.WithAttemptTimeout(time.Second)}, tc.opts...)}
				start := time.Now()
				resp, err := tr.RoundTrip(req)
				assert.Equal(t, tc.elapsed, time.Since(start))
				assert.Nil(t, resp)
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.reason)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, tc.requests, s.count())
				if tc.deadline == 0 {
					var te interface{ Timeout() bool }
					require.ErrorAs(t, err, &te)
					assert.True(t, te.Timeout())
					assert.Contains(t, err.Error(), "attempt timed out after 1s")
				}
			})
		})
	}
}

func TestTransportAttemptTimeoutSparesBody(t *testing.T) {
	// A failed status has its first 4 KiB read before it is classified, under
	// the attempt timeout; here they come at once, and the rest stalls.
	for _, tc := range []struct {
		name   string
		status int
		first  string
	}{
		{name: "success", status: 200, first: "data: one\n\n"},
		{name: "last failed status", status: 500, first: strings.Repeat("e", 4096) + "data: one\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.first)
					http.NewResponseController(w).Flush()
					time.Sleep(5 * time.Second)
					io.WriteString(w, "data: two\n\n")
				})
				defer stop()
				tr := &backoff.Transport{Base: c, Options: []backoff.Option{
					backoff.WithMaxAttempts(1), backoff.WithAttemptTimeout(time.Second)}}
				req, _ := http.NewRequest(http.MethodGet, "http://glm.test/", nil)
				start := time.Now()
				resp, err := tr.RoundTrip(req)
				require.NoError(t, err)
				assert.Equal(t, tc.status, resp.StatusCode)
				assert.Zero(t, time.Since(start))
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				assert.Equal(t, tc.first+"data: two\n\n", string(b))
				assert.Equal(t, 5*time.Second, time.Since(start))

				attemptCtx := c.sent[0].Context()
				time.Sleep(time.Minute)
				assert.NoError(t, attemptCtx.Err(), "the attempt lives until the body is closed, even after EOF")
				require.NoError(t, resp.Body.Close())
				assert.ErrorIs(t, attemptCtx.Err(), context.Canceled, "closing the body ends the attempt")
				assert.NoError(t, req.Context().Err())
			})
		})
	}
}

func TestTransportDrainStalls(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []backoff.Option
		deadline time.Duration
		elapsed  time.Duration
		ok       bool
	}{
		{name: "bounded by the attempt timeout", opts: []backoff.Option{backoff.WithAttemptTimeout(time.Second)},
			elapsed: time.Second, ok: true},
		{name: "bounded by the request's deadline", deadline: 2 * time.Second, elapsed: 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var s stamps
				c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
					if s.add() == 1 {
						w.Header().Set("Content-Length", "100")
						w.WriteHeader(502)
						io.WriteString(w, "0123456789")
						http.NewResponseController(w).Flush()
						<-r.Context().Done() // and the other 90 bytes never come
						return
					}
					io.WriteString(w, "ok")
				})
				defer stop()
				ctx := context.Background()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
				tr := &backoff.Transport{Base: c, Options: append([]backoff.Option{noWait}, tc.opts...)}
				start := time.Now()
				resp, err := tr.RoundTrip(req)
				assert.Equal(t, tc.elapsed, time.Since(start))
				assert.EqualValues(t, 10, c.bytesRead(0))
				if tc.ok {
					require.NoError(t, err)
					assert.Equal(t, "ok", readBody(t, resp))
					assert.Equal(t, 2, s.count())
				} else {
					assert.Nil(t, resp)
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					assert.Equal(t, 1, s.count())
				}
				assert.Equal(t, c.trips.Load(), c.closed.Load())
			})
		})
	}
}

// manualClock is a fake Clock that moves only when told to.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, manualWaiter{c.now.Add(d), ch})
	return ch
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

func TestTransportAttemptTimeoutFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s stamps
		c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
			if s.add() <= 2 {
				<-r.Context().Done()
				return
			}
			io.WriteString(w, "ok")
		})
		defer stop()
		clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		tr := &backoff.Transport{Base: c, Options: []backoff.Option{
			noWait, backoff.WithClock(clock), backoff.WithAttemptTimeout(time.Second)}}
		req, _ := http.NewRequest(http.MethodGet, "http://glm.test/", nil)
		start := time.Now()
		var (
			resp *http.Response
			err  error
			done atomic.Bool
		)
		go func() {
			resp, err = tr.RoundTrip(req)
			done.Store(true)
		}()
		for i := 1; i <= 2; i++ {
			synctest.Wait()
			require.Equal(t, i, s.count())
			clock.Advance(999 * time.Millisecond)
			synctest.Wait()
			require.Equal(t, i, s.count(), "not timed out before its time")
			clock.Advance(time.Millisecond)
		}
		synctest.Wait()
		require.True(t, done.Load())
		require.NoError(t, err)
		assert.Equal(t, "ok", readBody(t, resp))
		assert.Equal(t, 3, s.count())
		assert.Zero(t, time.Since(start), "the real clock was not used")
		clock.mu.Lock()
		defer clock.mu.Unlock()
		assert.Len(t, clock.waiters, 1, "the third attempt's timer, stopped, was left with the clock")
	})
}

func TestTransportWaitsCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s stamps
		c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
			s.add()
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		})
		defer stop()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
		time.AfterFunc(10*time.Second, cancel)
		start := time.Now()
		resp, err := (&backoff.Transport{Base: c}).RoundTrip(req)
		assert.Equal(t, 10*time.Second, time.Since(start))
		assert.Nil(t, resp)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, s.count())
		assert.EqualValues(t, 1, c.closed.Load())
	})
}
