package backoff_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// traceLog is a Trace that writes down every call, one line each.
type traceLog struct{ events []string }

func (r *traceLog) add(format string, args ...any) {
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func errText(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func (r *traceLog) trace(name string) *backoff.Trace {
	return &backoff.Trace{
		AttemptStart: func(a backoff.TraceAttempt) {
			r.add("%sstart %d req=%t", name, a.Number, a.Request != nil)
		},
		AttemptDone: func(a backoff.TraceAttempt, err error, d time.Duration) {
			status := 0
			if a.Response != nil {
				status = a.Response.StatusCode
			}
			r.add("%sdone %d %s %v status=%d", name, a.Number, errText(err), d, status)
		},
		Wait: func(a backoff.Attempt, d time.Duration) {
			r.add("%swait %d %s %v", name, a.Number, a.Class, d)
		},
		Done: func(n int, err error) {
			r.add("%send %d %s", name, n, errText(err))
		},
		BreakerState: func(_ *backoff.Breaker, from, to backoff.State) {
			r.add("%sbreaker %v->%v", name, from, to)
		},
		Refused: func(reason error) {
			r.add("%srefused %s", name, reason)
		},
	}
}

// scripted returns an op whose attempts take 10ms each, on the bubble's
// clock, and return errs in turn; nil after them.
func scripted(errs ...error) func(context.Context) (int, error) {
	n := 0
	return func(context.Context) (int, error) {
		time.Sleep(10 * time.Millisecond)
		n++
		if n <= len(errs) {
			return 0, errs[n-1]
		}
		return n, nil
	}
}

var errBlip = errors.New("blip")

func TestTraceRetry(t *testing.T) {
	// Options resolved per call, and a bundle, with which Retry makes the
	// first attempt itself.
	var r traceLog
	tr := r.trace("")
	perCall := []backoff.Option{backoff.WithStrategy(backoff.Fixed(time.Second)), backoff.WithTrace(tr)}
	for name, opts := range map[string][]backoff.Option{"per-call": perCall, "bundle": {backoff.Options(perCall...)}} {
		t.Run(name, func(t *testing.T) { testTraceRetry(t, &r, opts) })
	}
}

func testTraceRetry(t *testing.T, r *traceLog, opts []backoff.Option) {
	synctest.Test(t, func(t *testing.T) {
		r.events = nil
		v, err := backoff.Retry(context.Background(), scripted(errBlip, errBlip), opts...)
		require.NoError(t, err)
		assert.Equal(t, 3, v)
		assert.Equal(t, []string{
			"start 1 req=false",
			"done 1 blip 10ms status=0",
			"wait 1 transient 1s",
			"start 2 req=false",
			"done 2 blip 10ms status=0",
			"wait 2 transient 1s",
			"start 3 req=false",
			"done 3 nil 10ms status=0",
			"end 3 nil",
		}, r.events)
	})
}

func TestTraceGiveUp(t *testing.T) {
	permanent := backoff.Mark(errBlip, backoff.Permanent)
	for _, tc := range []struct {
		name   string
		errs   []error
		opts   []backoff.Option
		ctx    func() (context.Context, context.CancelFunc)
		events []string
	}{{
		name: "exhausted",
		errs: []error{errBlip, errBlip},
		opts: []backoff.Option{backoff.WithMaxAttempts(2)},
		events: []string{
			"start 1 req=false", "done 1 blip 10ms status=0", "wait 1 transient 1s",
			"start 2 req=false", "done 2 blip 10ms status=0",
			"end 2 backoff: retries exhausted after 2 attempts: blip",
		},
	}, {
		name: "permanent",
		errs: []error{permanent},
		events: []string{
			"start 1 req=false", "done 1 blip 10ms status=0",
			"end 1 backoff: permanent error after 1 attempt: blip",
		},
	}, {
		name: "deadline",
		errs: []error{errBlip},
		ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 500*time.Millisecond)
		},
		events: []string{
			"start 1 req=false", "done 1 blip 10ms status=0",
			"end 1 backoff: next wait ends past the deadline after 1 attempt: blip",
		},
	}, {
		name: "budget",
		errs: []error{errBlip, errBlip},
		opts: []backoff.Option{backoff.WithBudget(backoff.NewBudget(backoff.BudgetSettings{Burst: 1, Ratio: 0.5}))},
		// The first retry takes the only token; the second finds 0.5.
		events: []string{
			"start 1 req=false", "done 1 blip 10ms status=0", "wait 1 transient 1s",
			"start 2 req=false", "done 2 blip 10ms status=0",
			"refused backoff: retry budget exhausted",
			"end 2 backoff: retry budget exhausted after 2 attempts: blip",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.ctx != nil {
					ctx, cancel = tc.ctx()
				}
				defer cancel()
				var r traceLog
				opts := append([]backoff.Option{backoff.WithStrategy(backoff.Fixed(time.Second)), backoff.WithTrace(r.trace(""))}, tc.opts...)
				_, err := backoff.Retry(ctx, scripted(tc.errs...), opts...)
				require.Error(t, err)
				assert.Equal(t, tc.events, r.events)
			})
		})
	}
}

func TestTraceCancelledDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		stop := errors.New("shutting down")
		time.AfterFunc(500*time.Millisecond, func() { cancel(stop) })
		var r traceLog
		_, err := backoff.Retry(ctx, scripted(errBlip),
			backoff.WithStrategy(backoff.Fixed(time.Second)), backoff.WithTrace(r.trace("")))
		require.ErrorIs(t, err, stop)
		assert.Equal(t, []string{
			"start 1 req=false", "done 1 blip 10ms status=0", "wait 1 transient 1s",
			"end 1 backoff: shutting down after 1 attempt: blip",
		}, r.events)
		assert.Equal(t, "canceled", backoff.ReasonName(err))
	})
}

func TestTraceBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r traceLog
		var seen []string
		b := backoff.NewBreaker(backoff.BreakerSettings{
			ConsecutiveFailures: 2, OpenFor: time.Second,
			OnStateChange: func(from, to backoff.State) {
				seen = append(seen, fmt.Sprintf("OnStateChange %v->%v", from, to))
			},
		})
		tr := r.trace("")
		// Callbacks run outside the breaker's lock: they may call it.
		tr.BreakerState = func(br *backoff.Breaker, from, to backoff.State) {
			assert.Same(t, b, br)
			r.add("breaker %v->%v state=%v", from, to, br.State())
		}
		opts := []backoff.Option{backoff.WithStrategy(backoff.Fixed(100 * time.Millisecond)),
			backoff.WithMaxAttempts(2), backoff.WithBreaker(b), backoff.WithTrace(tr)}

		_, err := backoff.Retry(context.Background(), scripted(errBlip, errBlip), opts...)
		require.ErrorIs(t, err, backoff.ErrExhausted)
		// The breaker hears of the second failure after AttemptDone.
		assert.Equal(t, []string{
			"start 1 req=false", "done 1 blip 10ms status=0", "wait 1 transient 100ms",
			"start 2 req=false", "done 2 blip 10ms status=0", "breaker closed->open state=open",
			"end 2 backoff: retries exhausted after 2 attempts: blip",
		}, r.events)

		// A change made by another call, without a trace, reaches only
		// OnStateChange.
		time.Sleep(time.Second)
		r.events = nil
		require.NoError(t, backoff.Do(context.Background(), func(context.Context) error { return nil }, backoff.WithBreaker(b)))
		assert.Empty(t, r.events)
		assert.Equal(t, []string{"OnStateChange closed->open", "OnStateChange open->half-open", "OnStateChange half-open->closed"}, seen)
	})
}

func TestTraceBreakerProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r traceLog
		b := backoff.NewBreaker(backoff.BreakerSettings{OpenFor: time.Second})
		b.Trip()
		time.Sleep(time.Second)
		_, err := backoff.Retry(context.Background(), scripted(),
			backoff.WithBreaker(b), backoff.WithTrace(r.trace("")))
		require.NoError(t, err)
		assert.Equal(t, []string{
			"breaker open->half-open", "start 1 req=false", "done 1 nil 10ms status=0",
			"breaker half-open->closed", "end 1 nil",
		}, r.events)
	})
}

