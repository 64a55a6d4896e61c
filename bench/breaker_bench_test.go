package bench_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/backoff-go/backoff"
)

// The breaker benchmarks put backoff's Breaker (Allow, then Permit.Done)
// beside sony/gobreaker v2's Execute and its two-step Allow (which returns a
// done func), each around an op that succeeds at once, so that only the
// breakers' own cost is measured: the Closed path that every call to a
// healthy service takes. "default" is each library's default trip rule
// (consecutive failures); "ratio" turns on a failure ratio over a 10s window
// of 1s buckets in both. "single" is one goroutine; "parallel" shares one
// breaker among GOMAXPROCS goroutines.

var sinkBreakerInt int

// okOp is called through a variable so that it is not inlined away.
var okOp = func() (int, error) { return 1, nil }

type breakerCase struct {
	name    string
	backoff backoff.BreakerSettings
	gobreak gobreaker.Settings
}

var breakerCases = []breakerCase{
	{name: "default"},
	{
		name:    "ratio",
		backoff: backoff.BreakerSettings{FailureRatio: 0.5, MinCalls: 20, Window: 10 * time.Second},
		gobreak: gobreaker.Settings{
			Interval:     10 * time.Second,
			BucketPeriod: time.Second,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				return c.ConsecutiveFailures >= 5 ||
					c.Requests >= 20 && float64(c.TotalFailures) >= 0.5*float64(c.Requests)
			},
		},
	},
}

func BenchmarkBreaker(b *testing.B) {
	for _, c := range breakerCases {
		b.Run(c.name, func(b *testing.B) {
			b.Run("backoff", func(b *testing.B) {
				br := backoff.NewBreaker(c.backoff)
				step := func() int {
					p, err := br.Allow()
					if err != nil {
						panic(err)
					}
					v, err := okOp()
					p.Done(err)
					return v
				}
				runBoth(b, step)
			})
			b.Run("gobreaker-Execute", func(b *testing.B) {
				cb := gobreaker.NewCircuitBreaker[int](c.gobreak)
				step := func() int {
					v, err := cb.Execute(okOp)
					if err != nil {
						panic(err)
					}
					return v
				}
				runBoth(b, step)
			})
			b.Run("gobreaker-TwoStep", func(b *testing.B) {
				cb := gobreaker.NewTwoStepCircuitBreaker[int](c.gobreak)
				step := func() int {
					done, err := cb.Allow()
					if err != nil {
						panic(err)
					}
					v, err := okOp()
					done(err)
					return v
				}
				runBoth(b, step)
			})
		})
	}
}

// runBoth runs step on one goroutine, then on GOMAXPROCS goroutines at once.
// Each goroutine sums step's results locally, so that no shared write of the
// harness's own slows the parallel runs.
func runBoth(b *testing.B, step func() int) {
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		sum := 0
		for b.Loop() {
			sum += step()
		}
		sinkBreakerInt = sum
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var total atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			sum := 0
			for pb.Next() {
				sum += step()
			}
			total.Add(int64(sum))
		})
		sinkBreakerInt = int(total.Load())
	})
}

// BenchmarkRetryBreakerBudget is Retry's success path with a breaker and a
// budget, against none: the guard should cost a few nanoseconds and no
// allocation.
func BenchmarkRetryBreakerBudget(b *testing.B) {
	ctx := context.Background()
	op := func(context.Context) (int, error) { return okOp() }
	cases := []struct {
		name string
		opts []backoff.Option
	}{
		{"none", nil},
		{"breaker+budget", []backoff.Option{
			backoff.WithBreaker(backoff.NewBreaker(backoff.BreakerSettings{})),
			backoff.WithBudget(backoff.NewBudget(backoff.BudgetSettings{})),
		}},
		{"Production", []backoff.Option{backoff.Production()}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			runBoth(b, func() int {
				v, err := backoff.Retry(ctx, op, c.opts...)
				if err != nil {
					panic(err)
				}
				return v
			})
		})
	}
}
