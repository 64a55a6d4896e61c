package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

const ms = time.Millisecond

var (
	errBoom       = errors.New("boom")
	errBadRequest = &backoff.StatusError{Code: 400}
	errTooMany    = &backoff.StatusError{Code: 429}
	errUnavail    = &backoff.StatusError{Code: 503}
	errInternal   = &backoff.StatusError{Code: 500}
)

// adaptiveDelay asks ad for the wait before retry number n, which must not
// say stop.
func adaptiveDelay(t *testing.T, ad *backoff.Adaptive, n int) time.Duration {
	t.Helper()
	d, ok := ad.Delay(backoff.Attempt{Number: n})
	require.True(t, ok, "Adaptive.Delay said stop for Number %d", n)
	return d
}

func TestAdaptiveDefaults(t *testing.T) {
	for name, ad := range map[string]*backoff.Adaptive{
		"NewAdaptive with zero settings": backoff.NewAdaptive(backoff.AdaptiveSettings{}),
		"zero Adaptive":                  new(backoff.Adaptive),
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, 100*ms, ad.Base())
			assert.Equal(t, 0.0, ad.ErrorRate())
			for _, c := range []struct {
				number int
				want   time.Duration
			}{
				{math.MinInt, 100 * ms}, {-1, 100 * ms}, {0, 100 * ms}, {1, 100 * ms},
				{2, 200 * ms}, {3, 400 * ms}, {6, 3200 * ms},
				{7, 5 * time.Second}, {64, 5 * time.Second}, {math.MaxInt, 5 * time.Second},
			} {
				assert.Equal(t, c.want, adaptiveDelay(t, ad, c.number), "Number %d", c.number)
			}
			// Defaults of the rules: Max 5s, Min 10ms, FastLatency 100ms.
			for range 10 {
				ad.Observe(backoff.Outcome{Err: errBoom})
			}
			assert.Equal(t, 5*time.Second, ad.Base())
			assert.Equal(t, 1.0, ad.ErrorRate())
			ad.Observe(backoff.Outcome{Latency: 100 * ms}) // not faster than 100ms: seeds the typical latency
			assert.Equal(t, 5*time.Second, ad.Base())
			ad.Observe(backoff.Outcome{Latency: 99 * ms})
			assert.Equal(t, 2500*ms, ad.Base())
			for range 20 {
				ad.Observe(backoff.Outcome{})
			}
			assert.Equal(t, 10*ms, ad.Base())
			assert.Equal(t, 10.0/32, ad.ErrorRate())
		})
	}
}

// step is one outcome fed to an Adaptive and the base expected after it.
type step struct {
	err      error
	latency  time.Duration
	wantBase time.Duration
}

