// Package otel turns what [backoff.Retry] and [backoff.Transport] do into
// OpenTelemetry metrics and spans: [Trace] returns a [backoff.Trace] to give
// them with [backoff.WithTrace] or [backoff.ContextWithTrace].
//
// It is a module of its own, so that only the users of OpenTelemetry depend
// on it.
package otel

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/backoff-go/backoff"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/backoff-go/backoff/otel"

// An Option configures [Trace].
type Option func(*config)

type config struct {
	mp       metric.MeterProvider
	tp       trace.TracerProvider
	limiters []namedLimiter
}

type namedLimiter struct {
	name string
	l    *backoff.Limiter
}

// WithMeterProvider sets the meter provider; nil, or no option, means the
// global one (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithTracerProvider sets the tracer provider; nil, or no option, means the
// global one (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithLimiter reports l's learned concurrency and rate as the gauges
// MetricLimiterConcurrency and MetricLimiterRate, with the attribute
// LimiterName set to name; the Trace alone cannot see them, as they change
// between calls. Give it once per Limiter. A nil l is skipped.
func WithLimiter(name string, l *backoff.Limiter) Option {
	return func(c *config) {
		if l != nil {
			c.limiters = append(c.limiters, namedLimiter{name, l})
		}
	}
}

// Metric names. There is no semantic convention for retries yet, so they
// follow gRPC's retry stats (gRFC A66 and A96) in OpenTelemetry's naming
// style, under a backoff. prefix.
const (
	// A counter of attempts started, with AttemptType "original" for a
	// call's first attempt and "retry" for the others (A96's
	// grpc.client.attempt.started).
	MetricAttemptStarted = "backoff.client.attempt.started"
	// A histogram of attempt durations in seconds, with Outcome and, for a
	// failure, error.type (A66's grpc.client.attempt.duration).
	MetricAttemptDuration = "backoff.client.attempt.duration"
	// A counter of calls (Retry, Do or RoundTrip) ended, with Outcome and,
	// for a failure, Reason.
	MetricCalls = "backoff.client.calls"
	// A histogram of the retries each call made: its attempts less the first.
	MetricCallRetries = "backoff.client.call.retries"
	// A histogram of each wait before a retry, in seconds. A96's
	// grpc.client.call.retry_delay sums a call's waits; a Trace sees the
	// waits one by one, so this records each.
	MetricRetryDelay = "backoff.client.retry.delay"
	// A counter of retries and attempts refused, with Reason circuit_open,
	// budget or limiter.
	MetricRefusals = "backoff.client.refusals"
	// A counter of a breaker's changes of state, with BreakerFrom and
	// BreakerTo.
	MetricBreakerStateChanges = "backoff.breaker.state_changes"
	// A counter of the changes of a shared object (the redis module's
	// Limiter, Breaker and Budget, given this Trace) between shared and
	// alone, with SharedKey and Shared (false: it went on alone).
	MetricSharedChanges = "backoff.shared.changes"
	// A gauge of the concurrency a Limiter has learned (WithLimiter).
	MetricLimiterConcurrency = "backoff.limiter.concurrency"
	// A gauge of the rate a Limiter paces calls at, in requests per second
	// (WithLimiter); no point while the Limiter paces nothing (its Rate is
	// +Inf, which exporters cannot carry).
	MetricLimiterRate = "backoff.limiter.rate"
)

// Attribute keys of the metrics.
const (
	AttemptType = attribute.Key("backoff.attempt_type") // original, retry
	Outcome     = attribute.Key("backoff.outcome")      // success, failure
	Reason      = attribute.Key("backoff.reason")       // backoff.ReasonName, or limiter for a refusal
	BreakerFrom = attribute.Key("backoff.breaker.from") // closed, open, half-open
	BreakerTo   = attribute.Key("backoff.breaker.to")
	LimiterName = attribute.Key("backoff.limiter.name") // WithLimiter's name
	SharedKey   = attribute.Key("backoff.shared.key")   // the shared object's key
	Shared      = attribute.Key("backoff.shared")       // true: shared again; false: alone
)

// Trace returns a [backoff.Trace] that records the metrics named above on
// the meter provider and, for each attempt that [backoff.Transport] sends,
// a client span on the tracer provider:
//   - its parent is the span in the request's context, so that an otelhttp
//     span around the Transport stays the one logical request, with each
//     attempt a child of it;
//   - it is named for the method, and has the HTTP semantic conventions'
//     http.request.method, server.address, server.port, url.full (redacted,
//     without its query), http.response.status_code and error.type, and
//     http.request.resend_count on every resend (1 for the first retry).
//
// Attempts of [backoff.Retry], which have no request, are counted but get
// no span. The spans of one call's attempts are found again by their
// request, so two RoundTrips running at once with the very same
// *http.Request (which net/http never does) would share one.
//
// Build it once per service and share it: it is safe for concurrent use.
// Each call of Trace makes its instruments anew.
func Trace(opts ...Option) *backoff.Trace {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	r := newRecorder(c)
	return &backoff.Trace{
		AttemptStart: r.attemptStart,
		AttemptDone:  r.attemptDone,
		Wait:         r.wait,
		Done:         r.done,
		BreakerState: r.breakerState,
		Refused:      r.refused,
		Shared:       r.sharedChange,
	}
}

