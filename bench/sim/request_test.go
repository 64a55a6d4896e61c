package sim

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// TestRequestDrivesLikeRetry checks that the outage simulation drives a
// request's attempts exactly as backoff.Retry does: the same scripted
// attempts, run once through Retry inside a synctest bubble (whose fake time
// is the real clock of Retry and of the Breaker) and once through
// request.begin and request.end on the simulated clock, must make their
// attempts at the same instants and end the same way, with the breaker,
// budget and Adaptive carrying their state from one request to the next.
// The strategies here draw nothing from Attempt.Random, which Retry takes
// from its own generator.
func TestRequestDrivesLikeRetry(t *testing.T) {
	const (
		timeout  = 200 * time.Millisecond
		gap      = 50 * time.Millisecond // between one request's end and the next one's start
		requests = 24
	)
	type step struct {
		ok      bool
		latency time.Duration // of a success
	}
	// script gives attempt i of request k: a run of requests that only time
	// out (to open a breaker and drain a budget), and patterns of early
	// and late successes around it.
	script := func(k, i int) step {
		if k >= 6 && k <= 8 {
			return step{}
		}
		switch (k + 2) % 4 {
		case 1:
			if i >= 1 {
				return step{ok: true, latency: 30 * time.Millisecond}
			}
		case 2:
			return step{ok: true, latency: 5 * time.Millisecond}
		case 3:
			if i >= 2 {
				return step{ok: true, latency: 150 * time.Millisecond}
			}
		}
		return step{}
	}
	type attempt struct {
		req, n int
		at     time.Duration
	}
	policies := []struct {
		name   string
		caller func(clock backoff.Clock) Caller
		ends   []string // the ends the scenario must reach, so that it tests them
	}{
		{name: "exponential, budget and breaker", caller: func(clock backoff.Clock) Caller {
			return Caller{
				Strategy:    backoff.Exponential{Initial: 10 * time.Millisecond, Max: time.Second},
				MaxAttempts: 3,
				Budget:      backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.5, Burst: 2}),
				Breaker:     backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 4, OpenFor: 120 * time.Millisecond, Clock: clock}),
			}
		}, ends: []string{"succeeded", "budget refused", "breaker refused"}},
		{name: "linear and a tight budget", caller: func(backoff.Clock) Caller {
			return Caller{
				Strategy:    backoff.Linear{Initial: 5 * time.Millisecond, Step: 7 * time.Millisecond},
				MaxAttempts: 4,
				Budget:      backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.2, Burst: 1}),
			}
		}, ends: []string{"succeeded", "budget refused"}},
		{name: "adaptive", caller: func(backoff.Clock) Caller {
			return Caller{
				Strategy:    backoff.NewAdaptive(backoff.AdaptiveSettings{Min: 10 * time.Millisecond, Initial: 10 * time.Millisecond, Max: time.Second}),
				MaxAttempts: 3,
			}
		}, ends: []string{"succeeded", "gave up"}},
		{name: "production's parts, unjittered", caller: func(clock backoff.Clock) Caller {
			return Caller{
				Strategy:    backoff.Classified{Transient: backoff.Exponential{Initial: 200 * time.Millisecond, Max: 30 * time.Second}},
				MaxAttempts: 4,
				Budget:      backoff.NewBudget(backoff.BudgetSettings{}),
				Breaker:     backoff.NewBreaker(backoff.BreakerSettings{Clock: clock}),
			}
		}, ends: []string{"succeeded", "gave up", "breaker refused"}},
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			var wantAttempts []attempt
			var wantEnds []string
			synctest.Test(t, func(t *testing.T) {
				c := p.caller(nil) // the real clock: the bubble's
				opts := []backoff.Option{
					backoff.WithStrategy(c.Strategy),
					backoff.WithMaxAttempts(c.MaxAttempts),
					backoff.WithAttemptTimeout(timeout),
					backoff.WithBudget(c.Budget),
					backoff.WithBreaker(c.Breaker),
				}
				start := time.Now()
				for k := range requests {
					i := 0
					_, err := backoff.Retry(context.Background(), func(ctx context.Context) (int, error) {
						wantAttempts = append(wantAttempts, attempt{req: k, n: i, at: time.Since(start)})
						s := script(k, i)
						i++
						if s.ok {
							time.Sleep(s.latency)
							return 1, nil
						}
						<-ctx.Done()
						return 0, ctx.Err()
					}, opts...)
					var end string
					switch {
					case err == nil:
						end = "succeeded"
					case errors.Is(err, backoff.ErrCircuitOpen):
						end = "breaker refused"
					case errors.Is(err, backoff.ErrBudget):
						end = "budget refused"
					case errors.Is(err, backoff.ErrExhausted):
						end = "gave up"
					default:
						t.Fatalf("request %d: %v", k, err)
					}
					wantEnds = append(wantEnds, end)
					time.Sleep(gap)
				}
			})

			clock := NewClock(epoch)
			c := p.caller(clock)
			var gotAttempts []attempt
			var gotEnds []string
			var now time.Duration
			for k := range requests {
				r := request{caller: &c, arrived: now}
				i := 0
				for {
					clock.Set(now)
					if !r.begin(now) {
						gotEnds = append(gotEnds, "breaker refused")
						break
					}
					gotAttempts = append(gotAttempts, attempt{req: k, n: i, at: now})
					s := script(k, i)
					i++
					ok := s.ok && s.latency <= timeout
					if ok {
						now += s.latency
					} else {
						now += timeout
					}
					clock.Set(now)
					n := r.end(now, ok, func() float64 { return 0.5 })
					if n == retryNow {
						now += r.prev
						continue
					}
					gotEnds = append(gotEnds, map[next]string{succeeded: "succeeded", gaveUp: "gave up", refusedByBudget: "budget refused", refusedByBreaker: "breaker refused"}[n])
					break
				}
				now += gap
			}

			require.Equal(t, wantEnds, gotEnds)
			for _, e := range p.ends {
				require.Contains(t, gotEnds, e)
			}
			require.Equal(t, wantAttempts, gotAttempts)
			t.Logf("%d attempts; ends %v", len(gotAttempts), gotEnds)
		})
	}
}