func TestAdaptiveRules(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings backoff.AdaptiveSettings
		steps    []step
		wantRate float64
	}{
		{
			name:     "a failure doubles the base up to Max",
			settings: backoff.AdaptiveSettings{Max: time.Second},
			steps: []step{
				{err: errBoom, wantBase: 200 * ms}, {err: errBoom, wantBase: 400 * ms},
				{err: errBoom, wantBase: 800 * ms}, {err: errBoom, wantBase: time.Second},
				{err: errBoom, wantBase: time.Second},
			},
			wantRate: 1,
		},
		{
			name:     "a success faster than FastLatency halves the base down to Min",
			settings: backoff.AdaptiveSettings{},
			steps: []step{
				{latency: 99 * ms, wantBase: 50 * ms}, {latency: 99 * ms, wantBase: 25 * ms},
				{latency: 0, wantBase: 12500 * time.Microsecond}, {latency: 0, wantBase: 10 * ms},
				{latency: 0, wantBase: 10 * ms},
			},
		},
		{
			name:     "a success that takes exactly FastLatency is not fast",
			settings: backoff.AdaptiveSettings{FastLatency: 40 * ms},
			steps:    []step{{latency: 40 * ms, wantBase: 100 * ms}, {latency: 39 * ms, wantBase: 50 * ms}},
		},
		{
			name:     "a success slower than three times the typical latency doubles the base",
			settings: backoff.AdaptiveSettings{FastLatency: 10 * ms},
			steps: []step{
				{latency: 200 * ms, wantBase: 100 * ms}, // seeds the typical latency: 200ms
				{latency: 600 * ms, wantBase: 100 * ms}, // exactly 3×: not slow; typical 200 + 400/8 = 250ms
				{latency: 751 * ms, wantBase: 200 * ms}, // above 750ms; typical 250 + 501/8 = 312.625ms
				{latency: 938 * ms, wantBase: 400 * ms}, // above 937.875ms
			},
		},
		{
			name:     "the first success is never slow",
			settings: backoff.AdaptiveSettings{FastLatency: 10 * ms},
			steps:    []step{{latency: time.Hour, wantBase: 100 * ms}, {latency: 3 * time.Hour, wantBase: 100 * ms}},
		},
		{
			name:     "a failure's latency does not enter the typical latency",
			settings: backoff.AdaptiveSettings{FastLatency: 10 * ms},
			steps: []step{
				{err: errBoom, latency: time.Nanosecond, wantBase: 200 * ms},
				{latency: 100 * ms, wantBase: 200 * ms}, // seeds: the failure's 1ns did not
				{err: errBoom, latency: time.Hour, wantBase: 400 * ms},
				{latency: 301 * ms, wantBase: 800 * ms}, // slow against 100ms, not against an hour
			},
			wantRate: 0.5,
		},
		{
			name:     "other successes leave the base alone",
			settings: backoff.AdaptiveSettings{},
			steps: []step{
				{latency: 100 * ms, wantBase: 100 * ms}, {latency: 300 * ms, wantBase: 100 * ms},
				{latency: 150 * ms, wantBase: 100 * ms}, {latency: 200 * ms, wantBase: 100 * ms},
			},
		},
		{
			name:     "a negative latency counts as 0, a fast success",
			settings: backoff.AdaptiveSettings{},
			steps:    []step{{latency: -time.Hour, wantBase: 50 * ms}},
		},
		{
			name:     "Temporary errors are failures: the service is overloaded",
			settings: backoff.AdaptiveSettings{},
			steps: []step{
				{err: errTooMany, wantBase: 200 * ms},
				{err: errUnavail, wantBase: 400 * ms},
				{err: backoff.RetryAfter(time.Second, errBoom), wantBase: 800 * ms},
				{err: backoff.Mark(errBadRequest, backoff.Temporary), wantBase: 1600 * ms},
			},
			wantRate: 1,
		},
		{
			name:     "Transient errors are failures",
			settings: backoff.AdaptiveSettings{},
			steps: []step{
				{err: errInternal, wantBase: 200 * ms},
				{err: context.DeadlineExceeded, wantBase: 400 * ms},
				{err: fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), wantBase: 800 * ms},
			},
			wantRate: 1,
		},
		{
			name:     "Permanent errors and cancellation teach nothing",
			settings: backoff.AdaptiveSettings{},
			steps: []step{
				{err: errBadRequest, wantBase: 100 * ms},
				{err: &backoff.StatusError{Code: 404}, wantBase: 100 * ms},
				{err: backoff.Mark(errBoom, backoff.Permanent), wantBase: 100 * ms},
				{err: backoff.Mark(errBoom, backoff.Permanent+1), wantBase: 100 * ms},
				{err: context.Canceled, wantBase: 100 * ms},
				{err: fmt.Errorf("call: %w", context.Canceled), wantBase: 100 * ms},
				{err: backoff.Mark(context.Canceled, backoff.Transient), wantBase: 100 * ms},
			},
			wantRate: 0, // nothing entered the window
		},
		{
			name:     "Permanent errors do not dilute the error rate",
			settings: backoff.AdaptiveSettings{},
			steps: []step{
				{err: errBoom, wantBase: 200 * ms},
				{err: errBadRequest, wantBase: 200 * ms},
				{err: context.Canceled, wantBase: 200 * ms},
			},
			wantRate: 1,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			ad := backoff.NewAdaptive(c.settings)
			for i, s := range c.steps {
				ad.Observe(backoff.Outcome{Err: s.err, Latency: s.latency})
				require.Equal(t, s.wantBase, ad.Base(), "after step %d (err %v, latency %v)", i, s.err, s.latency)
			}
			assert.Equal(t, c.wantRate, ad.ErrorRate())
		})
	}
}