func TestTraceRefusedAtOnce(t *testing.T) {
	b := backoff.NewBreaker(backoff.BreakerSettings{OpenFor: time.Hour})
	b.Trip()
	var r traceLog
	err := backoff.Do(context.Background(), func(context.Context) error { return nil },
		backoff.WithBreaker(b), backoff.WithTrace(r.trace("")))
	require.ErrorIs(t, err, backoff.ErrCircuitOpen)
	require.Len(t, r.events, 2)
	assert.True(t, strings.HasPrefix(r.events[0], "refused backoff: circuit open, retry after "), r.events[0])
	assert.True(t, strings.HasPrefix(r.events[1], "end 0 backoff: circuit open, retry after "), r.events[1])
	assert.Equal(t, "circuit_open", backoff.ReasonName(err))
}

func TestContextWithTrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r traceLog
		ctx := backoff.ContextWithTrace(context.Background(), r.trace("old "))
		ctx = backoff.ContextWithTrace(ctx, r.trace("new "))
		assert.Equal(t, ctx, backoff.ContextWithTrace(ctx, nil))
		_, err := backoff.Retry(ctx, scripted(errBlip), backoff.WithStrategy(backoff.Fixed(time.Second)),
			backoff.WithTrace(r.trace("cfg ")))
		require.NoError(t, err)
		assert.Equal(t, []string{
			"cfg start 1 req=false", "new start 1 req=false", "old start 1 req=false",
			"cfg done 1 blip 10ms status=0", "new done 1 blip 10ms status=0", "old done 1 blip 10ms status=0",
			"cfg wait 1 transient 1s", "new wait 1 transient 1s", "old wait 1 transient 1s",
			"cfg start 2 req=false", "new start 2 req=false", "old start 2 req=false",
			"cfg done 2 nil 10ms status=0", "new done 2 nil 10ms status=0", "old done 2 nil 10ms status=0",
			"cfg end 2 nil", "new end 2 nil", "old end 2 nil",
		}, r.events)

		// With no option, and with a bundle that Retry shares between
		// calls, the context's trace alone is told; the bundle is not
		// changed for the next call.
		bundle := backoff.Options(backoff.WithStrategy(backoff.Fixed(time.Second)))
		for _, opts := range [][]backoff.Option{nil, {bundle}} {
			r.events = nil
			_, err = backoff.Retry(ctx, scripted(), opts...)
			require.NoError(t, err)
			assert.Equal(t, []string{"new start 1 req=false", "old start 1 req=false",
				"new done 1 nil 10ms status=0", "old done 1 nil 10ms status=0", "new end 1 nil", "old end 1 nil"}, r.events)
		}
		r.events = nil
		_, err = backoff.Retry(context.Background(), scripted(), bundle)
		require.NoError(t, err)
		assert.Empty(t, r.events)
	})
}

func TestContextWithTraceNilContext(t *testing.T) {
	msg := panicMessage(t, func() {
		//lint:ignore SA1012 the nil context is the point
		backoff.ContextWithTrace(nil, &backoff.Trace{}) //nolint:staticcheck
	})
	assert.True(t, strings.HasPrefix(msg, "backoff: "), msg)
}

func TestTraceNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: time.Hour})
		budget := backoff.NewBudget(backoff.BudgetSettings{})
		for _, tr := range []*backoff.Trace{nil, {}} {
			ctx := backoff.ContextWithTrace(context.Background(), tr)
			_, err := backoff.Retry(ctx, scripted(errBlip), backoff.WithStrategy(backoff.Fixed(time.Second)),
				backoff.WithTrace(tr), backoff.WithBreaker(b), backoff.WithBudget(budget))
			require.ErrorIs(t, err, backoff.ErrCircuitOpen)
			b.Reset()
		}
	})
}

// errPanic is what the panicking callbacks panic with.
var errPanic = errors.New("callback panicked")

func recovered(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

func TestTracePanicAttemptStart(t *testing.T) {
	// A panic in AttemptStart is one in the attempt: the breaker records a
	// failure, and a HalfOpen probe's slot does not stay taken.
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{OpenFor: time.Second})
		b.Trip()
		time.Sleep(time.Second)
		tr := &backoff.Trace{AttemptStart: func(backoff.TraceAttempt) { panic(errPanic) }}
		calls := 0
		r := recovered(func() {
			backoff.Do(context.Background(), func(context.Context) error { calls++; return nil },
				backoff.WithBreaker(b), backoff.WithTrace(tr))
		})
		assert.Equal(t, errPanic, r)
		assert.Equal(t, 0, calls)
		assert.Equal(t, backoff.Open, b.State(), "the probe's panic is a failure")
	})
}

