// Package backoff makes calls to flaky services succeed without hurting those
// services.
//
// A [Strategy] decides how long to wait between attempts ([Fixed], [Linear],
// [Exponential], the jitters such as [FullJitter], [Decorrelated], [Adaptive]
// and the error-classified [Classified]); [Retry] and [Do] drive the attempts,
// classifying each error ([Classify]) and optionally guarded by a [Breaker]
// and a [Budget]; [Transport] retries HTTP requests. Every time-dependent part
// takes its time from a [Clock], so tests run on fake clocks.
package backoff

import (
	"math"
	"time"
)

// maxDuration is the largest time.Duration; growth saturates there.
const maxDuration = time.Duration(math.MaxInt64)

// Fixed waits the same time before every retry. A negative Fixed waits 0.
// Fixed is safe for concurrent use by multiple goroutines.
type Fixed time.Duration

// Delay returns f (0 if f is negative) and true.
func (f Fixed) Delay(Attempt) (time.Duration, bool) {
	return nonNegative(time.Duration(f)), true
}

// Linear waits Initial + Step·(Number−1), capped at Max.
//
// Negative Initial and Step count as 0, and Max ≤ 0 means no cap; growth
// saturates at the largest time.Duration. A Number below 1 counts as 1.
// Linear is safe for concurrent use by multiple goroutines.
type Linear struct {
	Initial time.Duration // the first wait
	Step    time.Duration // added for each further failure
	Max     time.Duration // the cap; 0: uncapped
}

// Delay returns the wait for a.Number and true.
func (l Linear) Delay(a Attempt) (time.Duration, bool) {
	limit := capOf(l.Max)
	initial, step := nonNegative(l.Initial), nonNegative(l.Step)
	if initial >= limit {
		return limit, true
	}
	// Number is compared before subtracting: math.MinInt−1 would wrap to
	// math.MaxInt and turn the first wait into the cap.
	if a.Number <= 1 || step == 0 {
		return initial, true
	}
	n := a.Number - 1
	// initial + step·n ≤ limit  ⇔  n ≤ (limit−initial)/step, checked without overflow.
	if time.Duration(n) > (limit-initial)/step {
		return limit, true
	}
	return initial + step*time.Duration(n), true
}

// Exponential waits Initial · Multiplier^(Number−1), capped at Max.
//
// Initial ≤ 0 means 100ms; a Multiplier of 0, a negative one or NaN means 2,
// and one between 0 and 1 counts as 1, so the waits never shrink. Max ≤ 0
// means no cap; growth saturates at the largest time.Duration. A Number below
// 1 counts as 1. Exponential is safe for concurrent use by multiple goroutines.
type Exponential struct {
	Initial    time.Duration // the first wait; 0: 100ms
	Multiplier float64       // growth per failure; 0: 2
	Max        time.Duration // the cap; 0: uncapped
}

// Delay returns the wait for a.Number and true.
func (e Exponential) Delay(a Attempt) (time.Duration, bool) {
	limit := capOf(e.Max)
	initial := e.Initial
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	m := e.Multiplier
	switch {
	case m <= 0 || math.IsNaN(m):
		m = 2
	case m < 1:
		m = 1
	}
	if initial >= limit {
		return limit, true
	}
	// As in Linear, Number is compared before subtracting, so that
	// math.MinInt does not wrap around to the largest exponent.
	if a.Number <= 1 || m == 1 {
		return initial, true
	}
	n := a.Number - 1
	if m == 2 && n < 62 {
		// The common case, exact in integers: no float rounding.
		if initial <= limit>>n {
			return min(initial<<n, limit), true
		}
		return limit, true
	}
	return scaleCapped(initial, math.Pow(m, float64(n)), limit), true
}

// capOf turns a Max field into a limit: ≤ 0 means none.
func capOf(max time.Duration) time.Duration {
	if max <= 0 {
		return maxDuration
	}
	return max
}

// scaleCapped returns d·f, at most limit and at least 0, for d ≥ 0 and any f.
func scaleCapped(d time.Duration, f float64, limit time.Duration) time.Duration {
	x := float64(d) * f
	switch {
	case math.IsNaN(x) || x <= 0:
		return 0
	// float64(limit) may round up past limit; anything below it converts safely.
	case x >= float64(limit):
		return limit
	}
	return min(time.Duration(x), limit)
}
