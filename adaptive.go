package backoff

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The defaults of [AdaptiveSettings].
const (
	defaultAdaptiveMin           = 10 * time.Millisecond
	defaultAdaptiveMax           = 5 * time.Second
	defaultAdaptiveInitial       = 100 * time.Millisecond
	defaultAdaptiveWindow        = 100
	defaultAdaptiveHighErrorRate = 0.5
	defaultAdaptiveFastLatency   = 100 * time.Millisecond

	// maxAdaptiveWindow bounds Window: one bit per outcome, so 2 MiB.
	maxAdaptiveWindow = 1 << 24
)

// AdaptiveSettings configures [NewAdaptive]. A zero field means its default;
// so a HighErrorRate of 0 means 0.5, and waits that double on any failure in
// the window take a tiny positive rate such as 1e-9.
//
// A negative duration or Window, a Window above 16,777,216 (1<<24), a
// HighErrorRate outside [0, 1] or NaN, or a Min above Max when both are set,
// makes NewAdaptive panic. When only one of Min and Max is set and the
// other's default would put Min above Max, the default gives way: an unset
// Min is lowered to Max, an unset Max raised to Min. Initial is clamped into
// [Min, Max].
// AdaptiveSettings is a plain value, read once by NewAdaptive.
type AdaptiveSettings struct {
	Min, Max      time.Duration // bounds of the learned base wait; defaults 10ms and 5s
	Initial       time.Duration // the base wait to start from; default 100ms
	Window        int           // outcomes remembered for the error rate; default 100
	HighErrorRate float64       // above it, waits double again; default 0.5 (1: never)
	FastLatency   time.Duration // a success faster than this halves the base; default 100ms
}

// Adaptive is a [Strategy] and an [Observer] that learns one service's health
// from the outcomes of every call to it, so that when the service degrades
// every caller waits longer, and when it recovers every caller speeds up
// again. Build one per service with [NewAdaptive] and give it to every
// [Retry] that calls the service, directly through [WithStrategy]: Retry
// reports outcomes only to a strategy that is itself an Observer, so a
// wrapper that does not pass Observe on keeps it from learning. Its waits
// carry no jitter.
//
// It keeps a base wait in [Min, Max], moved by each outcome it observes:
//   - a failure doubles the base, up to Max;
//   - a success faster than FastLatency halves it, down to Min;
//   - a success slower than three times the typical latency (see below) is a
//     warning of overload and doubles it, up to Max;
//   - any other success leaves it alone.
//
// The fast rule is checked first: FastLatency is an absolute promise of
// health, so a success under it halves the base even when it is more than
// three times a still smaller typical latency.
//
// A failure is an error that [Classify] calls [Transient] or [Temporary]:
// a Temporary error (429, 503) means the service is overloaded, which is
// exactly when callers should back off further. An error that Classify calls
// [Permanent] (a 400 from a healthy service), and context.Canceled (the
// caller gave up, whatever its mark), teach nothing: they move neither the
// base nor the error rate. Adaptive uses Classify even when the Retry has its
// own classifier, which it cannot see; mark errors with [Mark] to steer it.
// An attempt cut short by the caller's deadline is a failure
// (context.DeadlineExceeded is Transient): the service was too slow for it.
//
// The typical latency is a moving average of success latencies, weighted 1/8
// for the newest, as TCP smooths its round-trip time (RFC 6298). The first
// success seeds it with its own latency and is never slow; each later
// success is judged against the average before that success joins it.
// Failures do not enter it: a refused connection is fast and a timeout is as
// long as the caller allowed, and neither says how long the service takes.
//
// Adaptive also keeps the error rate over the last Window outcomes that
// taught something: failures divided by the outcomes seen, so before Window
// outcomes have arrived it is the rate over those that have. While that rate
// is above HighErrorRate, every wait is doubled once more (see
// [Adaptive.Delay]).
//
// Adaptive is safe for concurrent use by multiple goroutines. Observe and
// Delay allocate nothing; Observe takes a short lock, and Delay and Base
// take none (but for the first use of a zero Adaptive). The zero Adaptive
// is ready to use, with the default settings; an Adaptive must not be
// copied after first use.
type Adaptive struct {
	// snap publishes what Delay needs in one word, so that it reads a
	// consistent pair without the lock: the base in the low 63 bits (a
	// Duration is never negative here), and highBit while the error rate is
	// above HighErrorRate. It is 0 only before set-up, as the base is at
	// least Min > 0 afterwards.
	snap atomic.Uint64

	// The settings, resolved. Written once, under mu, before the first
	// store to snap; read without mu only after a load of snap that is not 0.
	min, max time.Duration
	fast     time.Duration
	high     float64
	window   int

	mu         sync.Mutex // protects the fields below and the set-up
	base       time.Duration
	typical    time.Duration // the smoothed success latency, once hasTypical
	hasTypical bool
	ring       []uint64 // the last window outcomes, one bit each: 1 for a failure
	next       int      // the ring's bit for the next outcome
	seen       int      // outcomes in the ring, up to window
	failures   int      // 1 bits in the ring
}

