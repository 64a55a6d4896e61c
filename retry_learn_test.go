package backoff_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

func TestRetryAttemptAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen []backoff.Attempt
		var waits []time.Duration
		op, _ := script(
			backoff.RetryAfter(2*time.Second, errDown),
			&backoff.StatusError{Code: 503, RetryAfter: 3 * time.Second},
			errDown,
		)
		start := time.Now()
		_, err := backoff.Retry(t.Context(), op,
			backoff.WithStrategy(backoff.StrategyFunc(func(a backoff.Attempt) (time.Duration, bool) {
				seen = append(seen, a)
				return time.Second, true
			})),
			backoff.WithNotify(func(_ backoff.Attempt, d time.Duration) { waits = append(waits, d) }))
		require.NoError(t, err)
		require.Len(t, seen, 3)
		assert.Equal(t, []time.Duration{2 * time.Second, 3 * time.Second, 0}, []time.Duration{seen[0].After, seen[1].After, seen[2].After})
		assert.Equal(t, []time.Duration{2 * time.Second, 3 * time.Second, time.Second}, waits, "max(strategy, After)")
		assert.Equal(t, 6*time.Second, time.Since(start))
	})
}

func TestRetryServerPacedTemporary(t *testing.T) {
	// Classified's default Temporary waits what the server asked, plus up to
	// 20%.
	synctest.Test(t, func(t *testing.T) {
		var waits []time.Duration
		op, _ := script(backoff.RetryAfter(300*time.Millisecond, errDown), &backoff.StatusError{Code: 429})
		start := time.Now()
		_, err := backoff.Retry(t.Context(), op, backoff.WithStrategy(backoff.Classified{}),
			backoff.WithNotify(func(_ backoff.Attempt, d time.Duration) { waits = append(waits, d) }))
		require.NoError(t, err)
		require.Len(t, waits, 2)
		assert.GreaterOrEqual(t, waits[0], 300*time.Millisecond)
		assert.Less(t, waits[0], 360*time.Millisecond)
		assert.GreaterOrEqual(t, waits[1], time.Second)
		assert.Less(t, waits[1], 1200*time.Millisecond)
		assert.Equal(t, waits[0]+waits[1], time.Since(start), "Retry waits what the strategy said")
	})
}

func TestRetryStopsBeforeAWaitTheBreakerRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: time.Minute})
		budget := backoff.NewBudget(backoff.BudgetSettings{})
		notified := 0
		n := 0
		start := time.Now()
		_, err := backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBreaker(b), backoff.WithBudget(budget),
			backoff.WithStrategy(backoff.Fixed(10*time.Second)),
			backoff.WithNotify(func(backoff.Attempt, time.Duration) { notified++ }))
		e := requireRetryError(t, err, 1, errDown, backoff.ErrCircuitOpen)
		assert.Equal(t, &backoff.OpenError{RetryAfter: time.Minute}, e.Reason)
		assert.Equal(t, 1, n)
		assert.Zero(t, notified, "no notify")
		assert.Zero(t, time.Since(start), "no time spent")
		assert.Equal(t, 10.0, budget.Tokens(), "no token withdrawn")
	})
}

func TestRetryWaitsWhenTheBreakerWouldAdmitAProbe(t *testing.T) {
	// A wait that ends when (or after) the breaker would admit a probe goes
	// ahead, and the probe runs.
	for _, wait := range []time.Duration{5 * time.Second, 7 * time.Second} {
		t.Run(wait.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: 5 * time.Second})
				op, calls := script(errDown)
				start := time.Now()
				v, err := backoff.Retry(t.Context(), op, backoff.WithBreaker(b), backoff.WithStrategy(backoff.Fixed(wait)))
				require.NoError(t, err)
				assert.Equal(t, 2, v)
				assert.Equal(t, 2, *calls)
				assert.Equal(t, wait, time.Since(start))
			})
		})
	}
}

