// Command demo sends a load of chat-completion requests through backoff's
// retrying Transport, with the Production preset, to an embedded
// fault-injecting OpenAI-compatible server on 127.0.0.1 (the one the
// openautoglm demo uses), and records what the retries did with
// OpenTelemetry: metrics from otel.Trace, printed at the end by the stdout
// exporter, and one span per attempt sent, each a child of its request's
// span (printed too with -spans). It runs offline in a few seconds.
//
// It lives in the otel module, which holds its OpenTelemetry dependencies;
// run it from there:
//
//	cd otel && go run ./examples/demo
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
	botel "github.com/backoff-go/backoff/otel"
)

func main() {
	requests := flag.Int("requests", 200, "requests to send")
	workers := flag.Int("workers", 8, "concurrent workers")
	seed := flag.Uint64("seed", 1, "seed of the server's fault sequence")
	spans := flag.Bool("spans", false, "also print every span")
	flag.Parse()
	if err := run(os.Stdout, *requests, *workers, *seed, *spans); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, requests, workers int, seed uint64, printSpans bool) error {
	if requests < 1 || workers < 1 {
		return fmt.Errorf("-requests and -workers must be at least 1")
	}
	srv, err := glmserver.Start(glmserver.Config{Seed: seed, Faults: glmserver.Faults{
		RateLimit: 0.06, Unavailable: 0.03, ServerError: 0.03, Reset: 0.02,
		RetryAfter: 200 * time.Millisecond,
	}})
	if err != nil {
		return err
	}
	defer srv.Close()

	// The metrics are exported once, at shutdown: the interval outlasts
	// the run.
	mexp, err := stdoutmetric.New(stdoutmetric.WithWriter(out), stdoutmetric.WithPrettyPrint())
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(time.Hour))))
	var sent atomic.Int64
	topts := []sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(countSpans{&sent})}
	if printSpans {
		texp, err := stdouttrace.New(stdouttrace.WithWriter(out))
		if err != nil {
			return err
		}
		topts = append(topts, sdktrace.WithSyncer(texp))
	}
	tp := sdktrace.NewTracerProvider(topts...)

	breaker := backoff.NewBreaker(backoff.BreakerSettings{FailureRatio: 0.5, MinCalls: 20, Window: 10 * time.Second,
		ConsecutiveFailures: 10, OpenFor: 300 * time.Millisecond, MaxOpenFor: 5 * time.Second})
	// The client learns the server's limits: its concurrency and rate are
	// gauges.
	limiter := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: workers})
	network := &http.Transport{MaxIdleConnsPerHost: workers}
	defer network.CloseIdleConnections()
	client := &http.Client{Transport: &backoff.Transport{
		Base: network,
		Options: []backoff.Option{
			backoff.Production(),
			backoff.WithBreaker(breaker), // Production's, with an OpenFor that a short run can see end
			backoff.WithLimiter(limiter),
			backoff.WithTrace(botel.Trace(botel.WithMeterProvider(mp), botel.WithTracerProvider(tp),
				botel.WithLimiter("glm", limiter))),
		},
		RetryNonIdempotent: true, // a chat completion can be asked again
	}}
	tracer := tp.Tracer("demo")

	var ok, failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(requests); n = next.Add(1) {
				// The request's own span, as otelhttp would make it.
				ctx, span := tracer.Start(context.Background(), "chat "+fmt.Sprint(n))
				if chat(ctx, client, srv.URL, n) == nil {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
				span.End()
			}
		})
	}
	wg.Wait()
	if err := tp.Shutdown(context.Background()); err != nil {
		return err
	}
	fmt.Fprintf(out, "requests: %d ok, %d failed; attempt spans: %d; server: %+v\n\nmetrics:\n",
		ok.Load(), failed.Load(), sent.Load()-int64(requests), srv.Stats())
	return mp.Shutdown(context.Background()) // exports the metrics
}

// chat makes one chat completion.
func chat(ctx context.Context, client *http.Client, base string, n int64) error {
	body, _ := json.Marshal(map[string]any{
		"model":    "autoglm-phone-9b",
		"messages": []map[string]string{{"role": "user", "content": fmt.Sprint("request ", n)}},
	})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+glmserver.Path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// countSpans counts the spans that end.
type countSpans struct{ n *atomic.Int64 }

func (countSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c countSpans) OnEnd(sdktrace.ReadOnlySpan)                   { c.n.Add(1) }
func (countSpans) Shutdown(context.Context) error                  { return nil }
func (countSpans) ForceFlush(context.Context) error                { return nil }
