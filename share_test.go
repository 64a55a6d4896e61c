package backoff_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBudgetAddTokens(t *testing.T) {
	b := backoff.NewBudget(backoff.BudgetSettings{Burst: 4, Ratio: 0.25})
	assert.Equal(t, 4.0, b.Burst())
	assert.Equal(t, 0.25, b.Ratio())
	tests := []struct {
		name string
		add  float64
		want float64
	}{
		{"down", -1.5, 2.5},
		{"below zero stops at zero", -10, 0},
		{"up", 1.25, 1.25},
		{"past Burst stops at Burst", 100, 4},
		{"NaN adds nothing", math.NaN(), 4},
		{"-Inf empties", math.Inf(-1), 0},
		{"+Inf fills", math.Inf(1), 4},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, b.AddTokens(tt.add), tt.name)
		assert.Equal(t, tt.want, b.Tokens(), tt.name)
	}
	// Deposits and withdrawals keep their meaning on top of it.
	b.AddTokens(-4)
	b.Deposit()
	b.Deposit()
	b.Deposit()
	b.Deposit()
	assert.True(t, b.TryWithdraw())
	assert.False(t, b.TryWithdraw())
}

func TestLimiterStatsAndImpose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 8, MinConcurrency: 2, MinRate: 1})
		ctx := context.Background()
		st := l.Stats()
		assert.Equal(t, backoff.LimiterStats{Concurrency: 8, Rate: math.Inf(1)}, st)

		s1, err := l.Acquire(ctx)
		require.NoError(t, err)
		s2, err := l.Acquire(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, l.Stats().InUse)
		s1.Done(nil, 0)
		s2.Done(&backoff.StatusError{Code: http.StatusTooManyRequests}, 0)
		st = l.Stats()
		assert.Equal(t, uint32(1), st.Cuts, "the throttle cut once")
		assert.Equal(t, uint32(2), st.Finished)
		assert.Equal(t, 0, st.InUse)

		// Imposed values are kept within the settings' bounds.
		l.Impose(10, 100)
		assert.Equal(t, 8, l.Concurrency())
		assert.Equal(t, 10.0, l.Rate())
		l.Impose(0.1, 0)
		assert.Equal(t, 2, l.Concurrency())
		assert.Equal(t, 1.0, l.Rate(), "MinRate")
		l.Impose(0, 4)
		assert.Equal(t, 1.0, l.Rate(), "0 leaves the rate")
		l.Impose(math.Inf(1), 4)
		assert.Equal(t, 1.0, l.Rate(), "+Inf leaves the rate")
		assert.Equal(t, uint32(1), l.Stats().Cuts, "Impose is no cut")

		// The imposed rate paces at once: 4/s, so the second call waits 250ms.
		l.Impose(4, 4)
		start := time.Now()
		for range 2 {
			s, err := l.Acquire(ctx)
			require.NoError(t, err)
			s.Done(nil, 0)
		}
		assert.Equal(t, 250*time.Millisecond, time.Since(start))
	})
}

func TestLimiterImposeWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 4})
		l.Impose(0, 1)
		ctx := context.Background()
		held, err := l.Acquire(ctx)
		require.NoError(t, err)
		got := make(chan error)
		go func() {
			s, err := l.Acquire(ctx)
			s.Done(nil, 0)
			got <- err
		}()
		synctest.Wait()
		l.Impose(0, 2)
		require.NoError(t, <-got)
		held.Done(nil, 0)
	})
}

func TestBreakerStatusAndHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		b := backoff.NewBreaker(backoff.BreakerSettings{
			OpenFor: time.Second, HalfOpenProbes: 3,
			OnStateChange: func(from, to backoff.State) { changes = append(changes, from.String()+">"+to.String()) },
		})
		assert.Equal(t, time.Second, b.OpenFor())
		assert.Equal(t, 3, b.HalfOpenProbes())
		st := b.Status()
		assert.Equal(t, backoff.Closed, st.State)

		// A stale generation holds nothing.
		b.Trip()
		_, held := b.Hold(st.Gen, backoff.Closed, 0)
		assert.False(t, held)
		assert.Equal(t, backoff.Open, b.State())

		// Open is held for the given time, without a new generation.
		st = b.Status()
		assert.Equal(t, time.Second, st.OpenLeft)
		st2, held := b.Hold(st.Gen, backoff.Open, 3*time.Second)
		assert.True(t, held)
		assert.Equal(t, st.Gen, st2.Gen)
		assert.Equal(t, 3*time.Second, st2.OpenLeft)
		time.Sleep(2 * time.Second)
		_, err := b.Allow()
		var oe *backoff.OpenError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, time.Second, oe.RetryAfter)
		// ... and may be brought nearer.
		st, _ = b.Hold(st.Gen, backoff.Open, 0)
		assert.Equal(t, backoff.HalfOpen, b.Status().State)

		// Closed closes.
		st = b.Status()
		st, held = b.Hold(st.Gen, backoff.Closed, 0)
		assert.True(t, held)
		assert.Equal(t, backoff.Closed, st.State)
		// Open from Closed opens, as Trip does.
		st, _ = b.Hold(st.Gen, backoff.Open, 500*time.Millisecond)
		assert.Equal(t, backoff.Open, st.State)
		time.Sleep(500 * time.Millisecond)
		assert.Equal(t, backoff.HalfOpen, b.State())
		// HalfOpen is no state to hold.
		st = b.Status()
		_, held = b.Hold(st.Gen, backoff.HalfOpen, 0)
		assert.False(t, held)
		assert.Equal(t, []string{"closed>open", "open>half-open", "half-open>closed", "closed>open", "open>half-open"}, changes)
		p, err := b.Allow()
		require.NoError(t, err)
		p.Done(errors.New("down"))
	})
}
