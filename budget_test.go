package backoff_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

func TestBudgetArithmetic(t *testing.T) {
	type op struct {
		do   string // "d" deposits, "w" withdraws
		n    int
		want bool    // for "w": what every one of the n withdrawals reports
		left float64 // Tokens afterwards
	}
	d := func(n int, left float64) op { return op{do: "d", n: n, left: left} }
	w := func(n int, want bool, left float64) op { return op{do: "w", n: n, want: want, left: left} }
	tests := []struct {
		name string
		s    backoff.BudgetSettings
		ops  []op
	}{
		{"defaults start full", backoff.BudgetSettings{}, []op{w(10, true, 0), w(1, false, 0)}},
		{"deposits stop at Burst", backoff.BudgetSettings{}, []op{d(5, 10), w(1, true, 9), d(3, 9.3)}},
		{"ten deposits of 0.1 make one token", backoff.BudgetSettings{}, []op{
			w(10, true, 0), d(9, 0.9), w(1, false, 0.9), d(1, 1), w(1, true, 0), w(1, false, 0),
		}},
		{"a hundred deposits of 0.01", backoff.BudgetSettings{Ratio: 0.01, Burst: 1}, []op{
			w(1, true, 0), d(99, 0.99), w(1, false, 0.99), d(1, 1), w(1, true, 0),
		}},
		{"a third, to the millionth", backoff.BudgetSettings{Ratio: 1.0 / 3, Burst: 1}, []op{
			w(1, true, 0), d(3, 0.999999), w(1, false, 0.999999), d(1, 1), w(1, true, 0),
		}},
		{"Ratio above Burst fills it", backoff.BudgetSettings{Ratio: 5, Burst: 2}, []op{
			w(2, true, 0), d(1, 2), w(1, true, 1),
		}},
		{"Ratio of a whole token", backoff.BudgetSettings{Ratio: 1, Burst: 3}, []op{
			w(3, true, 0), d(2, 2), w(2, true, 0), w(1, false, 0),
		}},
		{"infinite Ratio fills it", backoff.BudgetSettings{Ratio: math.Inf(1), Burst: 1}, []op{
			w(1, true, 0), d(1, 1),
		}},
		{"Burst one", backoff.BudgetSettings{Ratio: 0.5, Burst: 1}, []op{
			w(1, true, 0), w(1, false, 0), d(1, 0.5), w(1, false, 0.5), d(1, 1), w(1, true, 0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff.NewBudget(tt.s)
			for i, o := range tt.ops {
				for range o.n {
					if o.do == "d" {
						b.Deposit()
					} else {
						require.Equal(t, o.want, b.TryWithdraw(), "op %d", i)
					}
				}
				require.Equal(t, o.left, b.Tokens(), "op %d", i)
			}
		})
	}
}

func TestBudgetHugeBurst(t *testing.T) {
	b := backoff.NewBudget(backoff.BudgetSettings{Ratio: 1e300, Burst: math.MaxInt})
	full := b.Tokens()
	assert.Equal(t, float64(math.MaxInt64)/1e6, full)
	require.True(t, b.TryWithdraw())
	assert.Equal(t, full-1, b.Tokens())
	b.Deposit()
	b.Deposit()
	assert.Equal(t, full, b.Tokens(), "no overflow past Burst")
}

func TestNewBudgetPanics(t *testing.T) {
	tests := []struct {
		name  string
		s     backoff.BudgetSettings
		field string
	}{
		{"negative Ratio", backoff.BudgetSettings{Ratio: -0.1}, "Ratio"},
		{"NaN Ratio", backoff.BudgetSettings{Ratio: math.NaN()}, "Ratio"},
		{"negative infinite Ratio", backoff.BudgetSettings{Ratio: math.Inf(-1)}, "Ratio"},
		{"negative Burst", backoff.BudgetSettings{Burst: -1}, "Burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := panicMessage(t, func() { backoff.NewBudget(tt.s) })
			assert.Regexp(t, `^backoff: NewBudget: .*`+tt.field, msg)
		})
	}
}

func TestBudgetConcurrent(t *testing.T) {
	const goroutines, perG = 10, 10_000
	b := backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.25, Burst: 50_000})
	var wg sync.WaitGroup
	var granted [goroutines]int
	for g := range goroutines {
		wg.Go(func() {
			for range perG {
				if b.TryWithdraw() {
					granted[g]++
				}
			}
		})
	}
	wg.Wait()
	sum := 0
	for _, n := range granted {
		sum += n
	}
	assert.Equal(t, 50_000, sum, "exactly Burst withdrawals granted")
	assert.Equal(t, 0.0, b.Tokens())

	for range goroutines {
		wg.Go(func() {
			for range perG {
				b.Deposit()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 25_000.0, b.Tokens(), "every deposit of 0.25 counted")

	// Mixed: each goroutine deposits 4 times per withdrawal, which nets to
	// nothing; withdrawals never fail while 25,000 tokens last.
	var refused [goroutines]int
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				if i%5 == 4 {
					if !b.TryWithdraw() {
						refused[g]++
					}
				} else {
					b.Deposit()
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, [goroutines]int{}, refused)
	assert.Equal(t, 25_000.0, b.Tokens())
}

func TestBudgetAllocs(t *testing.T) {
	b := backoff.NewBudget(backoff.BudgetSettings{})
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		b.Deposit()
		b.TryWithdraw()
		_ = b.Tokens()
	}))
}

func TestRetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.5, Burst: 1})
		want := []struct {
			attempts, notified int
			tokens             float64
		}{
			{2, 1, 0},   // 1 (full), a retry takes it, the next is refused
			{1, 0, 0.5}, // 0.5 is not enough for a retry
			{2, 1, 0},   // 1 again
		}
		for i, w := range want {
			n, notified := 0, 0
			_, err := backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBudget(b),
				backoff.WithMaxAttempts(10), backoff.WithStrategy(backoff.Fixed(time.Second)),
				backoff.WithNotify(func(backoff.Attempt, time.Duration) { notified++ }))
			var e *backoff.Error
			require.ErrorAs(t, err, &e, "call %d", i)
			assert.Equal(t, &backoff.Error{Attempts: w.attempts, Err: errDown, Reason: backoff.ErrBudget}, e, "call %d", i)
			assert.Equal(t, w.attempts, n, "call %d", i)
			assert.Equal(t, w.notified, notified, "call %d: no Notify for a refused retry", i)
			assert.Equal(t, w.tokens, b.Tokens(), "call %d", i)
		}
	})
}

func TestRetryBudgetAfterOtherStops(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		opts   []backoff.Option
		ctx    func(context.Context) (context.Context, context.CancelFunc)
		reason error
	}{
		{"Permanent", &backoff.StatusError{Code: 404}, nil, nil, backoff.ErrPermanent},
		{"attempts used up", errDown, []backoff.Option{backoff.WithMaxAttempts(1)}, nil, backoff.ErrExhausted},
		{"strategy says stop", errDown, []backoff.Option{backoff.WithStrategy(backoff.StrategyFunc(func(backoff.Attempt) (time.Duration, bool) {
			return 0, false
		}))}, nil, backoff.ErrExhausted},
		{"context deadline", errDown, []backoff.Option{backoff.WithStrategy(backoff.Fixed(2 * time.Second))},
			func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, time.Second)
			}, backoff.ErrDeadline},
		{"MaxElapsed", errDown, []backoff.Option{backoff.WithStrategy(backoff.Fixed(2 * time.Second)), backoff.WithMaxElapsed(time.Second)}, nil, backoff.ErrDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				if tt.ctx != nil {
					var cancel context.CancelFunc
					ctx, cancel = tt.ctx(ctx)
					defer cancel()
				}
				for _, tokens := range []float64{0, 1} {
					// An empty budget still lets the other reasons stop
					// Retry first; a full one gives no token away.
					b := backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.5, Burst: 1})
					if tokens == 0 {
						require.True(t, b.TryWithdraw())
					}
					opts := append([]backoff.Option{backoff.WithBudget(b)}, tt.opts...)
					err := backoff.Do(ctx, func(context.Context) error { return tt.err }, opts...)
					var e *backoff.Error
					require.ErrorAs(t, err, &e)
					assert.Equal(t, tt.reason, e.Reason, "tokens %v", tokens)
					assert.Equal(t, min(tokens+0.5, 1), b.Tokens(), "tokens %v: one deposit, no withdrawal", tokens)
				}
			})
		})
	}
}

func TestRetryBudgetNoDepositWithoutAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.5, Burst: 1})
		require.True(t, b.TryWithdraw())
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		n := 0
		_, err := backoff.Retry(ctx, alwaysFails(&n), backoff.WithBudget(b))
		assert.ErrorIs(t, err, context.Canceled)

		br := backoff.NewBreaker(backoff.BreakerSettings{})
		br.Trip()
		_, err = backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBudget(b), backoff.WithBreaker(br))
		assert.ErrorIs(t, err, backoff.ErrCircuitOpen)
		assert.Zero(t, n)
		assert.Equal(t, 0.0, b.Tokens(), "no attempt, no deposit")

		_, err = backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBudget(b), backoff.WithMaxAttempts(1))
		assert.ErrorIs(t, err, backoff.ErrExhausted)
		assert.Equal(t, 0.5, b.Tokens(), "one deposit for the first attempt")
	})
}

func TestRetryWithBudgetNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.5, Burst: 1})
		require.True(t, b.TryWithdraw())
		n := 0
		_, err := backoff.Retry(t.Context(), alwaysFails(&n),
			backoff.WithBudget(b), backoff.WithBudget(nil), backoff.WithStrategy(backoff.Fixed(0)))
		assert.ErrorIs(t, err, backoff.ErrExhausted)
		assert.Equal(t, 4, n)
		assert.Equal(t, 0.0, b.Tokens())
	})
}