// recorder holds the instruments of one Trace.
type recorder struct {
	tracer trace.Tracer

	started  metric.Int64Counter
	duration metric.Float64Histogram
	calls    metric.Int64Counter
	retries  metric.Int64Histogram
	delay    metric.Float64Histogram
	refusals metric.Int64Counter
	changes  metric.Int64Counter
	shared   metric.Int64Counter

	spans sync.Map // *http.Request → trace.Span, from AttemptStart to AttemptDone

	// The options of the common cases, made once: a variadic argument
	// built at each call would be allocated, as the API's methods are
	// called through an interface.
	original, retry []metric.AddOption    // attempt.started
	success         []metric.RecordOption // attempt.duration
	callOK          []metric.AddOption    // calls
	// The options of the other cases, made at their first use: failures by
	// error.type, calls by reason, refusals, breaker changes. Each set is
	// small: statuses, a few names, states.
	failed sync.Map // error.type string → []metric.RecordOption
	added  sync.Map // addKey → []metric.AddOption
}

// addKey names the attributes of a counter's data point.
type addKey struct {
	metric string
	a, b   string
}

// addOpts returns the options of the data point with attributes ka=a and,
// when kb is set, kb=b.
func (r *recorder) addOpts(metricName string, ka attribute.Key, a string, kb attribute.Key, b string) []metric.AddOption {
	k := addKey{metricName, a, b}
	if v, ok := r.added.Load(k); ok {
		return v.([]metric.AddOption)
	}
	kv := []attribute.KeyValue{ka.String(a)}
	if kb != "" {
		kv = append(kv, kb.String(b))
	}
	opts := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
	v, _ := r.added.LoadOrStore(k, opts)
	return v.([]metric.AddOption)
}

// failedOpts returns the options of a failed attempt's duration.
func (r *recorder) failedOpts(errType attribute.KeyValue) []metric.RecordOption {
	k := errType.Value.AsString()
	if v, ok := r.failed.Load(k); ok {
		return v.([]metric.RecordOption)
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(Outcome.String("failure"), errType))}
	v, _ := r.failed.LoadOrStore(k, opts)
	return v.([]metric.RecordOption)
}

func newRecorder(c config) *recorder {
	m := c.mp.Meter(ScopeName)
	r := &recorder{tracer: c.tp.Tracer(ScopeName)}
	// An instrument that cannot be made is a no-op one, which the API
	// returns with the error; the OpenTelemetry way is to report the error
	// and go on, so that telemetry never breaks the program.
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	r.started, err = m.Int64Counter(MetricAttemptStarted, metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts started, the first of each call and its retries."))
	note(err)
	r.duration, err = m.Float64Histogram(MetricAttemptDuration, metric.WithUnit("s"),
		metric.WithDescription("How long each attempt took."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
	note(err)
	r.calls, err = m.Int64Counter(MetricCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Calls ended, with their outcome and why a failed one stopped."))
	note(err)
	r.retries, err = m.Int64Histogram(MetricCallRetries, metric.WithUnit("{retry}"),
		metric.WithDescription("Retries made by each call, its first attempt not counted."),
		metric.WithExplicitBucketBoundaries(0, 1, 2, 3, 4, 5, 10))
	note(err)
	r.delay, err = m.Float64Histogram(MetricRetryDelay, metric.WithUnit("s"),
		metric.WithDescription("Each wait before a retry."),
		metric.WithExplicitBucketBoundaries(0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	note(err)
	r.refusals, err = m.Int64Counter(MetricRefusals, metric.WithUnit("{refusal}"),
		metric.WithDescription("Retries and attempts refused by a breaker, a budget or a limiter."))
	note(err)
	r.changes, err = m.Int64Counter(MetricBreakerStateChanges, metric.WithUnit("{change}"),
		metric.WithDescription("Changes of a circuit breaker's state."))
	note(err)
	r.shared, err = m.Int64Counter(MetricSharedChanges, metric.WithUnit("{change}"),
		metric.WithDescription("Changes of a shared object between sharing its state with the other replicas and going on alone."))
	note(err)
	if len(c.limiters) > 0 {
		note(observeLimiters(m, c.limiters))
	}
	if len(errs) > 0 {
		otel.Handle(errors.Join(errs...))
	}
	success := metric.WithAttributeSet(attribute.NewSet(Outcome.String("success")))
	r.original = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttemptType.String("original")))}
	r.retry = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttemptType.String("retry")))}
	r.success = []metric.RecordOption{success}
	r.callOK = []metric.AddOption{success}
	return r
}

