package backoff_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// These tests run on real loopback sockets with zero waits between attempts;
// the ones that need time to pass are in http_synctest_test.go.

// noWait makes retries immediate, so that wire behaviour is tested without
// waiting.
var noWait = backoff.WithStrategy(backoff.Fixed(0))

// counting wraps a Base to count its round trips and the Close calls on the
// bodies it returns, and to record how much of each body was read.
type counting struct {
	base   http.RoundTripper
	trips  atomic.Int32
	closed atomic.Int32
	mu     sync.Mutex
	read   []int64 // bytes read from each response body, in order
	sent   []*http.Request
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.trips.Add(1)
	c.mu.Lock()
	c.sent = append(c.sent, r)
	c.mu.Unlock()
	resp, err := c.base.RoundTrip(r)
	if resp != nil {
		c.mu.Lock()
		i := len(c.read)
		c.read = append(c.read, 0)
		c.mu.Unlock()
		resp.Body = &countedBody{ReadCloser: resp.Body, c: c, i: i}
	}
	return resp, err
}

func (c *counting) bytesRead(i int) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read[i]
}

type countedBody struct {
	io.ReadCloser
	c *counting
	i int
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.read[b.i] += int64(n)
	b.c.mu.Unlock()
	return n, err
}

func (b *countedBody) Close() error {
	b.c.closed.Add(1)
	return b.ReadCloser.Close()
}

// newServer starts a loopback server and a Base of its own for it, both
// closed when the test ends.
func newServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *counting) {
	t.Helper()
	srv := httptest.NewServer(h)
	base := &http.Transport{}
	t.Cleanup(func() {
		base.CloseIdleConnections()
		srv.Close()
	})
	return srv, &counting{base: base}
}

// statusServer answers the nth request (from 1) with statuses[n-1], or the
// last status once they run out, and the body "attempt n". Each answer
// carries the given headers.
func statusServer(t *testing.T, hdr http.Header, statuses ...int) (*httptest.Server, *counting, *atomic.Int32) {
	var n atomic.Int32
	srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1))
		io.Copy(io.Discard, r.Body)
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(statuses[min(i, len(statuses))-1])
		fmt.Fprintf(w, "attempt %d", i)
	})
	return srv, c, &n
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(b)
}

func TestTransportStatus(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		hdr      http.Header
		opts     []backoff.Option
		status   int // of the response returned
		requests int // seen by the server
	}{
		{name: "200 at once", statuses: []int{200}, status: 200, requests: 1},
		{name: "202 at once", statuses: []int{202, 500}, status: 202, requests: 1},
		{name: "302 is not followed and not retried", statuses: []int{302, 200},
			hdr: http.Header{"Location": {"/elsewhere"}}, status: 302, requests: 1},
		{name: "503 twice then 200", statuses: []int{503, 503, 200}, status: 200, requests: 3},
		{name: "500 502 504 408 then 200", statuses: []int{500, 502, 504, 408, 200},
			opts: []backoff.Option{backoff.WithMaxAttempts(5)}, status: 200, requests: 5},
		{name: "404 is permanent", statuses: []int{404, 200}, status: 404, requests: 1},
		{name: "401 is permanent", statuses: []int{401, 200}, status: 401, requests: 1},
		{name: "500 until exhausted returns the last", statuses: []int{500},
			opts: []backoff.Option{backoff.WithMaxAttempts(3)}, status: 500, requests: 3},
		{name: "default policy makes 4 attempts", statuses: []int{502},
			opts: []backoff.Option{backoff.WithStrategy(backoff.Fixed(0))}, status: 502, requests: 4},
		{name: "429 with junk Retry-After is retried", statuses: []int{429, 200},
			hdr: http.Header{"Retry-After": {"soon"}}, status: 200, requests: 2},
		{name: "503 with too long Retry-After is retried at the strategy's wait", statuses: []int{503, 200},
			hdr: http.Header{"Retry-After": {"999999999999"}}, status: 200, requests: 2},
		{name: "strategy stops at once", statuses: []int{500, 200},
			opts:   []backoff.Option{backoff.WithStrategy(backoff.StrategyFunc(func(backoff.Attempt) (time.Duration, bool) { return 0, false }))},
			status: 500, requests: 1},
		{name: "classifier makes 400 transient", statuses: []int{400, 200},
			opts: []backoff.Option{backoff.WithClassifier(func(err error) backoff.Class {
				var se *backoff.StatusError
				if errors.As(err, &se) && se.Code == 400 {
					return backoff.Transient
				}
				return backoff.Classify(err)
			})}, status: 200, requests: 2},
		{name: "classifier makes 503 permanent", statuses: []int{503, 200},
			opts:   []backoff.Option{backoff.WithClassifier(func(error) backoff.Class { return backoff.Permanent })},
			status: 503, requests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, n := statusServer(t, tc.hdr, tc.statuses...)
			tr := &backoff.Transport{Base: c, Options: append([]backoff.Option{noWait}, tc.opts...)}
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.EqualValues(t, tc.requests, n.Load())
			assert.EqualValues(t, tc.requests, c.trips.Load())
			// Every discarded response was closed, and the returned one
			// was not touched: its whole body is there.
			assert.EqualValues(t, tc.requests-1, c.closed.Load(), "discarded bodies closed")
			assert.Equal(t, fmt.Sprintf("attempt %d", tc.requests), readBody(t, resp))
			assert.EqualValues(t, tc.requests, c.closed.Load())
		})
	}
}