func TestAdaptiveErrorRateWindow(t *testing.T) {
	t.Run("four outcomes", func(t *testing.T) {
		ad := backoff.NewAdaptive(backoff.AdaptiveSettings{Window: 4})
		for i, c := range []struct {
			fail bool
			want float64
		}{
			{true, 1}, {true, 1}, {false, 2.0 / 3}, {false, 0.5},
			{false, 0.25}, // the first failure leaves the window
			{false, 0},    // and the second
			{true, 0.25}, {false, 0.25}, {true, 0.5}, {true, 0.75}, {true, 0.75}, {true, 1},
		} {
			var err error
			if c.fail {
				err = errBoom
			}
			ad.Observe(backoff.Outcome{Err: err, Latency: 100 * ms})
			require.Equal(t, c.want, ad.ErrorRate(), "after outcome %d", i)
		}
	})
	// Against a plain slice of the last Window outcomes, for windows that end
	// inside, at and just past a 64-bit word.
	for _, window := range []int{1, 2, 63, 64, 65, 100, 128, 130} {
		t.Run(fmt.Sprintf("window %d against a slice", window), func(t *testing.T) {
			ad := backoff.NewAdaptive(backoff.AdaptiveSettings{Window: window})
			rng := rand.New(rand.NewPCG(uint64(window), 7))
			var last []bool
			for i := range 5 * window {
				fail := rng.IntN(3) == 0
				if i%(2*window) >= window { // alternate calm and stormy stretches
					fail = rng.IntN(4) != 0
				}
				var err error
				if fail {
					err = errBoom
				}
				ad.Observe(backoff.Outcome{Err: err, Latency: 200 * ms})
				last = append(last, fail)
				if len(last) > window {
					last = last[1:]
				}
				failures := 0
				for _, f := range last {
					if f {
						failures++
					}
				}
				require.Equal(t, float64(failures)/float64(len(last)), ad.ErrorRate(), "after outcome %d", i)
			}
		})
	}
}

func TestAdaptiveHighErrorRateDoublesDelay(t *testing.T) {
	type check struct {
		fail         bool
		base         time.Duration
		rate         float64
		first, third time.Duration // Delay for Number 1 and 3
	}
	for _, c := range []struct {
		name     string
		settings backoff.AdaptiveSettings
		checks   []check
	}{
		{
			name:     "above 0.5 doubles, exactly 0.5 does not",
			settings: backoff.AdaptiveSettings{Window: 4, Max: 10 * time.Second},
			checks: []check{
				{fail: true, base: 200 * ms, rate: 1, first: 400 * ms, third: 1600 * ms},
				{fail: false, base: 100 * ms, rate: 0.5, first: 100 * ms, third: 400 * ms},
				{fail: true, base: 200 * ms, rate: 2.0 / 3, first: 400 * ms, third: 1600 * ms},
				{fail: false, base: 100 * ms, rate: 0.5, first: 100 * ms, third: 400 * ms},
				{fail: false, base: 50 * ms, rate: 0.25, first: 50 * ms, third: 200 * ms},
			},
		},
		{
			name:     "HighErrorRate 1 never doubles",
			settings: backoff.AdaptiveSettings{HighErrorRate: 1},
			checks: []check{
				{fail: true, base: 200 * ms, rate: 1, first: 200 * ms, third: 800 * ms},
				{fail: true, base: 400 * ms, rate: 1, first: 400 * ms, third: 1600 * ms},
			},
		},
		{
			name:     "a tiny HighErrorRate doubles on any failure in the window",
			settings: backoff.AdaptiveSettings{HighErrorRate: 1e-9, Window: 3},
			checks: []check{
				{fail: true, base: 200 * ms, rate: 1, first: 400 * ms, third: 1600 * ms},
				{fail: false, base: 100 * ms, rate: 0.5, first: 200 * ms, third: 800 * ms},
				{fail: false, base: 50 * ms, rate: 1.0 / 3, first: 100 * ms, third: 400 * ms},
				{fail: false, base: 25 * ms, rate: 0, first: 25 * ms, third: 100 * ms},
			},
		},
		{
			name:     "the doubling is capped at Max too",
			settings: backoff.AdaptiveSettings{Max: 300 * ms},
			checks: []check{
				{fail: true, base: 200 * ms, rate: 1, first: 300 * ms, third: 300 * ms},
				{fail: true, base: 300 * ms, rate: 1, first: 300 * ms, third: 300 * ms},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			ad := backoff.NewAdaptive(c.settings)
			for i, k := range c.checks {
				var err error
				if k.fail {
					err = errBoom
				}
				ad.Observe(backoff.Outcome{Err: err}) // a success here is fast: latency 0
				assert.Equal(t, k.base, ad.Base(), "base after outcome %d", i)
				assert.Equal(t, k.rate, ad.ErrorRate(), "rate after outcome %d", i)
				assert.Equal(t, k.first, adaptiveDelay(t, ad, 1), "first wait after outcome %d", i)
				assert.Equal(t, k.third, adaptiveDelay(t, ad, 3), "third wait after outcome %d", i)
			}
		})
	}
}