func (r *recorder) attemptStart(a backoff.TraceAttempt) {
	ctx := context.Background()
	if a.Request != nil {
		ctx = a.Request.Context()
	}
	if a.Number <= 1 {
		r.started.Add(ctx, 1, r.original...)
	} else {
		r.started.Add(ctx, 1, r.retry...)
	}
	if a.Request == nil {
		return
	}
	_, span := r.tracer.Start(ctx, spanName(a.Request), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(requestAttrs(a)...))
	r.spans.Store(a.Request, span)
}

func spanName(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return req.Method
}

// requestAttrs are the HTTP semantic conventions' attributes of a client
// span known when the attempt starts.
func requestAttrs(a backoff.TraceAttempt) []attribute.KeyValue {
	req := a.Request
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(spanName(req)))
	if u := req.URL; u != nil {
		host, port := u.Hostname(), u.Port()
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		} else if port == "" {
			switch u.Scheme {
			case "https":
				attrs = append(attrs, semconv.ServerPort(443))
			case "http":
				attrs = append(attrs, semconv.ServerPort(80))
			}
		}
		// The query may hold secrets; the user's credentials are redacted.
		v := *u
		v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = "", false, "", ""
		attrs = append(attrs, semconv.URLFull(v.Redacted()))
	}
	if a.Number > 1 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(a.Number-1))
	}
	return attrs
}

func (r *recorder) attemptDone(a backoff.TraceAttempt, err error, d time.Duration) {
	ctx := context.Background()
	if a.Request != nil {
		ctx = a.Request.Context()
	}
	status := 0
	if a.Response != nil {
		status = a.Response.StatusCode
	} else if se, ok := errors.AsType[*backoff.StatusError](err); ok {
		status = se.Code
	}
	if err == nil {
		r.duration.Record(ctx, d.Seconds(), r.success...)
	} else {
		r.duration.Record(ctx, d.Seconds(), r.failedOpts(errorType(err, status))...)
	}
	if a.Request == nil {
		return
	}
	v, ok := r.spans.LoadAndDelete(a.Request)
	if !ok {
		return
	}
	span := v.(trace.Span)
	if status != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if err != nil {
		span.SetAttributes(errorType(err, status))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// errorType is the semantic conventions' error.type of a failed attempt:
// the status code for a failed status, else a short name of what failed.
func errorType(err error, status int) attribute.KeyValue {
	if status >= http.StatusBadRequest {
		return semconv.ErrorTypeKey.String(strconv.Itoa(status))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return semconv.ErrorTypeKey.String("timeout")
	}
	if errors.Is(err, context.Canceled) {
		return semconv.ErrorTypeKey.String("canceled")
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return semconv.ErrorTypeKey.String("connection")
	}
	return semconv.ErrorTypeOther
}

func (r *recorder) wait(_ backoff.Attempt, d time.Duration) {
	r.delay.Record(context.Background(), d.Seconds())
}

func (r *recorder) done(attempts int, err error) {
	ctx := context.Background()
	r.retries.Record(ctx, int64(max(attempts-1, 0)))
	if err == nil {
		r.calls.Add(ctx, 1, r.callOK...)
		return
	}
	r.calls.Add(ctx, 1, r.addOpts(MetricCalls, Outcome, "failure", Reason, backoff.ReasonName(err))...)
}

func (r *recorder) refused(reason error) {
	name := "limiter"
	switch {
	case errors.Is(reason, backoff.ErrCircuitOpen):
		name = "circuit_open"
	case errors.Is(reason, backoff.ErrBudget):
		name = "budget"
	}
	r.refusals.Add(context.Background(), 1, r.addOpts(MetricRefusals, Reason, name, "", "")...)
}

func (r *recorder) breakerState(_ *backoff.Breaker, from, to backoff.State) {
	r.changes.Add(context.Background(), 1, r.addOpts(MetricBreakerStateChanges, BreakerFrom, from.String(), BreakerTo, to.String())...)
}

func (r *recorder) sharedChange(key string, err error) {
	r.shared.Add(context.Background(), 1, r.addOpts(MetricSharedChanges, SharedKey, key, Shared, strconv.FormatBool(err == nil))...)
}

// observeLimiters registers the gauges of the limiters.
func observeLimiters(m metric.Meter, ls []namedLimiter) error {
	conc, err := m.Int64ObservableGauge(MetricLimiterConcurrency, metric.WithUnit("{request}"),
		metric.WithDescription("The concurrency a limiter has learned: how many calls may run at once."))
	if err != nil {
		return err
	}
	rate, err := m.Float64ObservableGauge(MetricLimiterRate, metric.WithUnit("{request}/s"),
		metric.WithDescription("The rate a limiter paces calls at; no point while it paces nothing."))
	if err != nil {
		return err
	}
	sets := make([]metric.ObserveOption, len(ls))
	for i, l := range ls {
		sets[i] = metric.WithAttributeSet(attribute.NewSet(LimiterName.String(l.name)))
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for i, l := range ls {
			o.ObserveInt64(conc, int64(l.l.Concurrency()), sets[i])
			if r := l.l.Rate(); !math.IsInf(r, 0) {
				o.ObserveFloat64(rate, r, sets[i])
			}
		}
		return nil
	}, conc, rate)
	return err
}