func TestTransportNotifyAndClassifierSeeStatusError(t *testing.T) {
	srv, c, _ := statusServer(t, http.Header{"Retry-After": {"0"}}, 503, 500, 200)
	var classified, notified []string
	tr := &backoff.Transport{Base: c, Options: []backoff.Option{
		noWait,
		backoff.WithClassifier(func(err error) backoff.Class {
			se, ok := err.(*backoff.StatusError) // the bare error, not a wrapper
			require.True(t, ok, "classifier got %T", err)
			classified = append(classified, fmt.Sprint(se.Code))
			return backoff.Classify(err)
		}),
		backoff.WithNotify(func(a backoff.Attempt, wait time.Duration) {
			se, ok := a.Err.(*backoff.StatusError)
			require.True(t, ok, "notify got %T", a.Err)
			notified = append(notified, fmt.Sprintf("%d:%d:%s", a.Number, se.Code, a.Class))
		}),
	}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, "attempt 3", readBody(t, resp))
	assert.Equal(t, []string{"503", "500"}, classified)
	assert.Equal(t, []string{"1:503:temporary", "2:500:transient"}, notified)
}

func TestTransportIdempotency(t *testing.T) {
	const (
		status500 = iota
		status503
		status429
		resetHeaders
		refused
	)
	for _, tc := range []struct {
		name     string
		method   string
		header   string // set to "k1"
		fault    int
		retryAll bool
		attempts int
	}{
		{name: "GET 500", method: "GET", fault: status500, attempts: 3},
		{name: "empty method 500", method: "", fault: status500, attempts: 3},
		{name: "HEAD 500", method: "HEAD", fault: status500, attempts: 3},
		{name: "OPTIONS 500", method: "OPTIONS", fault: status500, attempts: 3},
		{name: "TRACE 500", method: "TRACE", fault: status500, attempts: 3},
		{name: "PUT 500", method: "PUT", fault: status500, attempts: 3},
		{name: "DELETE 500", method: "DELETE", fault: status500, attempts: 3},
		{name: "POST 500", method: "POST", fault: status500, attempts: 1},
		{name: "PATCH 500", method: "PATCH", fault: status500, attempts: 1},
		{name: "lower-case get is not GET", method: "get", fault: status500, attempts: 1},
		{name: "POST 500 RetryNonIdempotent", method: "POST", fault: status500, retryAll: true, attempts: 3},
		{name: "POST 500 Idempotency-Key", method: "POST", header: "Idempotency-Key", fault: status500, attempts: 3},
		{name: "POST 500 X-Idempotency-Key", method: "POST", header: "X-Idempotency-Key", fault: status500, attempts: 3},
		{name: "PATCH 500 other key", method: "PATCH", header: "X-Request-Id", fault: status500, attempts: 1},
		{name: "POST 503", method: "POST", fault: status503, attempts: 3},
		{name: "POST 429", method: "POST", fault: status429, attempts: 3},
		{name: "GET reset mid-headers", method: "GET", fault: resetHeaders, attempts: 3},
		{name: "POST reset mid-headers", method: "POST", fault: resetHeaders, attempts: 1},
		{name: "POST reset mid-headers RetryNonIdempotent", method: "POST", fault: resetHeaders, retryAll: true, attempts: 3},
		{name: "PATCH reset mid-headers with key", method: "PATCH", header: "Idempotency-Key", fault: resetHeaders, attempts: 3},
		{name: "GET refused", method: "GET", fault: refused, attempts: 3},
		{name: "POST refused", method: "POST", fault: refused, attempts: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Int32
			srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				io.Copy(io.Discard, r.Body)
				switch tc.fault {
				case status500:
					w.WriteHeader(500)
				case status503:
					w.WriteHeader(503)
				case status429:
					w.WriteHeader(429)
				case resetHeaders:
					hijackAndWrite(t, w, "HTTP/1.1 200 OK\r\nContent-Le")
				}
			})
			url := srv.URL
			if tc.fault == refused {
				url = "http://" + closedAddr(t)
			}
			req, err := http.NewRequest(tc.method, url, strings.NewReader("payload"))
			require.NoError(t, err)
			if tc.header != "" {
				req.Header.Set(tc.header, "k1")
			}
			tr := &backoff.Transport{Base: c, RetryNonIdempotent: tc.retryAll,
				Options: []backoff.Option{noWait, backoff.WithMaxAttempts(3)}}
			resp, err := tr.RoundTrip(req)
			assert.EqualValues(t, tc.attempts, c.trips.Load(), "attempts")
			switch tc.fault {
			case refused:
				assert.Zero(t, seen.Load())
			default:
				assert.EqualValues(t, tc.attempts, seen.Load(), "requests seen by the server")
			}
			switch tc.fault {
			case status500, status503, status429:
				require.NoError(t, err)
				readBody(t, resp)
				assert.EqualValues(t, tc.attempts, c.closed.Load())
			default:
				require.Error(t, err)
				assert.Nil(t, resp)
				var be *backoff.Error
				require.ErrorAs(t, err, &be)
				assert.Equal(t, tc.attempts, be.Attempts)
				if tc.attempts == 1 {
					assert.ErrorIs(t, err, backoff.ErrPermanent)
				} else {
					assert.ErrorIs(t, err, backoff.ErrExhausted)
				}
				if tc.fault == refused {
					assert.ErrorIs(t, err, syscall.ECONNREFUSED)
					var op *net.OpError
					assert.ErrorAs(t, err, &op)
				}
				assert.True(t, strings.HasPrefix(err.Error(), "backoff: "), err.Error())
			}
		})
	}
}

