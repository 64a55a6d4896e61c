package backoff_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
)

// The cost of a Trace: none, one whose functions do nothing, and the same
// without AttemptDone (whose duration costs two reads of the clock per
// attempt). Per attempt added = (noop − none) / attempts.

func noopTrace(timed bool) *backoff.Trace {
	t := &backoff.Trace{
		AttemptStart: func(backoff.TraceAttempt) {},
		Wait:         func(backoff.Attempt, time.Duration) {},
		Done:         func(int, error) {},
		BreakerState: func(*backoff.Breaker, backoff.State, backoff.State) {},
		Refused:      func(error) {},
	}
	if timed {
		t.AttemptDone = func(backoff.TraceAttempt, error, time.Duration) {}
	}
	return t
}

var traceCases = []struct {
	name  string
	trace *backoff.Trace
}{
	{"none", nil},
	{"noop", noopTrace(true)},
	{"noop-untimed", noopTrace(false)},
}

// failing fails its first fails attempts after each reset.
type failing struct{ n, fails int }

func (f *failing) op(context.Context) (int, error) {
	f.n++
	if f.n <= f.fails {
		return 0, errFlaky
	}
	return f.n, nil
}

func BenchmarkTraceRetry(b *testing.B) {
	ctx := context.Background()
	for _, attempts := range []int{1, 3} {
		for _, tc := range traceCases {
			opts := []backoff.Option{backoff.WithStrategy(backoff.Fixed(0)), backoff.WithMaxAttempts(3)}
			if tc.trace != nil {
				opts = append(opts, backoff.WithTrace(tc.trace))
			}
			bundle := backoff.Options(opts...)
			f := &failing{fails: attempts - 1}
			op := f.op
			b.Run(tc.name+"/attempts="+string(rune('0'+attempts)), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					f.n = 0
					_, sinkErr = backoff.Retry(ctx, op, bundle)
				}
			})
		}
	}
}

// BenchmarkTraceTransport is BenchmarkTransportOverhead with traces, and
// with a request that gets two 503s before its 200.
func BenchmarkTraceTransport(b *testing.B) {
	ok := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}
	unavailable := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Body: http.NoBody}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	for _, attempts := range []int{1, 3} {
		for _, tc := range traceCases {
			n := 0
			base := roundTripFunc(func(*http.Request) (*http.Response, error) {
				n++
				if n < attempts {
					return unavailable, nil
				}
				return ok, nil
			})
			opts := []backoff.Option{backoff.WithStrategy(backoff.Fixed(0))}
			if tc.trace != nil {
				opts = append(opts, backoff.WithTrace(tc.trace))
			}
			rt := &backoff.Transport{Base: base, Options: opts}
			b.Run(tc.name+"/attempts="+string(rune('0'+attempts)), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					n = 0
					sinkResp, _ = rt.RoundTrip(req)
				}
			})
		}
	}
}

// serverContext is shaped like the context of a request that net/http's
// server hands a handler: a few values and cancels deep.
func serverContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ctx = context.WithValue(ctx, http.ServerContextKey, (*http.Server)(nil))
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, net.Addr(nil))
	ctx, cancel2 := context.WithCancel(ctx)
	return ctx, func() { cancel2(); cancel() }
}

// BenchmarkContextTraceLookup is the cost of looking for a ContextWithTrace
// trace in a server request's context, which holds none: skipped until a
// ContextWithTrace is made in the process ("never"), made once one has been
// ("after-use"). "in-context" has one, doing nothing.
func BenchmarkContextTraceLookup(b *testing.B) {
	ctx, cancel := serverContext()
	defer cancel()
	b.Cleanup(func() { backoff.SetContextTraces(false) })
	traced := backoff.ContextWithTrace(ctx, noopTrace(true))
	for _, tc := range []struct {
		name  string
		latch bool
		ctx   context.Context
	}{
		{"never", false, ctx},
		{"after-use", true, ctx},
		{"in-context", true, traced},
	} {
		b.Run("Retry/"+tc.name, func(b *testing.B) {
			backoff.SetContextTraces(tc.latch)
			b.ReportAllocs()
			for b.Loop() {
				_, sinkErr = backoff.Retry(tc.ctx, succeed)
			}
		})
		b.Run("Transport/"+tc.name, func(b *testing.B) {
			backoff.SetContextTraces(tc.latch)
			resp := &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(""))}
			rt := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })}
			req, _ := http.NewRequestWithContext(tc.ctx, http.MethodGet, "http://127.0.0.1/", nil)
			b.ReportAllocs()
			for b.Loop() {
				sinkResp, _ = rt.RoundTrip(req)
			}
		})
	}
}