const highBit = 1 << 63

// NewAdaptive returns an Adaptive configured by s; see [AdaptiveSettings] for
// the defaults and the settings that make it panic.
func NewAdaptive(s AdaptiveSettings) *Adaptive {
	a := new(Adaptive)
	a.setUp(s)
	return a
}

// setUp resolves s into a's settings and starts it learning. The caller
// holds a.mu or is the only one with a.
func (a *Adaptive) setUp(s AdaptiveSettings) {
	for _, f := range [...]struct {
		name string
		d    time.Duration
	}{{"Min", s.Min}, {"Max", s.Max}, {"Initial", s.Initial}, {"FastLatency", s.FastLatency}} {
		if f.d < 0 {
			panic(fmt.Sprintf("backoff: NewAdaptive: negative %s %v", f.name, f.d))
		}
	}
	if s.Window < 0 || s.Window > maxAdaptiveWindow {
		panic(fmt.Sprintf("backoff: NewAdaptive: Window %d outside [0, %d]", s.Window, maxAdaptiveWindow))
	}
	if !(s.HighErrorRate >= 0 && s.HighErrorRate <= 1) {
		panic(fmt.Sprintf("backoff: NewAdaptive: HighErrorRate %v outside [0, 1]", s.HighErrorRate))
	}
	if s.Min > 0 && s.Max > 0 && s.Min > s.Max {
		panic(fmt.Sprintf("backoff: NewAdaptive: Min %v above Max %v", s.Min, s.Max))
	}

	lo, hi := s.Min, s.Max
	switch {
	case lo == 0 && hi == 0:
		lo, hi = defaultAdaptiveMin, defaultAdaptiveMax
	case lo == 0:
		lo = min(defaultAdaptiveMin, hi)
	case hi == 0:
		hi = max(defaultAdaptiveMax, lo)
	}
	initial := cmp.Or(s.Initial, defaultAdaptiveInitial)
	a.min, a.max = lo, hi
	a.fast = cmp.Or(s.FastLatency, defaultAdaptiveFastLatency)
	a.high = cmp.Or(s.HighErrorRate, defaultAdaptiveHighErrorRate)
	a.window = cmp.Or(s.Window, defaultAdaptiveWindow)
	a.base = min(max(initial, lo), hi)
	a.ring = make([]uint64, (a.window+63)/64)
	a.publish()
}

// load returns the published state, setting up a zero Adaptive first.
func (a *Adaptive) load() uint64 {
	if s := a.snap.Load(); s != 0 {
		return s
	}
	a.mu.Lock()
	if a.ring == nil {
		a.setUp(AdaptiveSettings{})
	}
	a.mu.Unlock()
	return a.snap.Load()
}