func TestTracePanicBreakerState(t *testing.T) {
	// A panic in BreakerState as the breaker lets a probe through gives the
	// probe's slot back: the next call is admitted at once.
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{OpenFor: time.Second})
		b.Trip()
		time.Sleep(time.Second)
		tr := &backoff.Trace{BreakerState: func(*backoff.Breaker, backoff.State, backoff.State) { panic(errPanic) }}
		r := recovered(func() {
			backoff.Do(context.Background(), func(context.Context) error { return nil },
				backoff.WithBreaker(b), backoff.WithTrace(tr))
		})
		assert.Equal(t, errPanic, r)
		assert.Equal(t, backoff.HalfOpen, b.State())
		p, err := b.Allow()
		require.NoError(t, err, "the panicked probe's slot is free")
		p.Done(nil)
		assert.Equal(t, backoff.Closed, b.State())
	})
}

func TestTracePanicWait(t *testing.T) {
	// A panic in Wait: no retry is made, and the budget gets its token back.
	synctest.Test(t, func(t *testing.T) {
		budget := backoff.NewBudget(backoff.BudgetSettings{Burst: 10, Ratio: 0.5})
		for range 5 {
			require.True(t, budget.TryWithdraw())
		}
		tr := &backoff.Trace{Wait: func(backoff.Attempt, time.Duration) { panic(errPanic) }}
		calls := 0
		r := recovered(func() {
			backoff.Do(context.Background(), func(context.Context) error { calls++; return errBlip },
				backoff.WithBudget(budget), backoff.WithTrace(tr))
		})
		assert.Equal(t, errPanic, r)
		assert.Equal(t, 1, calls)
		assert.Equal(t, 5.5, budget.Tokens(), "the first attempt's deposit, and no retry's withdrawal")
	})
}

func TestTracePanicAttemptDone(t *testing.T) {
	// A panic in AttemptDone is one in the attempt, after it: the breaker
	// records a failure.
	b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1})
	tr := &backoff.Trace{AttemptDone: func(backoff.TraceAttempt, error, time.Duration) { panic(errPanic) }}
	r := recovered(func() {
		backoff.Do(context.Background(), func(context.Context) error { return nil },
			backoff.WithBreaker(b), backoff.WithTrace(tr))
	})
	assert.Equal(t, errPanic, r)
	assert.Equal(t, backoff.Open, b.State())
}

func TestTraceTransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		statuses := []int{503, 500, 200}
		var sent []*http.Request
		base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			time.Sleep(10 * time.Millisecond)
			sent = append(sent, req)
			code := statuses[len(sent)-1]
			return &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("x")), Request: req}, nil
		})
		var r traceLog
		tr := r.trace("")
		var reqs []*http.Request
		start := tr.AttemptStart
		tr.AttemptStart = func(a backoff.TraceAttempt) {
			reqs = append(reqs, a.Request)
			start(a)
		}
		rt := &backoff.Transport{Base: base, Options: []backoff.Option{
			backoff.WithStrategy(backoff.Fixed(time.Second)), backoff.WithTrace(tr)}}
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, []string{
			"start 1 req=true", "done 1 backoff: HTTP status 503 Service Unavailable 10ms status=503", "wait 1 temporary 1s",
			"start 2 req=true", "done 2 backoff: HTTP status 500 Internal Server Error 10ms status=500", "wait 2 transient 1s",
			"start 3 req=true", "done 3 nil 10ms status=200",
			"end 3 nil",
		}, r.events)
		assert.Equal(t, sent, reqs, "the trace sees the requests sent")

		// Retries used up on a failed status: RoundTrip returns the
		// response, and the trace's Done the *Error with the status.
		r.events, sent, statuses = nil, nil, []int{503, 503}
		rt.Options = append(rt.Options, backoff.WithMaxAttempts(2))
		resp, err = rt.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 503, resp.StatusCode)
		assert.Equal(t, "end 2 backoff: retries exhausted after 2 attempts: HTTP status 503 Service Unavailable", r.events[len(r.events)-1])
	})
}

