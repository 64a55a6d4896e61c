package backoff_test

import (
	"context"
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

		// A rate limit gets the server-paced Temporary wait of Classified:
		// 1s plus up to 20% when the server asked for nothing.
		_, n, waits = run(t, backoff.Production(), &backoff.StatusError{Code: 429}, productionStrategy)
		assert.Equal(t, 4, n)
		require.Len(t, waits, 3)
		for _, w := range waits {
			assert.GreaterOrEqual(t, w, time.Second)
			assert.Less(t, w, 1200*time.Millisecond)
		}
	})
}

func TestProductionSharesBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		policy := backoff.Production()
		e, n, _ := run(t, policy, errDown, productionStrategy)
		assert.Equal(t, backoff.ErrExhausted, e.Reason)
		assert.Equal(t, 4, n)
		// The fifth failure in a row, in the second call, opens the
		// default breaker.
		e, n, _ = run(t, policy, errDown, productionStrategy)
		assert.ErrorIs(t, e, backoff.ErrCircuitOpen)
		assert.Equal(t, 1, n)
		assert.Equal(t, 1, e.Attempts)

		// Another call of Production has a breaker of its own.
		e, n, _ = run(t, backoff.Production(), errDown, productionStrategy)
		assert.Equal(t, backoff.ErrExhausted, e.Reason)
		assert.Equal(t, 4, n)
	})
}

func TestProductionSharesBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The default budget: 10 tokens, 0.1 per first attempt.
		policy := backoff.Options(backoff.Production(), backoff.WithBreaker(nil))
		for i, want := range []int{4, 4, 4, 2} { // tokens 10, 7.1, 4.2, 1.3 at the start
			e, n, _ := run(t, policy, errDown, productionStrategy)
			assert.Equal(t, want, n, "call %d", i)
			if i < 3 {
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
		for range 2 {
			e, n, waits := run(t, policy, errDown, edgeStrategy)
			assert.Equal(t, backoff.ErrExhausted, e.Reason)
			assert.Equal(t, 2, n)
			assert.Len(t, waits, 1)
		}
		// The fifth failure opens the breaker, which refuses the retry.
		e, n, _ := run(t, policy, errDown, edgeStrategy)
		assert.ErrorIs(t, e, backoff.ErrCircuitOpen)
		assert.Equal(t, 1, n)

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
