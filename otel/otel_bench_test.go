package otel_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/backoff-go/backoff"
	botel "github.com/backoff-go/backoff/otel"
)

// dropSpans is a span processor that keeps nothing: the spans are made and
// ended as with any exporter, but the benchmark measures the SDK's and
// otel.Trace's cost, not an exporter's.
type dropSpans struct{}

func (dropSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropSpans) Shutdown(context.Context) error                  { return nil }
func (dropSpans) ForceFlush(context.Context) error                { return nil }

func benchTrace(b *testing.B) *backoff.Trace {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(dropSpans{}))
	b.Cleanup(func() {
		mp.Shutdown(context.Background())
		tp.Shutdown(context.Background())
	})
	return botel.Trace(botel.WithMeterProvider(mp), botel.WithTracerProvider(tp))
}

var (
	sinkResp *http.Response
	sinkErr  error
)

// BenchmarkTransport is the cost of otel.Trace on a real SDK, per call of
// one attempt and of three (two 503s, then a 200), through Transport with
// a Base that answers from memory: "none" is the same without a trace.
func BenchmarkTransport(b *testing.B) {
	ok := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}
	unavailable := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Body: http.NoBody}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080/v1/chat/completions", nil)
	for _, attempts := range []int{1, 3} {
		for _, name := range []string{"none", "otel"} {
			b.Run(name+"/attempts="+string(rune('0'+attempts)), func(b *testing.B) {
				n := 0
				base := roundTripFunc(func(*http.Request) (*http.Response, error) {
					n++
					if n < attempts {
						return unavailable, nil
					}
					return ok, nil
				})
				opts := []backoff.Option{backoff.WithStrategy(backoff.Fixed(0))}
				if name == "otel" {
					opts = append(opts, backoff.WithTrace(benchTrace(b)))
				}
				rt := &backoff.Transport{Base: base, Options: opts}
				b.ReportAllocs()
				for b.Loop() {
					n = 0
					sinkResp, sinkErr = rt.RoundTrip(req)
				}
			})
		}
	}
}

var errFlaky = errors.New("flaky")

// BenchmarkRetry is the same for Retry, whose attempts get no span.
func BenchmarkRetry(b *testing.B) {
	ctx := context.Background()
	for _, attempts := range []int{1, 3} {
		for _, name := range []string{"none", "otel"} {
			b.Run(name+"/attempts="+string(rune('0'+attempts)), func(b *testing.B) {
				opts := []backoff.Option{backoff.WithStrategy(backoff.Fixed(0))}
				if name == "otel" {
					opts = append(opts, backoff.WithTrace(benchTrace(b)))
				}
				bundle := backoff.Options(opts...)
				n := 0
				op := func(context.Context) (int, error) {
					n++
					if n < attempts {
						return 0, errFlaky
					}
					return n, nil
				}
				b.ReportAllocs()
				for b.Loop() {
					n = 0
					_, sinkErr = backoff.Retry(ctx, op, bundle)
				}
			})
		}
	}
}