// publish stores the base and the high-error flag for Delay. a.mu is held.
func (a *Adaptive) publish() {
	s := uint64(a.base)
	if a.rate() > a.high {
		s |= highBit
	}
	a.snap.Store(s)
}

// rate is the error rate over the window. a.mu is held.
func (a *Adaptive) rate() float64 {
	if a.seen == 0 {
		return 0
	}
	return float64(a.failures) / float64(a.seen)
}

// Base returns the learned base wait, in [Min, Max]: the wait that Delay
// gives before the first retry while the error rate is not high.
func (a *Adaptive) Base() time.Duration {
	return time.Duration(a.load() &^ highBit)
}

// ErrorRate returns the share of failures among the last Window outcomes
// that taught something, in [0, 1]; 0 before any.
func (a *Adaptive) ErrorRate() float64 {
	a.load()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rate()
}

// Delay returns base·2^(Number−1), doubled once more while the error rate is
// above HighErrorRate, capped at Max, and true. A Number below 1 counts as 1;
// the growth saturates at Max for any Number, so the wait is always in
// [Min, Max]. Delay never says stop: how many attempts to make is the
// Retry's decision ([WithMaxAttempts], [WithMaxElapsed]), not the service's.
//
// Of the Attempt, only Number counts: Err, Class, Prev and Random are not
// used, so the waits carry no jitter. A server's Retry-After is applied by
// Retry on top of the wait.
func (a *Adaptive) Delay(at Attempt) (time.Duration, bool) {
	s := a.load()
	shift := max(at.Number, 1) - 1 // at most math.MaxInt−1, so shift+1 below cannot overflow
	if s&highBit != 0 {
		shift++
	}
	return shiftCapped(time.Duration(s&^highBit), shift, a.max), true
}

// shiftCapped returns d·2^n capped at limit, for 0 < d and n ≥ 0. A shift by
// 63 or more makes limit>>n 0 in Go, so a large n saturates too.
func shiftCapped(d time.Duration, n int, limit time.Duration) time.Duration {
	if d >= limit || d > limit>>n {
		return limit
	}
	return d << n
}

// Observe learns from the outcome of one attempt; see [Adaptive] for the
// rules. A negative Latency counts as 0.
func (a *Adaptive) Observe(o Outcome) {
	// Classify before the lock: it may walk a long chain of wrapped errors.
	if o.Err != nil && (Classify(o.Err) >= Permanent || errors.Is(o.Err, context.Canceled)) {
		return
	}
	a.load()
	a.mu.Lock()
	defer a.mu.Unlock()
	if o.Err != nil {
		a.record(true)
		a.base = shiftCapped(a.base, 1, a.max)
		a.publish()
		return
	}
	a.record(false)
	lat := nonNegative(o.Latency)
	switch {
	case lat < a.fast:
		a.base = max(a.base/2, a.min)
	case a.hasTypical && a.typical <= maxDuration/3 && lat > 3*a.typical:
		a.base = shiftCapped(a.base, 1, a.max)
	}
	if a.hasTypical {
		// Both are ≥ 0, so the difference cannot overflow, and the sum stays
		// between them.
		a.typical += (lat - a.typical) / 8
	} else {
		a.typical, a.hasTypical = lat, true
	}
	a.publish()
}

// record puts one outcome into the ring, pushing out the oldest once the
// window is full. a.mu is held.
func (a *Adaptive) record(failed bool) {
	word, bit := a.next/64, uint64(1)<<(a.next%64)
	if a.seen == a.window {
		if a.ring[word]&bit != 0 {
			a.failures--
		}
	} else {
		a.seen++
	}
	if failed {
		a.ring[word] |= bit
		a.failures++
	} else {
		a.ring[word] &^= bit
	}
	if a.next++; a.next == a.window {
		a.next = 0
	}
}

var (
	_ Strategy = (*Adaptive)(nil)
	_ Observer = (*Adaptive)(nil)
)