func TestTraceTransportContext(t *testing.T) {
	// A request's context carries a trace, as with httptrace.
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
	})
	var r traceLog
	ctx := backoff.ContextWithTrace(context.Background(), r.trace(""))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil)
	resp, err := (&backoff.Transport{Base: base}).RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, r.events, 3)
	assert.Equal(t, "start 1 req=true", r.events[0])
	assert.True(t, strings.HasPrefix(r.events[1], "done 1 nil "), r.events[1])
	assert.True(t, strings.HasSuffix(r.events[1], " status=200"), r.events[1])
	assert.Equal(t, "end 1 nil", r.events[2])
}

func TestTraceTransportPanic(t *testing.T) {
	// A panic in AttemptDone lets go of what the attempt held: the response
	// it got, which the caller never sees.
	for _, code := range []int{200, 503} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			body := &closeCounter{ReadCloser: io.NopCloser(strings.NewReader("x"))}
			base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: code, Header: http.Header{}, Body: body, Request: req}, nil
			})
			b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1})
			tr := &backoff.Trace{AttemptDone: func(backoff.TraceAttempt, error, time.Duration) { panic(errPanic) }}
			rt := &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithBreaker(b), backoff.WithTrace(tr)}}
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			r := recovered(func() { rt.RoundTrip(req) })
			assert.Equal(t, errPanic, r)
			assert.Equal(t, int32(1), body.closed.Load())
			assert.Equal(t, backoff.Open, b.State())
		})
	}
	t.Run("start", func(t *testing.T) {
		// In AttemptStart, before Base has the request: its body is closed.
		sent := 0
		base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			sent++
			return nil, errBlip
		})
		tr := &backoff.Trace{AttemptStart: func(backoff.TraceAttempt) { panic(errPanic) }}
		rt := &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithTrace(tr)}}
		body := &closeCounter{ReadCloser: io.NopCloser(strings.NewReader("x"))}
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
		r := recovered(func() { rt.RoundTrip(req) })
		assert.Equal(t, errPanic, r)
		assert.Equal(t, 0, sent)
		assert.Equal(t, int32(1), body.closed.Load())
	})
}

func TestSlogTrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey && len(groups) == 0 {
					return slog.Attr{}
				}
				return a
			},
		}))
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 2, OpenFor: time.Second})
		tr := backoff.SlogTrace(l)
		se := &backoff.StatusError{Code: 503}
		_, err := backoff.Retry(context.Background(), scripted(errBlip, se, errBlip),
			backoff.WithStrategy(backoff.Fixed(time.Second)), backoff.WithMaxAttempts(3),
			backoff.WithBreaker(b), backoff.WithTrace(tr))
		require.Error(t, err)
		time.Sleep(time.Second)
		_, err = backoff.Retry(context.Background(), scripted(), backoff.WithBreaker(b), backoff.WithTrace(tr))
		require.NoError(t, err)
		// The second failure opens the breaker; the wait after it ends as
		// the breaker lets a probe through, which fails.
		assert.Equal(t, `level=INFO msg="backoff: retrying" attempt=1 wait=1s class=transient error=blip
level=WARN msg="backoff: breaker state changed" from=closed to=open
level=INFO msg="backoff: retrying" attempt=2 wait=1s class=temporary status=503 error="backoff: HTTP status 503 Service Unavailable"
level=INFO msg="backoff: breaker state changed" from=open to=half-open
level=WARN msg="backoff: breaker state changed" from=half-open to=open
level=WARN msg="backoff: giving up" attempts=3 reason=exhausted error=blip
level=INFO msg="backoff: breaker state changed" from=open to=half-open
level=INFO msg="backoff: breaker state changed" from=half-open to=closed
`, buf.String())
	})
	msg := panicMessage(t, func() { backoff.SlogTrace(nil) })
	assert.True(t, strings.HasPrefix(msg, "backoff: "), msg)
}

