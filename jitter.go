package backoff

import (
	"fmt"
	"math"
	"time"
)

// unit clamps r into [0,1): the range that Attempt.Random promises. Values
// outside it (or NaN) come only from hand-made Attempts; clamping keeps every
// jittered wait inside its documented range whatever they hold.
func unit(r float64) float64 {
	switch {
	case !(r > 0): // also NaN
		return 0
	case r >= 1:
		return math.Nextafter(1, 0)
	}
	return r
}

// frac returns d·r for r = unit(r), in [0, d) when d > 0: a product that
// float rounding would lift to d itself is pulled back below it.
func frac(d time.Duration, r float64) time.Duration {
	if d <= 0 {
		return 0
	}
	return min(scaleCapped(d, unit(r), d), d-1)
}

// observing returns the jitter j of s, made an [Observer] that passes every
// outcome on to s when s is one, so that a jittered [Adaptive] still learns.
// The jitter of a strategy that observes nothing stays no Observer, so that
// Retry reads no clock for it.
func observing(j, s Strategy) Strategy {
	if o, ok := s.(Observer); ok {
		return observedJitter{j, o}
	}
	return j
}

type observedJitter struct {
	Strategy
	o Observer
}

func (j observedJitter) Observe(o Outcome) { j.o.Observe(o) }

// FullJitter returns a strategy that waits d·Random, in [0, d), where d is
// what s returns; it stops when s stops. Spreading waits over the whole range
// is what AWS measured best for many clients contending for one resource.
// The result is an [Observer] when s is one. A nil s panics. The result is
// safe for concurrent use when s is.
func FullJitter(s Strategy) Strategy {
	if s == nil {
		panic("backoff: FullJitter: nil strategy")
	}
	return observing(fullJitter{s}, s)
}

type fullJitter struct{ s Strategy }

func (j fullJitter) Delay(a Attempt) (time.Duration, bool) {
	d, ok := j.s.Delay(a)
	if !ok {
		return 0, false
	}
	return frac(d, a.Random), true
}

// EqualJitter returns a strategy that waits d/2 + (d/2)·Random, in [d/2, d),
// where d is what s returns; it stops when s stops. It keeps half of the wait
// and spreads the other half. The result is an [Observer] when s is one. A
// nil s panics. The result is safe for concurrent use when s is.
func EqualJitter(s Strategy) Strategy {
	if s == nil {
		panic("backoff: EqualJitter: nil strategy")
	}
	return observing(equalJitter{s}, s)
}

type equalJitter struct{ s Strategy }

func (j equalJitter) Delay(a Attempt) (time.Duration, bool) {
	d, ok := j.s.Delay(a)
	if !ok {
		return 0, false
	}
	half := nonNegative(d) / 2
	return half + frac(half, a.Random), true
}

// ProportionalJitter returns a strategy that waits d·(1 − f + 2f·Random), in
// [d·(1−f), d·(1+f)), where d is what s returns; it stops when s stops.
// gRPC uses f = 0.2; f = 0.5 spreads waits over [0.5d, 1.5d). The wait may
// exceed s's own cap by up to the factor 1+f, and saturates at the largest
// time.Duration.
//
// The result is an [Observer] when s is one. A nil s, or an f outside
// [0, 1] (or NaN), panics. The result is safe for concurrent use when s is.
func ProportionalJitter(s Strategy, f float64) Strategy {
	if s == nil {
		panic("backoff: ProportionalJitter: nil strategy")
	}
	if !(f >= 0 && f <= 1) {
		panic(fmt.Sprintf("backoff: ProportionalJitter: factor %v outside [0, 1]", f))
	}
	return observing(proportionalJitter{s, f}, s)
}

type proportionalJitter struct {
	s Strategy
	f float64
}

func (j proportionalJitter) Delay(a Attempt) (time.Duration, bool) {
	d, ok := j.s.Delay(a)
	if !ok {
		return 0, false
	}
	d = nonNegative(d)
	if j.f == 0 {
		// Exactly d: a float64 product would round a wait above 2⁵³ns.
		return d, true
	}
	w := scaleCapped(d, 1-j.f+2*j.f*unit(a.Random), maxDuration)
	// Float rounding can lift a Random just below 1 to the top d·(1+f)
	// itself, which the range leaves out: step back below it, unless the
	// wait saturated or the range is too narrow to hold two values.
	if hi := scaleCapped(d, 1+j.f, maxDuration); hi < maxDuration &&
		float64(w) >= float64(d)*(1+j.f) && hi > scaleCapped(d, 1-j.f, maxDuration) {
		w = hi - 1
	}
	return w, true
}

// Decorrelated is decorrelated jitter: each wait is drawn uniformly from
// [Initial, min(Max, 3·max(Prev, Initial))), so it grows from the previous
// wait rather than from the attempt count, and waits spread out instead of
// piling up at Max (a soft cap).
//
// Initial ≤ 0 means 100ms; Max ≤ 0 means no cap; a Max below Initial makes
// every wait Max. Decorrelated is safe for concurrent use by multiple
// goroutines.
type Decorrelated struct {
	Initial time.Duration // the least wait; 0: 100ms
	Max     time.Duration // the cap; 0: uncapped
}

// Delay returns a wait drawn from a.Prev and a.Random, and true.
func (d Decorrelated) Delay(a Attempt) (time.Duration, bool) {
	limit := capOf(d.Max)
	initial := d.Initial
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if initial >= limit {
		return limit, true
	}
	base := max(a.Prev, initial)
	upper := limit
	if base <= limit/3 {
		upper = min(3*base, limit)
	}
	return initial + frac(upper-initial, a.Random), true
}

// Classified is the error-classified strategy: it waits per Transient for a
// [Transient] error, per Temporary for a [Temporary] one, and stops on a
// [Permanent] one (and on any class beyond Permanent).
//
// A nil Transient means FullJitter(Exponential{Initial: 200ms, Max: 30s}).
// A nil Temporary means server-paced: a.After·(1 + 0.2·Random) when the
// server asked for a wait ([Attempt].After), never less than it asked and
// spread so that callers told the same time do not come back in lockstep;
// else 1s·(1 + 0.2·Random). Both saturate at the largest time.Duration.
// Classified is no [Observer]: a
// field that learns from outcomes, such as [Adaptive], is not told them
// through it. Classified is safe for concurrent use when its fields are.
type Classified struct {
	Transient Strategy // for brief faults: growing waits
	Temporary Strategy // for a service that asks for time: steady waits
}

// defaultTransient is the strategy of a nil Classified.Transient, built once
// so that a zero Classified allocates nothing.
var defaultTransient Strategy = fullJitter{Exponential{Initial: 200 * time.Millisecond, Max: 30 * time.Second}}

// Delay returns the wait of the strategy that a.Class picks, or false for a
// Permanent error.
func (c Classified) Delay(a Attempt) (time.Duration, bool) {
	var s Strategy
	switch a.Class {
	case Transient:
		s = c.Transient
		if s == nil {
			s = defaultTransient
		}
	case Temporary:
		s = c.Temporary
		if s == nil {
			return serverPaced(a), true
		}
	default:
		return 0, false
	}
	d, ok := s.Delay(a)
	return nonNegative(d), ok
}

// serverPaced is the wait of a nil Classified.Temporary.
func serverPaced(a Attempt) time.Duration {
	d := time.Second
	if a.After > 0 {
		d = a.After
	}
	// d plus a fifth of d·Random, added rather than scaled by 1.2·Random:
	// a product of d would round a long wait away from d itself.
	return time.Duration(addSat(int64(d), int64(frac(d/5, a.Random))))
}
