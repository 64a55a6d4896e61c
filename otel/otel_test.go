package otel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/backoff-go/backoff"
	botel "github.com/backoff-go/backoff/otel"
)

// sdk is a real OpenTelemetry SDK whose metrics are read on demand and
// whose spans are kept in memory.
type sdk struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newSDK(t *testing.T) *sdk {
	s := &sdk{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() {
		s.mp.Shutdown(context.Background())
		s.tp.Shutdown(context.Background())
	})
	return s
}

func (s *sdk) trace() *backoff.Trace {
	return botel.Trace(botel.WithMeterProvider(s.mp), botel.WithTracerProvider(s.tp))
}

// series returns every data point collected, one line each, sorted:
// name{attributes} and the value, or for a histogram its count and sum.
func (s *sdk) series(t *testing.T) []string {
	var rm metricdata.ResourceMetrics
	require.NoError(t, s.reader.Collect(context.Background(), &rm))
	var out []string
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, botel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s = %d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s = %d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s = %g", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s count=%d sum=%d", m.Name, attrs(p.Attributes), p.Count, p.Sum))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s count=%d sum=%g", m.Name, attrs(p.Attributes), p.Count, p.Sum))
				}
			default:
				t.Fatalf("unexpected data %T for %s", m.Data, m.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func attrs(set attribute.Set) string {
	if set.Len() == 0 {
		return ""
	}
	var kv []string
	for _, a := range set.ToSlice() {
		kv = append(kv, string(a.Key)+"="+a.Value.String())
	}
	return "{" + strings.Join(kv, ",") + "}"
}

// scripted answers with statuses in turn, each after 10ms; a 0 is a
// transport error.
func scripted(statuses ...int) http.RoundTripper {
	n := 0
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		time.Sleep(10 * time.Millisecond)
		code := statuses[n]
		n++
		if code == 0 {
			return nil, errors.New("connection reset by peer")
		}
		h := http.Header{}
		if code == http.StatusServiceUnavailable {
			h.Set("Retry-After", "1")
		}
		return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportSpansAndMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		rt := &backoff.Transport{Base: scripted(503, 0, 500, 200), Options: []backoff.Option{
			backoff.WithStrategy(backoff.Fixed(100 * time.Millisecond)), backoff.WithTrace(s.trace())}}

		// The caller's span, as otelhttp would make around the client.
		ctx, parent := s.tp.Tracer("caller").Start(context.Background(), "POST /v1/chat/completions")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://user:pw@127.0.0.1:8080/v1/models?key=secret", nil)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		parent.End()

		ended := s.spans.Ended()
		require.Len(t, ended, 5)
		var got []string
		for _, sp := range ended[:4] {
			assert.Equal(t, parent.SpanContext().SpanID(), sp.Parent().SpanID(), "a child of the caller's span")
			assert.Equal(t, parent.SpanContext().TraceID(), sp.SpanContext().TraceID())
			var kv []string
			for _, a := range sp.Attributes() {
				kv = append(kv, string(a.Key)+"="+a.Value.String())
			}
			slices.Sort(kv)
			got = append(got, fmt.Sprintf("%s %s %v %s [%s]", sp.Name(), sp.SpanKind(), sp.EndTime().Sub(sp.StartTime()),
				sp.Status().Code, strings.Join(kv, " ")))
			if sp.Status().Code == codes.Error {
				assert.NotEmpty(t, sp.Status().Description)
			}
		}
		const base = "http.request.method=GET server.address=127.0.0.1 server.port=8080 url.full=http://user:xxxxx@127.0.0.1:8080/v1/models"
		assert.Equal(t, fixOrder([]string{
			"GET client 10ms Error [error.type=503 " + base + " http.response.status_code=503]",
			"GET client 10ms Error [error.type=_OTHER " + base + " http.request.resend_count=1]",
			"GET client 10ms Error [error.type=500 " + base + " http.request.resend_count=2 http.response.status_code=500]",
			"GET client 10ms Unset [" + base + " http.request.resend_count=3 http.response.status_code=200]",
		}), got)
		assert.Equal(t, "POST /v1/chat/completions", ended[4].Name())

		assert.Equal(t, []string{
			"backoff.client.attempt.duration{backoff.outcome=failure,error.type=500} count=1 sum=0.01",
			"backoff.client.attempt.duration{backoff.outcome=failure,error.type=503} count=1 sum=0.01",
			"backoff.client.attempt.duration{backoff.outcome=failure,error.type=_OTHER} count=1 sum=0.01",
			"backoff.client.attempt.duration{backoff.outcome=success} count=1 sum=0.01",
			"backoff.client.attempt.started{backoff.attempt_type=original} = 1",
			"backoff.client.attempt.started{backoff.attempt_type=retry} = 3",
			"backoff.client.call.retries count=1 sum=3",
			"backoff.client.calls{backoff.outcome=success} = 1",
			// The 503 asked for 1s, more than the strategy's 100ms.
			"backoff.client.retry.delay count=3 sum=1.2",
		}, s.series(t))
	})
}

// fixOrder sorts each span line's attributes as one list, so that the
// expected lines can be written in reading order.
func fixOrder(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		open := strings.Index(l, "[")
		kv := strings.Fields(strings.Trim(l[open:], "[]"))
		slices.Sort(kv)
		out[i] = l[:open] + "[" + strings.Join(kv, " ") + "]"
	}
	return out
}

func TestRetryMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		tr := s.trace()
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 2, OpenFor: time.Second})
		errBlip := errors.New("blip")
		fail := func(context.Context) error { time.Sleep(10 * time.Millisecond); return errBlip }
		opts := []backoff.Option{backoff.WithStrategy(backoff.Fixed(100 * time.Millisecond)), backoff.WithTrace(tr)}

		// Two failures open the breaker; the next call is refused.
		err := backoff.Do(context.Background(), fail, append(opts, backoff.WithMaxAttempts(2), backoff.WithBreaker(b))...)
		require.ErrorIs(t, err, backoff.ErrExhausted)
		err = backoff.Do(context.Background(), fail, append(opts, backoff.WithBreaker(b))...)
		require.ErrorIs(t, err, backoff.ErrCircuitOpen)
		// After OpenFor a probe succeeds and closes it.
		time.Sleep(time.Second)
		require.NoError(t, backoff.Do(context.Background(), func(context.Context) error { return nil }, append(opts, backoff.WithBreaker(b))...))
		// A budget with no token left refuses the retry.
		budget := backoff.NewBudget(backoff.BudgetSettings{Burst: 1})
		require.True(t, budget.TryWithdraw())
		err = backoff.Do(context.Background(), fail, append(opts, backoff.WithBudget(budget))...)
		require.ErrorIs(t, err, backoff.ErrBudget)
		// A permanent error.
		err = backoff.Do(context.Background(), func(context.Context) error { return backoff.Mark(errBlip, backoff.Permanent) }, opts...)
		require.ErrorIs(t, err, backoff.ErrPermanent)

		assert.Equal(t, []string{
			"backoff.breaker.state_changes{backoff.breaker.from=closed,backoff.breaker.to=open} = 1",
			"backoff.breaker.state_changes{backoff.breaker.from=half-open,backoff.breaker.to=closed} = 1",
			"backoff.breaker.state_changes{backoff.breaker.from=open,backoff.breaker.to=half-open} = 1",
			"backoff.client.attempt.duration{backoff.outcome=failure,error.type=_OTHER} count=4 sum=0.03",
			"backoff.client.attempt.duration{backoff.outcome=success} count=1 sum=0",
			"backoff.client.attempt.started{backoff.attempt_type=original} = 4",
			"backoff.client.attempt.started{backoff.attempt_type=retry} = 1",
			"backoff.client.call.retries count=5 sum=1",
			"backoff.client.calls{backoff.outcome=failure,backoff.reason=budget} = 1",
			"backoff.client.calls{backoff.outcome=failure,backoff.reason=circuit_open} = 1",
			"backoff.client.calls{backoff.outcome=failure,backoff.reason=exhausted} = 1",
			"backoff.client.calls{backoff.outcome=failure,backoff.reason=permanent} = 1",
			"backoff.client.calls{backoff.outcome=success} = 1",
			"backoff.client.refusals{backoff.reason=budget} = 1",
			"backoff.client.refusals{backoff.reason=circuit_open} = 1",
			"backoff.client.retry.delay count=1 sum=0.1",
		}, s.series(t))
		assert.Empty(t, s.spans.Ended(), "Retry's attempts have no request, and no span")
	})
}

func TestTraceDefaults(t *testing.T) {
	// With no option, the global providers (no-ops unless set) are used,
	// and nil options are skipped.
	tr := botel.Trace(nil, botel.WithMeterProvider(nil))
	require.NotNil(t, tr)
	require.NoError(t, backoff.Do(context.Background(), func(context.Context) error { return nil }, backoff.WithTrace(tr)))
}

func TestLimiterGauges(t *testing.T) {
	s := newSDK(t)
	paced := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 8, InitialRate: 20})
	unpaced := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 4})
	botel.Trace(botel.WithMeterProvider(s.mp), botel.WithTracerProvider(s.tp),
		botel.WithLimiter("glm", paced), botel.WithLimiter("other", unpaced), botel.WithLimiter("none", nil))
	assert.Equal(t, []string{
		"backoff.limiter.concurrency{backoff.limiter.name=glm} = 8",
		"backoff.limiter.concurrency{backoff.limiter.name=other} = 4",
		"backoff.limiter.rate{backoff.limiter.name=glm} = 20",
	}, s.series(t))
}

func TestLimiterRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		held, err := l.Acquire(context.Background())
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = backoff.Do(ctx, func(context.Context) error { return nil }, backoff.WithLimiter(l), backoff.WithTrace(s.trace()))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		held.Done(nil, 0)
		assert.Equal(t, []string{
			"backoff.client.call.retries count=1 sum=0",
			"backoff.client.calls{backoff.outcome=failure,backoff.reason=timeout} = 1",
			"backoff.client.refusals{backoff.reason=limiter} = 1",
		}, s.series(t))
	})
}

func TestSharedChanges(t *testing.T) {
	// The redis module's shared objects tell a Trace's Shared when they go
	// on alone and when they share again; the metric counts each change.
	s := newSDK(t)
	tr := s.trace()
	tr.Shared("limiter:glm", errors.New("redis: connection refused"))
	tr.Shared("limiter:glm", nil)
	tr.Shared("breaker:glm", errors.New("redis: i/o timeout"))
	assert.Equal(t, []string{
		"backoff.shared.changes{backoff.shared=false,backoff.shared.key=breaker:glm} = 1",
		"backoff.shared.changes{backoff.shared=false,backoff.shared.key=limiter:glm} = 1",
		"backoff.shared.changes{backoff.shared=true,backoff.shared.key=limiter:glm} = 1",
	}, s.series(t))
}