func TestAdaptiveDelaySaturates(t *testing.T) {
	const maxDuration = time.Duration(math.MaxInt64)
	t.Run("uncapped in practice: Max is the largest Duration", func(t *testing.T) {
		ad := backoff.NewAdaptive(backoff.AdaptiveSettings{Max: maxDuration})
		for _, c := range []struct {
			number int
			want   time.Duration
		}{
			{37, 100 * ms << 36}, // 6.87e18ns: still exact
			{38, maxDuration},    // 1.37e19ns would overflow
			{63, maxDuration}, {64, maxDuration}, {65, maxDuration}, {1 << 40, maxDuration},
			{math.MaxInt, maxDuration},
		} {
			assert.Equal(t, c.want, adaptiveDelay(t, ad, c.number), "Number %d", c.number)
		}
		// A failure makes the error rate high: one more doubling.
		ad.Observe(backoff.Outcome{Err: errBoom})
		assert.Equal(t, 200*ms<<35, adaptiveDelay(t, ad, 35)) // 200ms·2^34·2
		assert.Equal(t, maxDuration, adaptiveDelay(t, ad, 36))
		assert.Equal(t, maxDuration, adaptiveDelay(t, ad, math.MaxInt))
		for range 200 {
			ad.Observe(backoff.Outcome{Err: errBoom})
		}
		assert.Equal(t, maxDuration, ad.Base())
		assert.Equal(t, maxDuration, adaptiveDelay(t, ad, 1))
	})
	t.Run("capped", func(t *testing.T) {
		ad := backoff.NewAdaptive(backoff.AdaptiveSettings{Min: time.Nanosecond, Initial: time.Nanosecond, Max: time.Hour})
		assert.Equal(t, time.Duration(1<<41), adaptiveDelay(t, ad, 42))
		assert.Equal(t, time.Hour, adaptiveDelay(t, ad, 43))
		ad.Observe(backoff.Outcome{Err: errBoom})
		for _, n := range []int{62, 63, 64, math.MaxInt - 1, math.MaxInt} {
			assert.Equal(t, time.Hour, adaptiveDelay(t, ad, n), "Number %d", n)
		}
	})
}