// hijackAndWrite takes over the connection, writes s and closes it: a
// server that resets in the middle of its answer.
func hijackAndWrite(t *testing.T, w http.ResponseWriter, s string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if !assert.NoError(t, err) {
		return
	}
	buf.WriteString(s)
	buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // a reset, not a clean close
	}
	conn.Close()
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestTransportRefusedError(t *testing.T) {
	_, c := newServer(t, func(http.ResponseWriter, *http.Request) {})
	var notified []string
	tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait, backoff.WithMaxAttempts(2),
		backoff.WithNotify(func(a backoff.Attempt, _ time.Duration) {
			notified = append(notified, a.Class.String())
		})}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+closedAddr(t)+"/v1/chat/completions", strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	require.Error(t, err)
	assert.Nil(t, resp)
	var be *backoff.Error
	require.ErrorAs(t, err, &be)
	assert.Equal(t, 2, be.Attempts)
	assert.ErrorIs(t, be.Reason, backoff.ErrExhausted)
	assert.ErrorIs(t, be.Err, syscall.ECONNREFUSED, "the transport's own error, unwrapped")
	assert.Equal(t, []string{"transient"}, notified)
}

func TestTransportBodyReplayed(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	var n atomic.Int32
	srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n.Add(1) < 3 {
			w.WriteHeader(503)
		}
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, bytes.NewReader([]byte("payload")))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain")
	own := &closeCounter{ReadCloser: req.Body}
	req.Body = own
	var gets atomic.Int32
	getBody := req.GetBody
	req.GetBody = func() (io.ReadCloser, error) {
		gets.Add(1)
		return getBody()
	}
	before := snapshot(req)

	tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait}}
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, "done", readBody(t, resp))
	assert.Equal(t, []string{"payload", "payload", "payload"}, bodies)
	assert.EqualValues(t, 2, gets.Load(), "a body from GetBody for each retry")
	assert.EqualValues(t, 1, own.closed.Load(), "the request's own body is closed")
	assert.EqualValues(t, 7, own.read.Load(), "the request's own body is sent first")
	assert.Equal(t, before, snapshot(req), "the caller's request is not modified")
	require.Len(t, c.sent, 3)
	assert.Same(t, req, c.sent[0], "the first attempt needs no copy")
	for i, sent := range c.sent[1:] {
		assert.NotSame(t, req, sent, "retry %d sent a copy", i+1)
		assert.True(t, sent.Body != io.ReadCloser(own), "retry %d sent a body from GetBody", i+1)
		assert.Same(t, req.Context(), sent.Context())
	}
}