// Shared is called by the shared objects of the redis module, not by Retry;
// SlogTrace writes one record per change, and composed traces (nested
// ContextWithTrace) call both, in order.
func TestTraceShared(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	tr := backoff.SlogTrace(l)
	tr.Shared("limiter:glm", errors.New("redis: connection refused"))
	tr.Shared("limiter:glm", nil)
	assert.Equal(t, `level=WARN msg="backoff: shared state lost, going on alone" key=limiter:glm error="redis: connection refused"
level=INFO msg="backoff: shared state back" key=limiter:glm
`, buf.String())

	var seen []string
	first := &backoff.Trace{Shared: func(key string, err error) { seen = append(seen, "first "+key+" "+fmt.Sprint(err)) }}
	second := &backoff.Trace{Shared: func(key string, err error) { seen = append(seen, "second "+key+" "+fmt.Sprint(err)) }}
	backoff.ComposeTraces(first, second).Shared("budget:glm", nil)
	backoff.ComposeTraces(&backoff.Trace{}, second).Shared("budget:glm", errBlip)
	assert.Equal(t, []string{"first budget:glm <nil>", "second budget:glm <nil>", "second budget:glm blip"}, seen)
	assert.Nil(t, backoff.ComposeTraces(&backoff.Trace{}, &backoff.Trace{}).Shared)
}

func TestReasonName(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&backoff.Error{Reason: backoff.ErrExhausted}, "exhausted"},
		{&backoff.Error{Reason: backoff.ErrPermanent}, "permanent"},
		{&backoff.Error{Reason: backoff.ErrDeadline}, "deadline"},
		{&backoff.Error{Reason: &backoff.OpenError{}}, "circuit_open"},
		{backoff.ErrBudget, "budget"},
		{&backoff.Error{Reason: context.DeadlineExceeded}, "timeout"},
		{&backoff.Error{Reason: context.Canceled}, "canceled"},
		{&backoff.Error{Reason: errors.New("shutdown")}, "canceled"},
	} {
		assert.Equal(t, tc.want, backoff.ReasonName(tc.err), "%v", tc.err)
	}
}

func TestTraceLimiterRefused(t *testing.T) {
	// A wait for a limiter's slot that the context ends is a refusal.
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		held, err := l.Acquire(context.Background())
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var r traceLog
		_, err = backoff.Retry(ctx, scripted(), backoff.WithLimiter(l), backoff.WithTrace(r.trace("")))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, []string{
			"refused context deadline exceeded",
			"end 0 backoff: context deadline exceeded before any attempt",
		}, r.events)
		held.Done(nil, 0)

		// With the slot free, the attempts go, each holding it.
		r.events = nil
		_, err = backoff.Retry(context.Background(), scripted(errBlip), backoff.WithLimiter(l),
			backoff.WithStrategy(backoff.Fixed(time.Second)), backoff.WithTrace(r.trace("")))
		require.NoError(t, err)
		assert.Equal(t, []string{
			"start 1 req=false", "done 1 blip 10ms status=0", "wait 1 transient 1s",
			"start 2 req=false", "done 2 nil 10ms status=0", "end 2 nil",
		}, r.events)
	})
}

func TestTracePanicAttemptStartLimiter(t *testing.T) {
	// A panic in AttemptStart gives the limiter's slot back.
	l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
	tr := &backoff.Trace{AttemptStart: func(backoff.TraceAttempt) { panic(errPanic) }}
	r := recovered(func() {
		backoff.Do(context.Background(), func(context.Context) error { return nil },
			backoff.WithLimiter(l), backoff.WithTrace(tr))
	})
	assert.Equal(t, errPanic, r)
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := l.Acquire(ctx)
		require.NoError(t, err, "the slot is free again")
		s.Done(nil, 0)
	})
}

func TestTraceTransportLimiter(t *testing.T) {
	// Through Transport with a trace, a successful attempt still holds its
	// limiter slot until the body is closed.
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("x")), Request: req}, nil
		})
		var r traceLog
		rt := &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithLimiter(l), backoff.WithTrace(r.trace(""))}}
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		acquire := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			s, err := l.Acquire(ctx)
			if err == nil {
				s.Done(nil, 0)
			}
			return err
		}
		require.ErrorIs(t, acquire(), context.DeadlineExceeded, "the open body holds the slot")
		resp.Body.Close()
		require.NoError(t, acquire())
		assert.Equal(t, "end 1 nil", r.events[len(r.events)-1])
	})
}