func TestAdaptiveOddSettings(t *testing.T) {
	for _, c := range []struct {
		name                   string
		settings               backoff.AdaptiveSettings
		base, lowest, greatest time.Duration
	}{
		{"zero: the defaults", backoff.AdaptiveSettings{}, 100 * ms, 10 * ms, 5 * time.Second},
		{"only Max, below the default Min: Min is lowered to it", backoff.AdaptiveSettings{Max: 5 * ms}, 5 * ms, 5 * ms, 5 * ms},
		{"only Max, above the default Min", backoff.AdaptiveSettings{Max: time.Minute}, 100 * ms, 10 * ms, time.Minute},
		{"only Min, above the default Max: Max is raised to it", backoff.AdaptiveSettings{Min: 10 * time.Second}, 10 * time.Second, 10 * time.Second, 10 * time.Second},
		{"only Min, above the default Initial", backoff.AdaptiveSettings{Min: time.Second}, time.Second, time.Second, 5 * time.Second},
		{"Min equal to Max: a fixed base", backoff.AdaptiveSettings{Min: time.Second, Max: time.Second}, time.Second, time.Second, time.Second},
		{"Initial below Min is raised to it", backoff.AdaptiveSettings{Initial: time.Nanosecond}, 10 * ms, 10 * ms, 5 * time.Second},
		{"Initial above Max is lowered to it", backoff.AdaptiveSettings{Initial: time.Hour}, 5 * time.Second, 10 * ms, 5 * time.Second},
		{"the smallest bounds", backoff.AdaptiveSettings{Min: 1, Max: 1}, 1, 1, 1},
		{"Window 1", backoff.AdaptiveSettings{Window: 1}, 100 * ms, 10 * ms, 5 * time.Second},
		{"the largest Window", backoff.AdaptiveSettings{Window: 1 << 24}, 100 * ms, 10 * ms, 5 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			ad := backoff.NewAdaptive(c.settings)
			assert.Equal(t, c.base, ad.Base())
			assert.Equal(t, c.base, adaptiveDelay(t, ad, 1))
			assert.Equal(t, c.greatest, adaptiveDelay(t, ad, math.MaxInt))
			for range 100 {
				ad.Observe(backoff.Outcome{})
			}
			assert.Equal(t, c.lowest, ad.Base(), "after many fast successes")
			assert.Equal(t, c.lowest, adaptiveDelay(t, ad, 1))
			for range 100 {
				ad.Observe(backoff.Outcome{Err: errBoom})
			}
			assert.Equal(t, c.greatest, ad.Base(), "after many failures")
			assert.Equal(t, c.greatest, adaptiveDelay(t, ad, 1))
			assert.Equal(t, c.greatest, adaptiveDelay(t, ad, 0))
		})
	}
}

func TestNewAdaptivePanics(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings backoff.AdaptiveSettings
		want     string
	}{
		{"negative Min", backoff.AdaptiveSettings{Min: -1}, "backoff: NewAdaptive: negative Min -1ns"},
		{"negative Max", backoff.AdaptiveSettings{Max: -time.Second}, "backoff: NewAdaptive: negative Max -1s"},
		{"negative Initial", backoff.AdaptiveSettings{Initial: -ms}, "backoff: NewAdaptive: negative Initial -1ms"},
		{"negative FastLatency", backoff.AdaptiveSettings{FastLatency: -ms}, "backoff: NewAdaptive: negative FastLatency -1ms"},
		{"negative Window", backoff.AdaptiveSettings{Window: -1}, "backoff: NewAdaptive: Window -1 outside [0, 16777216]"},
		{"Window too large", backoff.AdaptiveSettings{Window: 1<<24 + 1}, "backoff: NewAdaptive: Window 16777217 outside [0, 16777216]"},
		{"negative HighErrorRate", backoff.AdaptiveSettings{HighErrorRate: -0.1}, "backoff: NewAdaptive: HighErrorRate -0.1 outside [0, 1]"},
		{"HighErrorRate above 1", backoff.AdaptiveSettings{HighErrorRate: 1.5}, "backoff: NewAdaptive: HighErrorRate 1.5 outside [0, 1]"},
		{"HighErrorRate NaN", backoff.AdaptiveSettings{HighErrorRate: math.NaN()}, "backoff: NewAdaptive: HighErrorRate NaN outside [0, 1]"},
		{"HighErrorRate +Inf", backoff.AdaptiveSettings{HighErrorRate: math.Inf(1)}, "backoff: NewAdaptive: HighErrorRate +Inf outside [0, 1]"},
		{"Min above Max", backoff.AdaptiveSettings{Min: 2 * time.Second, Max: time.Second}, "backoff: NewAdaptive: Min 2s above Max 1s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.PanicsWithValue(t, c.want, func() { backoff.NewAdaptive(c.settings) })
		})
	}
}