func TestTransportBodyWithoutGetBody(t *testing.T) {
	var seen []string
	srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, string(b))
		w.WriteHeader(503)
		io.WriteString(w, "busy")
	})
	own := &closeCounter{ReadCloser: io.NopCloser(strings.NewReader("once"))}
	req, err := http.NewRequest(http.MethodPut, srv.URL, own)
	require.NoError(t, err)
	require.Nil(t, req.GetBody)
	tr := &backoff.Transport{Base: c, RetryNonIdempotent: true, Options: []backoff.Option{noWait}}
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "busy", readBody(t, resp))
	assert.Equal(t, []string{"once"}, seen, "exactly one attempt, with the body as it is")
	assert.EqualValues(t, 1, own.closed.Load())
}

func TestTransportGetBodyFails(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		failOn   int32 // the GetBody call that fails
		requests int32
	}{
		{name: "first retry", failOn: 1, requests: 1},
		{name: "second retry", failOn: 2, requests: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, n := statusServer(t, nil, 503, 503, 200)
			req, err := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
			require.NoError(t, err)
			own := &closeCounter{ReadCloser: req.Body}
			req.Body = own
			var calls atomic.Int32
			getBody := req.GetBody
			req.GetBody = func() (io.ReadCloser, error) {
				if calls.Add(1) == tc.failOn {
					return nil, errBoom
				}
				return getBody()
			}
			tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait}}
			resp, err := tr.RoundTrip(req)
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.ErrorIs(t, err, errBoom)
			assert.ErrorIs(t, err, backoff.ErrPermanent)
			assert.Contains(t, err.Error(), "GetBody: boom")
			assert.True(t, strings.HasPrefix(err.Error(), "backoff: "), err.Error())
			assert.Equal(t, tc.requests, n.Load())
			assert.Equal(t, tc.failOn, calls.Load())
			assert.EqualValues(t, 1, own.closed.Load())
			assert.Equal(t, c.trips.Load(), c.closed.Load(), "every response closed")
		})
	}
}

func TestTransportBadRequests(t *testing.T) {
	tr := &backoff.Transport{}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		msg  string
	}{
		{name: "nil request", req: func() *http.Request { return nil }, msg: "nil request"},
		{name: "nil URL", req: func() *http.Request {
			return &http.Request{Method: "GET", Header: http.Header{}}
		}, msg: "nil Request.URL"},
		{name: "nil Header", req: func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			r.Header = nil
			return r
		}, msg: "nil Request.Header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tr.RoundTrip(tc.req())
			assert.Nil(t, resp)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "backoff: "), err.Error())
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	t.Run("through a client", func(t *testing.T) {
		_, err := backoff.NewClient().Do(&http.Request{Method: "GET", Header: http.Header{}})
		require.Error(t, err)
	})
}

func TestTransportContextDone(t *testing.T) {
	srv, c, n := statusServer(t, nil, 200)
	ctx, cancel := context.WithCancelCause(context.Background())
	errStop := errors.New("stopped by the test")
	cancel(errStop)
	own := &closeCounter{ReadCloser: io.NopCloser(strings.NewReader("x"))}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, own)
	resp, err := (&backoff.Transport{Base: c}).RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, errStop)
	assert.Zero(t, n.Load())
	assert.EqualValues(t, 1, own.closed.Load(), "RoundTrip closes the body even when it sends nothing")
}

func TestTransportCancelledAfterFailedStatus(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, c, n := statusServer(t, nil, 503, 200)
	tr := &backoff.Transport{Base: c, Options: []backoff.Option{
		backoff.WithStrategy(backoff.Fixed(0)),
		backoff.WithNotify(func(backoff.Attempt, time.Duration) { cancel() }),
	}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 1, n.Load())
	assert.EqualValues(t, 1, c.closed.Load(), "the failed response was discarded")
}

