package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errThrottled = &backoff.StatusError{Code: 429}

func TestNewLimiterPanics(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		s    backoff.LimiterSettings
		want string
	}{
		{"negative MaxConcurrency", backoff.LimiterSettings{MaxConcurrency: -1}, "MaxConcurrency"},
		{"negative MinConcurrency", backoff.LimiterSettings{MinConcurrency: -1}, "MinConcurrency"},
		{"negative Burst", backoff.LimiterSettings{Burst: -2}, "Burst"},
		{"negative InitialRate", backoff.LimiterSettings{InitialRate: -1}, "InitialRate"},
		{"NaN InitialRate", backoff.LimiterSettings{InitialRate: nan}, "InitialRate"},
		{"infinite InitialRate", backoff.LimiterSettings{InitialRate: math.Inf(1)}, "InitialRate"},
		{"NaN MinRate", backoff.LimiterSettings{MinRate: nan}, "MinRate"},
		{"negative Beta", backoff.LimiterSettings{Beta: -0.5}, "Beta"},
		{"NaN Beta", backoff.LimiterSettings{Beta: nan}, "Beta"},
		{"Beta of 1", backoff.LimiterSettings{Beta: 1}, "Beta"},
		{"NaN Increase", backoff.LimiterSettings{Increase: nan}, "Increase"},
		{"negative Scale", backoff.LimiterSettings{Scale: -1}, "Scale"},
		{"NaN Smooth", backoff.LimiterSettings{Smooth: nan}, "Smooth"},
		{"Smooth over 1", backoff.LimiterSettings{Smooth: 1.5}, "Smooth"},
		{"Min over Max", backoff.LimiterSettings{MinConcurrency: 9, MaxConcurrency: 8}, "MinConcurrency"},
		{"Max over 1<<20", backoff.LimiterSettings{MaxConcurrency: 1<<20 + 1}, "MaxConcurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := panicMessage(t, func() { backoff.NewLimiter(tt.s) })
			assert.Regexp(t, "^backoff: NewLimiter: "+tt.want+" ", msg)
		})
	}
}

func TestLimiterDefaults(t *testing.T) {
	l := backoff.NewLimiter(backoff.LimiterSettings{})
	assert.Equal(t, 64, l.Concurrency())
	assert.True(t, math.IsInf(l.Rate(), 1), "unpaced until the first throttle")

	l = backoff.NewLimiter(backoff.LimiterSettings{InitialRate: 10, MaxConcurrency: 3})
	assert.Equal(t, 3, l.Concurrency())
	assert.Equal(t, 10.0, l.Rate())
}

// acquireAll takes n slots that must be free at once.
func acquireAll(t *testing.T, l *backoff.Limiter, n int) []backoff.Slot {
	t.Helper()
	slots := make([]backoff.Slot, n)
	for i := range slots {
		s, err := l.Acquire(context.Background())
		require.NoError(t, err)
		slots[i] = s
	}
	return slots
}

// acquireAsync starts an Acquire and returns a channel with its result.
func acquireAsync(ctx context.Context, l *backoff.Limiter) <-chan error {
	ch := make(chan error, 1)
	go func() {
		s, err := l.Acquire(ctx)
		if err == nil {
			s.Done(nil, 0)
		}
		ch <- err
	}()
	return ch
}

func TestLimiterConcurrencyCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 2})
		slots := acquireAll(t, l, 2)
		third := acquireAsync(context.Background(), l)
		synctest.Wait()
		select {
		case <-third:
			t.Fatal("a third call went ahead of a concurrency of 2")
		default:
		}
		slots[0].Done(nil, time.Millisecond)
		assert.NoError(t, <-third)
		slots[1].Done(nil, time.Millisecond)
	})
}

func TestLimiterDoneTwiceCountsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		s := acquireAll(t, l, 1)[0]
		s.Done(nil, 0)
		s.Done(nil, 0) // must not free the slot that the next call takes
		held := acquireAll(t, l, 1)[0]
		s.Done(errThrottled, 0) // a spent Slot teaches nothing either
		assert.Equal(t, 1, l.Concurrency())
		assert.True(t, math.IsInf(l.Rate(), 1))
		next := acquireAsync(context.Background(), l)
		synctest.Wait()
		select {
		case <-next:
			t.Fatal("a second Done of a spent Slot freed the slot held by another call")
		default:
		}
		held.Done(nil, 0)
		assert.NoError(t, <-next)
		backoff.Slot{}.Done(errThrottled, 0) // the zero Slot does nothing
	})
}

func TestLimiterDoneContext(t *testing.T) {
	l := backoff.NewLimiter(backoff.LimiterSettings{})
	s := acquireAll(t, l, 1)[0]
	assert.Equal(t, 64, l.Concurrency())

	// Acquire on a done context holds nothing and returns its cause.
	cause := errors.New("caller gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	_, err := l.Acquire(ctx)
	assert.Same(t, cause, err)
	acquireAll(t, l, 63) // all the rest are still free

	// A call whose context ended teaches nothing, even a throttle.
	ctx, cancel = context.WithCancelCause(context.Background())
	s.Done(nil, 0)
	s, err = l.Acquire(ctx)
	require.NoError(t, err)
	cancel(cause)
	s.Done(errThrottled, 0)
	assert.Equal(t, 64, l.Concurrency())
	assert.True(t, math.IsInf(l.Rate(), 1))
}

func TestLimiterThrottleRule(t *testing.T) {
	base := errors.New("base")
	tests := []struct {
		name      string
		err       error
		throttled bool
	}{
		{"429", &backoff.StatusError{Code: 429}, true},
		{"wrapped 429", fmt.Errorf("call: %w", &backoff.StatusError{Code: 429}), true},
		{"503 with Retry-After", &backoff.StatusError{Code: 503, RetryAfter: time.Second}, true},
		{"RetryAfter mark", backoff.RetryAfter(time.Second, base), true},
		{"429 marked Permanent (a spent quota)", backoff.Mark(&backoff.StatusError{Code: 429}, backoff.Permanent), false},
		{"plain 503", &backoff.StatusError{Code: 503}, false},
		{"500", &backoff.StatusError{Code: 500}, false},
		{"Temporary mark without a wait", backoff.Mark(base, backoff.Temporary), false},
		{"timeout", context.DeadlineExceeded, false},
		{"other", base, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 2})
				s := acquireAll(t, l, 1)[0]
				time.Sleep(time.Second)
				s.Done(tt.err, time.Millisecond)
				if tt.throttled {
					assert.Equal(t, 1, l.Concurrency(), "⌊2·0.7⌋: half the slots were in use")
					assert.InDelta(t, 0.7, l.Rate(), 1e-12, "1 call in 1s, times 0.7")
				} else {
					assert.Equal(t, 2, l.Concurrency())
					assert.True(t, math.IsInf(l.Rate(), 1))
				}
			})
		})
	}
}

func TestLimiterCutOncePerRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 4, MinRate: 0.01})
		early := acquireAll(t, l, 3)
		// Nine calls finish over 0.9s, then a throttle at 1s: ten calls in
		// one second were measured.
		for range 9 {
			time.Sleep(100 * time.Millisecond)
			acquireAll(t, l, 1)[0].Done(nil, 0)
		}
		time.Sleep(100 * time.Millisecond)
		early[0].Done(errThrottled, 0)
		assert.Equal(t, 2, l.Concurrency(), "⌊4·0.7⌋")
		assert.InDelta(t, 7.0, l.Rate(), 1e-9)
		// Calls sent before that cut: the same overload, seen late.
		early[1].Done(errThrottled, 0)
		assert.Equal(t, 2, l.Concurrency())
		assert.InDelta(t, 7.0, l.Rate(), 1e-9)
		// A call sent after the cut that is throttled cuts again, from
		// the paced rate: min(measured 10, rate 7)·0.7.
		s, err := l.Acquire(context.Background())
		require.NoError(t, err)
		s.Done(errThrottled, 0)
		assert.Equal(t, 1, l.Concurrency(), "⌊2.8·0.7⌋: the unrounded concurrency is cut")
		assert.InDelta(t, 4.9, l.Rate(), 1e-9)
		early[2].Done(nil, 0)
	})
}