// failingThenOK returns an op that takes latency, fails with err for its
// first failures calls, and succeeds after.
func failingThenOK(failures int, err error, latency time.Duration) func(context.Context) error {
	calls := 0
	return func(context.Context) error {
		time.Sleep(latency)
		calls++
		if calls <= failures {
			return err
		}
		return nil
	}
}

// waitsOf runs Do with ad on its own goroutine, as a separate caller would,
// and returns the waits it was given and its error.
func waitsOf(ad *backoff.Adaptive, attempts int, op func(context.Context) error) ([]time.Duration, error) {
	var (
		waits []time.Duration
		err   error
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		err = backoff.Do(context.Background(), op,
			backoff.WithStrategy(ad),
			backoff.WithMaxAttempts(attempts),
			backoff.WithNotify(func(_ backoff.Attempt, wait time.Duration) { waits = append(waits, wait) }))
	}()
	<-done
	return waits, err
}

func TestAdaptiveLearnsAcrossCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := backoff.NewAdaptive(backoff.AdaptiveSettings{})
		alone := backoff.NewAdaptive(backoff.AdaptiveSettings{})

		// Caller A meets an outage: four attempts, each 503 after 10ms.
		start := time.Now()
		waits, err := waitsOf(shared, 4, failingThenOK(math.MaxInt, errUnavail, 10*ms))
		require.ErrorIs(t, err, backoff.ErrExhausted)
		require.ErrorIs(t, err, errUnavail)
		// base 200ms, 400ms, 800ms, each doubled again for the error rate of 1.
		assert.Equal(t, []time.Duration{400 * ms, 1600 * ms, 5 * time.Second}, waits)
		assert.Equal(t, 4*10*ms+7*time.Second, time.Since(start))
		assert.Equal(t, 1600*ms, shared.Base())
		assert.Equal(t, 1.0, shared.ErrorRate())

		// Caller B fails once, then succeeds. Sharing A's Adaptive, its
		// first wait is already the longest; on an Adaptive of its own it
		// would have waited 400ms.
		start = time.Now()
		waits, err = waitsOf(shared, 4, failingThenOK(1, errInternal, 10*ms))
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{5 * time.Second}, waits) // 3.2s·2, capped
		assert.Equal(t, 20*ms+5*time.Second, time.Since(start))
		assert.Equal(t, 1600*ms, shared.Base()) // 3.2s, halved by the fast success
		assert.Equal(t, 5.0/6, shared.ErrorRate())

		waits, err = waitsOf(alone, 4, failingThenOK(1, errInternal, 10*ms))
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{400 * ms}, waits)
		assert.Equal(t, 100*ms, alone.Base())
		assert.Equal(t, 0.5, alone.ErrorRate())
	})
}

func TestAdaptiveRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ad := backoff.NewAdaptive(backoff.AdaptiveSettings{})
		_, err := waitsOf(ad, 6, failingThenOK(math.MaxInt, errTooMany, 0))
		require.ErrorIs(t, err, backoff.ErrExhausted)
		require.Equal(t, 5*time.Second, ad.Base())

		// The service recovers: each call succeeds at once, in 5ms, faster
		// than FastLatency, and halves the base for every caller.
		var bases []time.Duration
		for range 10 {
			waits, err := waitsOf(ad, 4, failingThenOK(0, nil, 5*ms))
			require.NoError(t, err)
			require.Empty(t, waits)
			bases = append(bases, ad.Base())
		}
		assert.Equal(t, []time.Duration{
			2500 * ms, 1250 * ms, 625 * ms, 312500 * time.Microsecond, 156250 * time.Microsecond,
			78125 * time.Microsecond, 39062500, 19531250, 10 * ms, 10 * ms,
		}, bases)
		assert.Equal(t, 6.0/16, ad.ErrorRate())

		// A new failure now waits little: the base doubled from Min, and
		// the error rate, 7/17, is not high.
		waits, err := waitsOf(ad, 2, failingThenOK(1, errBoom, 5*ms))
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{20 * ms}, waits)
	})
}

func TestAdaptiveLatencyOnRetryClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ad := backoff.NewAdaptive(backoff.AdaptiveSettings{FastLatency: 10 * ms})
		for i, c := range []struct {
			latency  time.Duration
			wantBase time.Duration
		}{
			{20 * ms, 100 * ms}, // seeds the typical latency: 20ms
			{60 * ms, 100 * ms}, // exactly 3×; typical 25ms
			{76 * ms, 200 * ms}, // above 75ms: slow; typical 31.375ms
			{30 * ms, 200 * ms},
			{9 * ms, 100 * ms}, // fast
		} {
			_, err := waitsOf(ad, 1, failingThenOK(0, nil, c.latency))
			require.NoError(t, err)
			require.Equal(t, c.wantBase, ad.Base(), "after call %d", i)
		}
	})
}

func TestAdaptiveThroughRetryIgnoresPermanentAndCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ad := backoff.NewAdaptive(backoff.AdaptiveSettings{})
		_, err := waitsOf(ad, 4, failingThenOK(math.MaxInt, errBadRequest, 10*ms))
		require.ErrorIs(t, err, backoff.ErrPermanent)

		ctx, cancel := context.WithCancel(context.Background())
		err = backoff.Do(ctx, func(ctx context.Context) error {
			cancel()
			return ctx.Err()
		}, backoff.WithStrategy(ad))
		require.ErrorIs(t, err, context.Canceled)

		assert.Equal(t, 100*ms, ad.Base())
		assert.Equal(t, 0.0, ad.ErrorRate())
	})
}

func TestAdaptiveConcurrent(t *testing.T) {
	const (
		goroutines = 8
		rounds     = 3000
		minBase    = ms
		maxBase    = time.Second
		window     = 64
	)
	ad := backoff.NewAdaptive(backoff.AdaptiveSettings{Min: minBase, Max: maxBase, Window: window, FastLatency: 10 * ms})
	outcomes := []backoff.Outcome{
		{Err: errBoom, Latency: 5 * ms},
		{Latency: ms},          // fast
		{Latency: time.Second}, // slow, once the typical latency is low
		{Err: errBadRequest},   // teaches nothing
		{Latency: 20 * ms},     // ordinary
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				ad.Observe(outcomes[(g+i)%len(outcomes)])
				d, ok := ad.Delay(backoff.Attempt{Number: i%70 - 2})
				base, rate := ad.Base(), ad.ErrorRate()
				if !ok || d < minBase || d > maxBase || base < minBase || base > maxBase || !(rate >= 0 && rate <= 1) {
					t.Errorf("goroutine %d round %d: Delay %v %v, Base %v, ErrorRate %v", g, i, d, ok, base, rate)
					return
				}
			}
		})
	}
	wg.Wait()

	// Whatever the interleaving, a full window of failures and then one of
	// fast successes leave exact values.
	for range window {
		ad.Observe(backoff.Outcome{Err: errBoom})
	}
	assert.Equal(t, 1.0, ad.ErrorRate())
	assert.Equal(t, maxBase, ad.Base())
	for range window {
		ad.Observe(backoff.Outcome{})
	}
	assert.Equal(t, 0.0, ad.ErrorRate())
	assert.Equal(t, minBase, ad.Base())
}

func TestAdaptiveAllocatesNothing(t *testing.T) {
	ad := backoff.NewAdaptive(backoff.AdaptiveSettings{FastLatency: 10 * ms})
	wrapped := fmt.Errorf("call: %w", errUnavail)
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"Observe failure", func() { ad.Observe(backoff.Outcome{Err: wrapped, Latency: ms}) }},
		{"Observe fast success", func() { ad.Observe(backoff.Outcome{Latency: ms}) }},
		{"Observe slow success", func() { ad.Observe(backoff.Outcome{Latency: time.Minute}) }},
		{"Observe permanent", func() { ad.Observe(backoff.Outcome{Err: errBadRequest}) }},
		{"Observe canceled", func() { ad.Observe(backoff.Outcome{Err: context.Canceled}) }},
		{"Delay", func() { ad.Delay(backoff.Attempt{Number: 3, Err: wrapped}) }},
		{"Base and ErrorRate", func() { _, _ = ad.Base(), ad.ErrorRate() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(200, c.f))
		})
	}
}