func TestTransportCancelledWithFailedStatus(t *testing.T) {
	// The context ends as the failed response arrives: the request ends
	// with the context's error, and the response is discarded.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, c, n := statusServer(t, nil, 503, 200)
	tr := &backoff.Transport{Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := c.RoundTrip(r)
		cancel()
		return resp, err
	}), Options: []backoff.Option{noWait}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 1, n.Load())
	assert.EqualValues(t, 1, c.closed.Load())
}

func TestTransportResetMidBody(t *testing.T) {
	t.Run("200 is returned, and its broken body is the caller's", func(t *testing.T) {
		var n atomic.Int32
		srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			hijackAndWrite(t, w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		})
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := (&backoff.Transport{Base: c, Options: []backoff.Option{noWait}}).RoundTrip(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		// The reset may come before or after the 10 bytes are read.
		assert.True(t, errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET), "%v", err)
		assert.True(t, strings.HasPrefix("0123456789", string(b)), "%q", b)
		resp.Body.Close()
		assert.EqualValues(t, 1, n.Load(), "never retried after the headers")
	})
	t.Run("500 cut off while discarded", func(t *testing.T) {
		var n atomic.Int32
		srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				hijackAndWrite(t, w, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\n0123456789")
				return
			}
			io.WriteString(w, "fine")
		})
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := (&backoff.Transport{Base: c, Options: []backoff.Option{noWait}}).RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, "fine", readBody(t, resp))
		assert.EqualValues(t, 2, n.Load())
		assert.EqualValues(t, 2, c.closed.Load())
	})
}

func TestTransportDrain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		read  int64 // of the discarded body
		conns int32
	}{
		{name: "short body is drained and the connection reused", size: 1000, read: 1000, conns: 1},
		{name: "4 KiB body is drained and the connection reused", size: 4096, read: 4096, conns: 1},
		{name: "long body is cut at 4 KiB and the connection closed", size: 1 << 20, read: 4096, conns: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			var conns atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Content-Length", fmt.Sprint(tc.size))
					w.WriteHeader(502)
					w.Write(bytes.Repeat([]byte("x"), tc.size))
					return
				}
				io.WriteString(w, "ok")
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			base := &http.Transport{}
			defer srv.Close()
			defer base.CloseIdleConnections()
			c := &counting{base: base}
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			resp, err := (&backoff.Transport{Base: c, Options: []backoff.Option{noWait}}).RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, "ok", readBody(t, resp))
			assert.Equal(t, tc.read, c.bytesRead(0))
			assert.EqualValues(t, 2, c.closed.Load())
			assert.Equal(t, tc.conns, conns.Load())
		})
	}
}

