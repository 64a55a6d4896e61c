package backoff_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// run calls a Retry that fails with err every time, and returns its error,
// the number of attempts and the waits Notify saw, each checked against want
// (the strategy the policy should use).
func run(t *testing.T, policy backoff.Option, err error, want backoff.Strategy) (*backoff.Error, int, []time.Duration) {
	t.Helper()
	n := 0
	var waits []time.Duration
	start := time.Now()
	_, rerr := backoff.Retry(t.Context(), func(context.Context) (int, error) {
		n++
		return 0, err
	}, policy, backoff.WithNotify(func(a backoff.Attempt, wait time.Duration) {
		d, ok := want.Delay(a)
		assert.True(t, ok)
		assert.Equal(t, d, wait, "attempt %d", a.Number)
		waits = append(waits, wait)
	}))
	var sum time.Duration
	for _, w := range waits {
		sum += w
	}
	assert.Equal(t, sum, time.Since(start), "Retry waited what it said, no more")
	var e *backoff.Error
	require.ErrorAs(t, rerr, &e)
	return e, n, waits
}

func TestDevelopment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, n, waits := run(t, backoff.Development(), errDown, backoff.Exponential{Initial: 100 * time.Millisecond})
		assert.Equal(t, 3, n)
		assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, waits)
		assert.Equal(t, backoff.ErrExhausted, e.Reason)

		// No breaker and no budget, even after a preset that has them.
		policy := backoff.Options(backoff.Production(), backoff.Development())
		for range 20 {
			e, n, _ := run(t, policy, errDown, backoff.Exponential{Initial: 100 * time.Millisecond})
			require.Equal(t, backoff.ErrExhausted, e.Reason)
			require.Equal(t, 3, n)
		}
	})
}

var productionStrategy = backoff.Classified{Transient: backoff.FullJitter(backoff.Exponential{Initial: 200 * time.Millisecond, Max: 30 * time.Second})}

func TestProductionStrategy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, n, waits := run(t, backoff.Production(), errDown, productionStrategy)
		assert.Equal(t, 4, n)
		assert.Len(t, waits, 3)
		assert.Equal(t, backoff.ErrExhausted, e.Reason)

		// A rate limit gets the server-paced Temporary wait of Classified
		// (run checks each against productionStrategy): 1s plus up to 20%
		// when the server asked for nothing. It is no failure for the
		// breaker.
		policy := backoff.Production()
		for range 3 {
			_, n, waits = run(t, policy, &backoff.StatusError{Code: 429}, productionStrategy)
			assert.Equal(t, 4, n)
			require.Len(t, waits, 3)
			for _, w := range waits {
				// Server-paced: 1s plus up to 20% when the server asked for nothing.
				assert.GreaterOrEqual(t, w, time.Second)
				assert.Less(t, w, 1200*time.Millisecond)
			}
		}
	})
}

// serviceCalls makes one call per result through policy, each with one
// attempt, and returns how the calls ended: "ok", "fail", or "open" for a
// call the breaker refused.
func serviceCalls(t *testing.T, policy backoff.Option, results ...error) []string {
	t.Helper()
	var got []string
	for _, r := range results {
		err := backoff.Do(t.Context(), func(context.Context) error { return r }, policy, backoff.WithMaxAttempts(1))
		switch {
		case err == nil:
			got = append(got, "ok")
		case errors.Is(err, backoff.ErrCircuitOpen):
			got = append(got, "open")
		default:
			got = append(got, "fail")
		}
	}
	return got
}

// pattern returns n results: a failure where f is 'f', else a success.
func pattern(f string) []error {
	var errs []error
	for _, c := range f {
		if c == 'f' {
			errs = append(errs, errDown)
		} else {
			errs = append(errs, nil)
		}
	}
	return errs
}

func TestServiceBreaker(t *testing.T) {
	for _, preset := range []struct {
		name   string
		policy func() backoff.Option
	}{{"Production", backoff.Production}, {"Edge", backoff.Edge}} {
		t.Run(preset.name, func(t *testing.T) {
			tests := []struct {
				name    string
				results string        // 'f': a failure, 's': a success
				sleep   time.Duration // after the first 10 results
				want    string        // the last result: "ok", "fail" or "open"
			}{
				{"9 failures in a row", "fffffffffs", 0, "ok"},
				{"10 failures in a row open", "ffffffffffs", 0, "open"},
				{"19 calls are below MinCalls", "ffffffffsfffffffffs", 0, "ok"},
				{"half of 20 calls fail", "sfsfsfsfsfsfsfsfsfsfs", 0, "open"},
				{"10 of 21 fail", "sssfsfsfsfsfsfsfsfsffs", 0, "ok"},
				{"11 of 22 fail", "sssfsfsfsfsfsfsfsfsfffs", 0, "open"},
				{"the first 10 left the 10s window", "sfsfsfsfsfsfsfsfsfsfs", 10 * time.Second, "ok"},
				{"the first 10 still in the window", "sfsfsfsfsfsfsfsfsfsfs", 10*time.Second - 1, "open"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						policy := preset.policy()
						errs := pattern(tt.results)
						got := serviceCalls(t, policy, errs[:min(10, len(errs))]...)
						time.Sleep(tt.sleep)
						got = append(got, serviceCalls(t, policy, errs[min(10, len(errs)):]...)...)
						for i, g := range got[:len(got)-1] {
							require.NotEqual(t, "open", g, "call %d", i)
						}
						assert.Equal(t, tt.want, got[len(got)-1])
					})
				})
			}
		})
	}
}