func TestTransportReturnsTheFailureTheBreakerWouldRefuseToRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s stamps
		c, stop := pipeServer(func(w http.ResponseWriter, r *http.Request) {
			s.add()
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "upstream down")
		})
		defer stop()
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: time.Minute})
		tr := &backoff.Transport{Base: c, Options: []backoff.Option{backoff.WithBreaker(b),
			backoff.WithStrategy(backoff.Fixed(2 * time.Second))}}
		req, _ := http.NewRequest(http.MethodGet, "http://glm.test/", nil)
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Zero(t, time.Since(start))
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
		assert.Equal(t, "upstream down", readBody(t, resp))
		assert.Equal(t, 1, s.count())
		assert.Equal(t, backoff.Open, b.State())
	})
}

// An attempt whose caller's context ended while it ran is neutral for the
// breaker and not told to an Observer, whatever the context's cause.
func TestRetryCancelledAttemptTeachesNothing(t *testing.T) {
	mine := errors.New("the user closed the tab")
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, opts ...backoff.Option) error
	}{
		{name: "cancelled with a cause", run: func(t *testing.T, opts ...backoff.Option) error {
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			_, err := backoff.Retry(ctx, func(ctx context.Context) (int, error) {
				time.Sleep(time.Second)
				cancel(mine)
				return 0, context.Cause(ctx)
			}, opts...)
			assert.ErrorIs(t, err, mine)
			return err
		}},
		{name: "past its deadline", run: func(t *testing.T, opts ...backoff.Option) error {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := backoff.Retry(ctx, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, ctx.Err()
			}, opts...)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			return err
		}},
		{name: "through Transport, cancelled with a cause", run: func(t *testing.T, opts ...backoff.Option) error {
			var s stamps
			c, stop := pipeServer(hang(&s))
			defer stop()
			ctx, cancel := context.WithCancelCause(t.Context())
			time.AfterFunc(time.Second, func() { cancel(mine) })
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
			_, err := (&backoff.Transport{Base: c, Options: opts}).RoundTrip(req)
			assert.ErrorIs(t, err, mine)
			return err
		}},
		{name: "through Transport, past its deadline", run: func(t *testing.T, opts ...backoff.Option) error {
			var s stamps
			c, stop := pipeServer(hang(&s))
			defer stop()
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
			_, err := (&backoff.Transport{Base: c, Options: opts}).RoundTrip(req)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1})
				tc.run(t, backoff.WithBreaker(b))
				assert.Equal(t, backoff.Closed, b.State(), "neutral for the breaker")
				// The breaker still counts a real failure.
				_, err := backoff.Retry(t.Context(), func(context.Context) (int, error) { return 0, errDown },
					backoff.WithBreaker(b), backoff.WithMaxAttempts(1))
				require.ErrorIs(t, err, backoff.ErrExhausted)
				assert.Equal(t, backoff.Open, b.State())

				ad := backoff.NewAdaptive(backoff.AdaptiveSettings{})
				tc.run(t, backoff.WithStrategy(ad))
				assert.Equal(t, 100*time.Millisecond, ad.Base(), "not told to an Observer")
				assert.Zero(t, ad.ErrorRate())
			})
		})
	}
}

// A success that returns after the caller's context ended teaches nothing
// either: it would otherwise close a HalfOpen breaker on a probe whose
// caller had already gone, and halve Adaptive's base on a fast answer that
// nobody waited for.
func TestRetrySuccessAfterCancelTeachesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{OpenFor: time.Second})
		b.Trip()
		time.Sleep(time.Second)
		require.Equal(t, backoff.HalfOpen, b.State())
		ad := backoff.NewAdaptive(backoff.AdaptiveSettings{})
		ctx, cancel := context.WithCancelCause(t.Context())
		v, err := backoff.Retry(ctx, func(context.Context) (int, error) {
			cancel(errors.New("the user left"))
			return 7, nil
		}, backoff.WithBreaker(b), backoff.WithStrategy(ad))
		require.NoError(t, err, "a success is still returned")
		assert.Equal(t, 7, v)
		assert.Equal(t, backoff.HalfOpen, b.State(), "the probe's slot is free, and it did not close the breaker")
		assert.Equal(t, 100*time.Millisecond, ad.Base(), "not told to an Observer")
		p, err := b.Allow()
		require.NoError(t, err, "the slot was given back")
		p.Done(nil)
		assert.Equal(t, backoff.Closed, b.State())
	})
}