func TestLimiterGrowsWhileUsed(t *testing.T) {
	synctest.Test(t, testLimiterGrowsWhileUsed)
}

func testLimiterGrowsWhileUsed(t *testing.T) {
	l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 4})
	held := acquireAll(t, l, 2)
	held[0].Done(errThrottled, 0) // 2 of 4 in use: cut to 2.8
	require.Equal(t, 2, l.Concurrency(), "⌊4·0.7⌋")
	// 2.8 + 1/2.8 = 3.157: a success with half the slots in use raises it.
	held[1].Done(nil, 0)
	assert.Equal(t, 3, l.Concurrency())
	acquireAll(t, l, 1)[0].Done(nil, 0) // 1 of 3 in use: not used enough to grow
	assert.Equal(t, 3, l.Concurrency())
	for range 10 {
		for _, s := range acquireAll(t, l, 2) {
			s.Done(nil, 0)
		}
	}
	assert.Equal(t, 4, l.Concurrency(), "capped at MaxConcurrency")
}

// A throttle while few slots are in use says that the server limits the
// rate, not the concurrency: only the rate is cut.
func TestLimiterCutsConcurrencyOnlyWhenUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 8})
		held := acquireAll(t, l, 3) // 3 of 8, under half
		time.Sleep(time.Second)
		held[0].Done(errThrottled, 0)
		assert.Equal(t, 8, l.Concurrency())
		assert.False(t, math.IsInf(l.Rate(), 1))
		held[1].Done(nil, 0)
		held[2].Done(nil, 0)
	})
}

func TestLimiterNeverBelowMin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 4, MinConcurrency: 2, MinRate: 3})
		for range 20 {
			time.Sleep(time.Second)
			held := acquireAll(t, l, 2)
			held[0].Done(errThrottled, 0)
			held[1].Done(errDown, 0) // neutral
		}
		assert.Equal(t, 2, l.Concurrency())
		assert.Equal(t, 3.0, l.Rate())
	})
}

func TestLimiterPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{InitialRate: 10})
		start := time.Now()
		var at []time.Duration
		for range 3 {
			s, err := l.Acquire(context.Background())
			require.NoError(t, err)
			at = append(at, time.Since(start))
			s.Done(nil, 0)
		}
		// At 100ms the rate has moved along the curve, 0.02·10·0.1³ past
		// 10/s, and the next token comes that much sooner.
		rate := 0.02*10*0.1*0.1*0.1 + 10.0
		iv := time.Duration(float64(time.Second) / rate)
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 100*time.Millisecond + iv}, at)
	})
}

func TestLimiterPacingBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{InitialRate: 10, Burst: 3})
		time.Sleep(time.Second) // idle: the bucket is full
		start := time.Now()
		var at []time.Duration
		for range 4 {
			s, err := l.Acquire(context.Background())
			require.NoError(t, err)
			at = append(at, time.Since(start))
			s.Done(nil, 0)
		}
		// The idle second measured no sends, so the rate is capped at twice
		// the measured rate, 0.8·0 + 0.2·10 = 2/s: 4/s, a token per 250ms.
		// Three go at once, the fourth a token's time after the third.
		assert.InDelta(t, 4.0, l.Rate(), 1e-12)
		assert.Equal(t, []time.Duration{0, 0, 0, 250 * time.Millisecond}, at)
	})
}

func TestLimiterPacingDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{InitialRate: 10})
		acquireAll(t, l, 1)[0].Done(nil, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := l.Acquire(ctx)
		assert.ErrorIs(t, err, backoff.ErrDeadline)
		assert.Zero(t, time.Since(start), "returns at once, without sleeping in vain")
		// The start time it reserved was given back.
		acquireAll(t, l, 1)[0].Done(nil, 0)
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
	})
}

func TestLimiterPacingCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{InitialRate: 10})
		acquireAll(t, l, 1)[0].Done(nil, 0)
		cause := errors.New("stop")
		ctx, cancel := context.WithCancelCause(context.Background())
		ch := acquireAsync(ctx, l)
		time.Sleep(10 * time.Millisecond)
		cancel(cause)
		assert.Same(t, cause, <-ch)
		start := time.Now()
		acquireAll(t, l, 1)[0].Done(nil, 0)
		assert.Equal(t, 90*time.Millisecond, time.Since(start), "the cancelled call's start time was given back")
	})
}

func TestLimiterFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		held := acquireAll(t, l, 1)[0]
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Go(func() {
				s, err := l.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				s.Done(nil, 0)
			})
			synctest.Wait() // each in the queue before the next comes
		}
		held.Done(nil, 0)
		wg.Wait()
		assert.Equal(t, []int{0, 1, 2, 3, 4}, order)
	})
}

func TestLimiterCancelledWaitersLeaveNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		held := acquireAll(t, l, 1)[0]
		cause := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(context.Background())
		const n = 10000
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := l.Acquire(ctx)
				errs <- err
			}()
		}
		synctest.Wait()
		cancel(cause)
		for range n {
			assert.Same(t, cause, <-errs)
		}
		held.Done(nil, 0)
		// Nobody is left in the queue: the slot is free at once.
		s, err := l.Acquire(context.Background())
		require.NoError(t, err)
		s.Done(nil, 0)
	})
}

func TestLimiterCancelledWaiterPassesTheSlotOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		held := acquireAll(t, l, 1)[0]
		ctx, cancel := context.WithCancel(context.Background())
		first := acquireAsync(ctx, l)
		synctest.Wait()
		second := acquireAsync(context.Background(), l)
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-first, context.Canceled)
		held.Done(nil, 0)
		assert.NoError(t, <-second)
	})
}

func TestLimiterFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		l := backoff.NewLimiter(backoff.LimiterSettings{InitialRate: 2, Clock: c})
		acquireAll(t, l, 1)[0].Done(nil, 0)
		ch := acquireAsync(context.Background(), l)
		synctest.Wait()
		c.Advance(499 * time.Millisecond)
		synctest.Wait()
		select {
		case <-ch:
			t.Fatal("went before its start time on the fake clock")
		default:
		}
		c.Advance(time.Millisecond)
		assert.NoError(t, <-ch)
	})
}

// The concurrency in force is never exceeded, under any interleaving.
func TestLimiterConcurrentUse(t *testing.T) {
	// A high MinRate keeps the paced path busy without real waits.
	l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 8, MinConcurrency: 2, MinRate: 1e7})
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 500 {
				s, err := l.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				var err2 error
				if (g+i)%97 == 0 {
					err2 = errThrottled
				}
				inFlight.Add(-1)
				s.Done(err2, 0)
				s.Done(err2, 0)
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(8))
	assert.GreaterOrEqual(t, l.Concurrency(), 2)
	// Every slot came back.
	slots := acquireAll(t, l, l.Concurrency())
	for _, s := range slots {
		s.Done(nil, 0)
	}
}

func TestLimiterAllocs(t *testing.T) {
	l := backoff.NewLimiter(backoff.LimiterSettings{})
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		s, err := l.Acquire(ctx)
		if err != nil {
			panic(err)
		}
		s.Done(nil, time.Millisecond)
	})
	assert.Zero(t, allocs)
	allocs = testing.AllocsPerRun(1000, func() {
		s, err := l.Acquire(ctx)
		if err != nil {
			panic(err)
		}
		s.Done(errDown, time.Millisecond)
	})
	assert.Zero(t, allocs, "a neutral failure")
}