func TestServiceBreakerOpenPeriods(t *testing.T) {
	for _, preset := range []struct {
		name   string
		policy func() backoff.Option
	}{{"Production", backoff.Production}, {"Edge", backoff.Edge}} {
		t.Run(preset.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				policy := preset.policy()
				serviceCalls(t, policy, pattern("ffffffffff")...)
				// Open for 1s, then each failed probe doubles it, up to 30s.
				for _, period := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
					period *= time.Second
					err := backoff.Do(t.Context(), func(context.Context) error { return nil }, policy)
					var oe *backoff.OpenError
					require.ErrorAs(t, err, &oe)
					require.Equal(t, period, oe.RetryAfter)
					time.Sleep(period)
					require.Equal(t, []string{"fail"}, serviceCalls(t, policy, errDown), "the probe")
				}
				// A probe that succeeds closes it; the next Open lasts 1s.
				time.Sleep(30 * time.Second)
				require.Equal(t, []string{"ok"}, serviceCalls(t, policy, nil))
				serviceCalls(t, policy, pattern("ffffffffff")...)
				err := backoff.Do(t.Context(), func(context.Context) error { return nil }, policy)
				var oe *backoff.OpenError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, time.Second, oe.RetryAfter)
			})
		})
	}
}

func TestServiceBreakerIgnoresServerWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 429s, and 503s with a Retry-After, in any number: the service is
		// up and said when to come back.
		policy := backoff.Production()
		var errs []error
		for range 30 {
			errs = append(errs, &backoff.StatusError{Code: 429}, &backoff.StatusError{Code: 503, RetryAfter: time.Second})
		}
		for i, g := range serviceCalls(t, policy, errs...) {
			require.Equal(t, "fail", g, "call %d", i)
		}
		// A plain 503 and a 500 are failures.
		errs = nil
		for range 5 {
			errs = append(errs, &backoff.StatusError{Code: 503}, &backoff.StatusError{Code: 500})
		}
		got := serviceCalls(t, policy, append(errs, nil)...)
		assert.Equal(t, "open", got[len(got)-1])
	})
}

func TestProductionSharesBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		policy := backoff.Production()
		for range 2 {
			e, n, _ := run(t, policy, errDown, productionStrategy)
			assert.Equal(t, backoff.ErrExhausted, e.Reason)
			assert.Equal(t, 4, n)
		}
		// The tenth failure in a row, in the third call, opens the
		// service breaker.
		e, n, _ := run(t, policy, errDown, productionStrategy)
		assert.ErrorIs(t, e, backoff.ErrCircuitOpen)
		assert.Equal(t, 2, n)
		assert.Equal(t, 2, e.Attempts)

		// Another call of Production has a breaker of its own.
		e, n, _ = run(t, backoff.Production(), errDown, productionStrategy)
		assert.Equal(t, backoff.ErrExhausted, e.Reason)
		assert.Equal(t, 4, n)
	})
}

func TestProductionSharesBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Budget{Ratio: 0.2, Burst: 10}: tokens 10, 7.2, 4.4, 1.6, 0.8
		// and 1.0 at the start of each call, after its deposit. A ratio
		// of 0.1 would refuse the sixth call's retry.
		policy := backoff.Options(backoff.Production(), backoff.WithBreaker(nil))
		for i, want := range []int{4, 4, 4, 2, 1, 2, 1} {
			e, n, _ := run(t, policy, errDown, productionStrategy)
			assert.Equal(t, want, n, "call %d", i)
			if want == 4 {
				assert.Equal(t, backoff.ErrExhausted, e.Reason, "call %d", i)
			} else {
				assert.Equal(t, backoff.ErrBudget, e.Reason, "call %d", i)
			}
		}
	})
}

var edgeStrategy = backoff.FullJitter(backoff.Exponential{Initial: 500 * time.Millisecond, Max: 30 * time.Second})

func TestEdge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		policy := backoff.Edge()
		for range 5 {
			e, n, waits := run(t, policy, errDown, edgeStrategy)
			assert.Equal(t, backoff.ErrExhausted, e.Reason)
			assert.Equal(t, 2, n)
			assert.Len(t, waits, 1)
		}
		// The tenth failure opened the breaker, which refuses the next call.
		e, n, _ := run(t, policy, errDown, edgeStrategy)
		assert.ErrorIs(t, e, backoff.ErrCircuitOpen)
		assert.Equal(t, 0, n)

		// No budget, even after a preset that has one.
		policy = backoff.Options(backoff.Production(), backoff.Edge(), backoff.WithBreaker(nil))
		for range 20 {
			e, n, _ := run(t, policy, errDown, edgeStrategy)
			require.Equal(t, backoff.ErrExhausted, e.Reason)
			require.Equal(t, 2, n)
		}
	})
}

func TestPresetOverridden(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Options after a preset override it.
		e, n, waits := run(t, backoff.Options(backoff.Production(), backoff.WithMaxAttempts(2), backoff.WithStrategy(backoff.Fixed(time.Second))),
			errDown, backoff.Fixed(time.Second))
		assert.Equal(t, backoff.ErrExhausted, e.Reason)
		assert.Equal(t, 2, n)
		assert.Equal(t, []time.Duration{time.Second}, waits)
	})
}