func TestTransportStreamNotRead(t *testing.T) {
	release := make(chan struct{})
	var n atomic.Int32
	srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"stream":true}`))
	tr := &backoff.Transport{Base: c, RetryNonIdempotent: true, Options: []backoff.Option{noWait}}
	resp, err := tr.RoundTrip(req) // returns while the server still holds the stream open
	require.NoError(t, err)
	assert.Zero(t, c.bytesRead(0), "the body is not read by the transport")
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: one\n", line)
	close(release)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "\ndata: two\n\n", string(rest))
	require.NoError(t, resp.Body.Close())
	assert.EqualValues(t, 1, n.Load())
	assert.EqualValues(t, 1, c.closed.Load())
}

func TestTransportConcurrent(t *testing.T) {
	var n atomic.Int32
	srv, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 1 {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, r.URL.Path)
	})
	client := &http.Client{Transport: &backoff.Transport{Base: c, Options: []backoff.Option{noWait, backoff.WithMaxAttempts(0)}}}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 10 {
				path := fmt.Sprintf("/%d/%d", i, j)
				resp, err := client.Get(srv.URL + path)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, 200, resp.StatusCode)
				assert.Equal(t, path, readBody(t, resp))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, c.trips.Load(), c.closed.Load())
	assert.Equal(t, n.Load(), c.trips.Load())
	assert.GreaterOrEqual(t, n.Load(), int32(160))
}

func TestNewClient(t *testing.T) {
	opts := []backoff.Option{backoff.WithMaxAttempts(2), noWait}
	client := backoff.NewClient(opts...)
	tr, ok := client.Transport.(*backoff.Transport)
	require.True(t, ok)
	assert.Nil(t, tr.Base)
	assert.False(t, tr.RetryNonIdempotent)
	require.Len(t, tr.Options, 2)
	opts[0] = backoff.WithMaxAttempts(9)
	assert.Equal(t, backoff.WithMaxAttempts(2), tr.Options[0], "the client keeps its own copy of opts")

	// The client works end to end: a nil Base is http.DefaultTransport.
	srv, _, n := statusServer(t, nil, 500, 200)
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "attempt 2", readBody(t, resp))
	assert.EqualValues(t, 2, n.Load())
}

type idleCloser struct {
	http.RoundTripper
	calls int
}

func (c *idleCloser) CloseIdleConnections() { c.calls++ }

func TestTransportCloseIdleConnections(t *testing.T) {
	base := &idleCloser{}
	client := &http.Client{Transport: &backoff.Transport{Base: base}}
	client.CloseIdleConnections()
	assert.Equal(t, 1, base.calls)
	// A nil Base is the shared http.DefaultTransport: it is left alone,
	// and nothing panics.
	backoff.NewClient().CloseIdleConnections()
	(&backoff.Transport{Base: roundTripFunc(nil)}).CloseIdleConnections()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportBaseMisbehaves(t *testing.T) {
	var calls int
	tr := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls++
		return nil, nil
	}), Options: []backoff.Option{noWait, backoff.WithMaxAttempts(2)}}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "neither a response nor an error")
	assert.Equal(t, 2, calls)
}

// closeCounter counts the Close calls and the bytes read of a request body.
type closeCounter struct {
	io.ReadCloser
	closed atomic.Int32
	read   atomic.Int64
}

func (c *closeCounter) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *closeCounter) Close() error {
	c.closed.Add(1)
	return c.ReadCloser.Close()
}

// snapshot is what a RoundTripper must leave unchanged in a request.
func snapshot(r *http.Request) string {
	return fmt.Sprintf("%s %s %v %p %p %d %v %p", r.Method, r.URL, r.Header, r.Body, r.GetBody, r.ContentLength, r.Trailer, r.Context())
}

// rwBody is the body of a 101 Switching Protocols response: a connection.
type rwBody struct {
	io.Reader
	written strings.Builder
	closed  bool
}

func (b *rwBody) Write(p []byte) (int, error) { return b.written.Write(p) }
func (b *rwBody) Close() error                { b.closed = true; return nil }

func TestTransportSwitchingProtocolsStaysWritable(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []backoff.Option
	}{
		{name: "no attempt timeout"},
		{name: "attempt timeout", opts: []backoff.Option{backoff.WithAttemptTimeout(time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &rwBody{Reader: strings.NewReader("hello")}
			var sent *http.Request
			tr := &backoff.Transport{Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent = r
				return &http.Response{StatusCode: http.StatusSwitchingProtocols, Body: body, Request: r}, nil
			}), Options: tc.opts}
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/ws", nil)
			req.Header.Set("Upgrade", "websocket")
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			rw, ok := resp.Body.(io.ReadWriteCloser)
			require.True(t, ok, "body %T", resp.Body)
			io.WriteString(rw, "ping")
			assert.Equal(t, "ping", body.written.String())
			assert.Equal(t, "hello", readBody(t, resp))
			assert.True(t, body.closed)
			if tc.opts == nil {
				assert.Same(t, req, sent, "nothing to change: the caller's request is sent as it is")
			} else {
				assert.Error(t, sent.Context().Err(), "closing ends the attempt")
			}
		})
	}
}

func TestTransportHTTP2(t *testing.T) {
	var n atomic.Int32
	var bodies []string
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.Proto+" "+string(b))
		mu.Unlock()
		if n.Add(1) < 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(bytes.Repeat([]byte("x"), 10000)) // more than is drained
			return
		}
		io.WriteString(w, "ok")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()
	c := &counting{base: base}

	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("hi"))
	resp, err := (&backoff.Transport{Base: c, Options: []backoff.Option{noWait}}).RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/2.0", resp.Proto)
	assert.Equal(t, "ok", readBody(t, resp))
	assert.Equal(t, []string{"HTTP/2.0 hi", "HTTP/2.0 hi", "HTTP/2.0 hi"}, bodies)
	assert.EqualValues(t, 3, c.closed.Load())
	assert.LessOrEqual(t, c.bytesRead(0), int64(4096))
}