// FuzzAdaptive feeds any settings and any run of outcomes to an Adaptive:
// bad settings panic in NewAdaptive with a backoff: message, and otherwise
// Observe and Delay never panic, and the base, the waits and the error rate
// stay in their bounds.
func FuzzAdaptive(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), int64(0), 0, 0.0, []byte{0, 1, 2, 3, 4}, 3)
	f.Add(int64(ms), int64(time.Second), int64(time.Hour), int64(10*ms), 3, 0.2, []byte{0, 0, 0, 1, 3, 3, 2}, math.MaxInt)
	f.Add(int64(1), int64(math.MaxInt64), int64(1), int64(1), 64, 1.0, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 40)
	f.Add(int64(-1), int64(0), int64(0), int64(0), 0, 0.5, []byte{}, 1)
	f.Add(int64(2), int64(1), int64(0), int64(0), 0, 0.5, []byte{}, 1)
	f.Add(int64(0), int64(0), int64(0), int64(0), 0, math.NaN(), []byte{}, 1)
	f.Fuzz(func(t *testing.T, lo, hi, initial, fast int64, window int, high float64, ops []byte, number int) {
		s := backoff.AdaptiveSettings{
			Min: time.Duration(lo), Max: time.Duration(hi), Initial: time.Duration(initial),
			Window: window % (1 << 12), HighErrorRate: high, FastLatency: time.Duration(fast),
		}
		invalid := s.Min < 0 || s.Max < 0 || s.Initial < 0 || s.FastLatency < 0 || s.Window < 0 ||
			!(high >= 0 && high <= 1) || (s.Min > 0 && s.Max > 0 && s.Min > s.Max)
		if invalid {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "backoff: NewAdaptive: ") {
					t.Fatalf("NewAdaptive(%+v) panicked with %q, want a backoff: message", s, msg)
				}
			}()
			backoff.NewAdaptive(s)
			t.Fatalf("NewAdaptive(%+v) did not panic", s)
		}
		ad := backoff.NewAdaptive(s)
		greatest := adaptiveDelay(t, ad, math.MaxInt)
		if s.Max > 0 && greatest != s.Max {
			t.Fatalf("Delay(MaxInt) = %v, want Max %v", greatest, s.Max)
		}
		check := func(step int) {
			base, rate := ad.Base(), ad.ErrorRate()
			if base <= 0 || base > greatest || (s.Min > 0 && base < s.Min) {
				t.Fatalf("step %d: Base %v outside (0, %v], Min %v", step, base, greatest, s.Min)
			}
			if !(rate >= 0 && rate <= 1) {
				t.Fatalf("step %d: ErrorRate %v", step, rate)
			}
			prev := time.Duration(0)
			for _, n := range []int{math.MinInt, 0, 1, 2, 3, 40, 63, 64, number, math.MaxInt} {
				d := adaptiveDelay(t, ad, n)
				if d < base || d > greatest {
					t.Fatalf("step %d: Delay(%d) = %v outside [%v, %v]", step, n, d, base, greatest)
				}
				if n >= 1 && n != number && d < prev {
					t.Fatalf("step %d: Delay(%d) = %v below an earlier %v", step, n, d, prev)
				}
				if n >= 1 && n != number {
					prev = d
				}
			}
		}
		check(-1)
		outcomes := [...]backoff.Outcome{
			{Err: errBoom, Latency: time.Duration(fast)},
			{Latency: time.Duration(fast) / 2},
			{Latency: time.Duration(initial)},
			{Err: errBadRequest},
			{Latency: time.Duration(lo) * 7},
		}
		for i, op := range ops {
			ad.Observe(outcomes[int(op)%len(outcomes)])
			check(i)
		}
	})
}
