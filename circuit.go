package backoff

import (
	"math"
	"math/big"
	"math/bits"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// State is the state of a [Breaker]. It is a plain value, safe for
// concurrent use.
type State int32

const (
	Closed   State = iota // calls go through, and their failures are counted
	Open                  // calls are refused until the Open period has passed
	HalfOpen              // a few probe calls go through to test the service
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// BreakerSettings configures [NewBreaker]. A zero field means its default.
// A negative field, or a FailureRatio outside [0, 1], makes NewBreaker panic.
// NewBreaker copies the settings, so a BreakerSettings may be reused or
// changed afterwards; the value itself is not safe for concurrent writes.
type BreakerSettings struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row; default 5. A success ends the run; a neutral result (see
	// IsFailure) neither ends nor extends it. math.MaxInt turns the rule off.
	ConsecutiveFailures int

	// FailureRatio also opens the breaker when failures/calls over the last
	// Window reach it, once the Window holds at least MinCalls calls. It is
	// checked when a failure is recorded (a breaker never opens on a
	// success). 0 turns the rule off (the default), and then Allow and Done
	// read no clock in the Closed state.
	//
	// The ratio is compared exactly, in integers: FailureRatio is read as
	// the simplest fraction that rounds to it, so 0.28 is 7/25 and 7
	// failures in 25 calls reach it, and 1.0/3 is 1/3. (A ratio so fine that
	// this fraction needs a denominator above 2^62 is read as the least
	// fraction above it that has none.)
	FailureRatio float64

	// MinCalls is how many calls (successes and failures) the Window must
	// hold before FailureRatio applies; default 20.
	MinCalls int

	// Window is the sliding window of the FailureRatio rule; default 10s.
	// It is kept as 10 buckets of Window/10, so results leave it a bucket
	// at a time. Every close (from HalfOpen, or by Reset) empties it.
	Window time.Duration

	// OpenFor is how long the breaker stays Open before it admits probes;
	// default 30s. It is also how long a probe holds its slot: a probe that
	// has run for the Open period without reporting lets another probe
	// take its slot (its own result, when it comes, still counts).
	OpenFor time.Duration

	// MaxOpenFor, if above OpenFor, lets the Open period grow: each probe
	// that fails doubles the next Open period, up to MaxOpenFor, and a
	// close (or Reset) brings it back to OpenFor. A short stall then costs
	// one short Open, and a long outage is probed rarely. 0 (the default),
	// or any value not above OpenFor, keeps every Open period at OpenFor.
	MaxOpenFor time.Duration

	// HalfOpenProbes is how many probes may run at once in HalfOpen, and
	// how many successes in all close the breaker; default 1.
	HalfOpenProbes int

	// IsFailure tells whether a non-nil error that a call reported is a
	// failure of the service. An error that is not a failure is neutral: it
	// changes no count, and a probe's neutral result just frees its slot.
	// A nil error is always a success. It must be safe for concurrent use.
	//
	// nil means: a failure, except for an error that says nothing against
	// the service, which is neutral:
	//   - a cancellation: errors.Is(err, context.Canceled);
	//   - an error [Classify] says is Permanent (a 400 or 401 from a
	//     healthy service is not the service failing);
	//   - an error that carries a server-requested wait: a [*StatusError]
	//     429, one with a RetryAfter (a 503 with Retry-After, say), or an
	//     error made by [RetryAfter] with a wait above 0. The service is
	//     up and has said when to come back; Retry honours the wait, and a
	//     [Budget] bounds the load.
	// So a plain 503 and a 500 are failures.
	IsFailure func(err error) bool

	// OnStateChange, if set, is told of every change of state, in the order
	// the changes happened, one call at a time and never under the
	// breaker's lock, so it may call back into the breaker. It runs on the
	// goroutine that made the change, unless another change is being
	// delivered at that moment: then the goroutine already delivering
	// delivers this one too, after the one in hand.
	OnStateChange func(from, to State)

	// Clock is the source of time; nil means the real clock.
	Clock Clock
}

// OpenError is the error of a call that a [Breaker] refused. It matches
// [ErrCircuitOpen] with errors.Is. It is never changed after it is returned,
// so it is safe for concurrent use.
type OpenError struct {
	RetryAfter time.Duration // how long until the breaker may admit a call
}

func (e *OpenError) Error() string {
	return "backoff: circuit open, retry after " + e.RetryAfter.String()
}

// Is reports whether target is [ErrCircuitOpen].
func (e *OpenError) Is(target error) bool { return target == ErrCircuitOpen }

// Breaker is a circuit breaker: it stops calls to a service that keeps
// failing, and lets a few probes through after a while to see whether the
// service is back.
//
// Closed, it admits every call and opens on either rule of
// [BreakerSettings]: ConsecutiveFailures, or FailureRatio over a Window.
// Open, it refuses every call with an [*OpenError] that says how long is
// left. Once the Open period has passed it is HalfOpen (State reports it at
// exactly its end): up to HalfOpenProbes probes run at once, HalfOpenProbes
// successes in all close it, and any probe failure opens it again, for
// OpenFor or, with MaxOpenFor, for twice the period before (up to
// MaxOpenFor).
//
// Each call takes a [Permit] from Allow and reports its result to the
// permit's Done. A permit taken before a change of state counts for nothing
// after it, so a slow call from before cannot sway the new state. A probe
// counts as long as the HalfOpen that admitted it lasts, however late it
// reports: a healthy service slower than OpenFor still closes the breaker.
//
// The zero Breaker is ready to use, with the default settings, as
// NewBreaker(BreakerSettings{}) would make it; it must not be copied after
// first use. A Breaker is safe for concurrent use by multiple goroutines. In
// the Closed state, Allow and Done allocate nothing, and with FailureRatio
// 0 they are a few atomic operations: no lock, no clock. With a
// FailureRatio, Done reads the clock once, and the first result of each
// Window/10 takes the lock to start a new bucket.
type Breaker struct {
	// word packs the state, its generation and the current run of
	// consecutive failures, so that the Closed path is a few atomic
	// operations: see wordOf.
	word atomic.Uint64

	// ready is set once the fields below hold their settings: by
	// NewBreaker, or for a zero Breaker by the first call that needs them
	// (see ensure). The Closed fast path needs none of them.
	ready atomic.Bool

	threshold  uint64 // ConsecutiveFailures
	num, den   uint64 // FailureRatio, as the fraction num/den; den 0: off
	minCalls   int64
	width      int64 // of a window bucket, in ns
	openFor    int64 // in ns
	maxOpenFor int64 // the longest Open period, in ns; ≤ openFor: no growth
	isFailure  func(error) bool
	onChange   func(from, to State)
	clock      Clock
	base       time.Time // time 0 of the breaker's time line (see now)

	openUntil atomic.Int64        // while Open: when it ends, on the time line
	buckets   *[numBuckets]bucket // the FailureRatio window; nil when the rule is off
	slice     atomic.Int64        // a recent t/width, which spares most results a division
	turns     atomic.Uint64       // odd while buckets are turned over, spilled or emptied (under mu)

	maxProbes int // HalfOpenProbes

	mu         sync.Mutex // protects the fields below, and serializes changes of state and of the buckets
	period     int64      // the Open period in force: OpenFor, doubled by each probe failure up to MaxOpenFor
	probes     []probe    // the HalfOpen slots in use so far, up to maxProbes
	successes  int        // probe successes in this HalfOpen
	tickets    uint64     // probe tickets handed out so far
	pending    []queued   // changes not yet delivered to onChange and their traces
	delivering bool       // a goroutine is delivering pending
}

// The layout of Breaker.word: the low 32 bits count consecutive failures
// (saturating), the next 2 hold the State, the top 30 a generation that
// changes with every change of state (and on Reset). A Permit keeps the top
// 32 bits it saw, its tag: a result whose tag is no longer current is stale.
const (
	runMask    = 1<<32 - 1
	stateShift = 32
	genShift   = 34
	genMask    = 1<<30 - 1
	numBuckets = 10
)

func wordOf(gen uint64, s State) uint64 { return gen<<genShift | uint64(s)<<stateShift }
func stateOf(w uint64) State            { return State(w >> stateShift & 3) }
func tagOf(w uint64) uint32             { return uint32(w >> stateShift) }

// The defaults of BreakerSettings.
const (
	defaultConsecutiveFailures = 5
	defaultMinCalls            = 20
	defaultWindow              = 10 * time.Second
	defaultOpenFor             = 30 * time.Second
)

// bucket counts the results of one Window/10 slice of time.
type bucket struct {
	epoch atomic.Int64 // which slice (time / width) it counts; -1: none

	// n packs calls (the high 32 bits) and failures (the low 32), so that
	// a failure and its call are added in one step, and a reader never
	// sees the one without the other.
	n atomic.Uint64

	// What n held before it filled up (see spill); changed under mu only.
	calls, failures atomic.Int64
}

const (
	oneCall    = 1 << 32
	failMask   = 1<<32 - 1
	spillAfter = 1 << 31 // calls in n that make it spill: half of what it holds
)

// probe is a HalfOpen slot.
type probe struct {
	ticket uint64 // of the probe that holds it; 0: free
	start  int64  // when it was taken, on the time line
}

type change struct{ from, to State }

// queued is a change to deliver, with the traces of the call that made it,
// told after OnStateChange.
type queued struct {
	change
	tr tracer
}

type outcome uint8

const (
	success outcome = iota
	failure
	neutral
)

// NewBreaker returns a Closed breaker with settings s. A negative field, or a
// FailureRatio outside [0, 1] or NaN, panics.
func NewBreaker(s BreakerSettings) *Breaker {
	for _, f := range [...]struct {
		name string
		v    int64
	}{
		{"ConsecutiveFailures", int64(s.ConsecutiveFailures)},
		{"MinCalls", int64(s.MinCalls)},
		{"Window", int64(s.Window)},
		{"OpenFor", int64(s.OpenFor)},
		{"MaxOpenFor", int64(s.MaxOpenFor)},
		{"HalfOpenProbes", int64(s.HalfOpenProbes)},
	} {
		if f.v < 0 {
			panic("backoff: NewBreaker: negative " + f.name + " " + strconv.FormatInt(f.v, 10))
		}
	}
	if !(s.FailureRatio >= 0 && s.FailureRatio <= 1) {
		panic("backoff: NewBreaker: FailureRatio " + strconv.FormatFloat(s.FailureRatio, 'g', -1, 64) + " is not in [0, 1]")
	}
	b := &Breaker{
		threshold:  uint64(orDefault(s.ConsecutiveFailures, defaultConsecutiveFailures)),
		minCalls:   int64(orDefault(s.MinCalls, defaultMinCalls)),
		openFor:    int64(orDefault(s.OpenFor, defaultOpenFor)),
		maxOpenFor: int64(s.MaxOpenFor),
		isFailure:  s.IsFailure,
		onChange:   s.OnStateChange,
		clock:      s.Clock,
		maxProbes:  orDefault(s.HalfOpenProbes, 1),
	}
	b.period = b.openFor
	// Slots are made as probes need them, so that a huge HalfOpenProbes
	// costs nothing up front; they are kept for the next HalfOpen.
	b.probes = make([]probe, 0, min(b.maxProbes, 8))
	if s.FailureRatio > 0 {
		b.num, b.den = fractionOf(s.FailureRatio)
		b.width = max(int64(orDefault(s.Window, defaultWindow))/numBuckets, 1)
		b.buckets = new([numBuckets]bucket)
		for i := range b.buckets {
			b.buckets[i].epoch.Store(-1)
		}
	}
	if b.onChange != nil {
		// Room for a few undelivered changes, so that changing state does
		// not allocate.
		b.pending = make([]queued, 0, 4)
	}
	b.base = now(b.clock)
	b.ready.Store(true)
	return b
}

// ensure gives a zero Breaker its default settings, once, the first time a
// call needs them. It is called only off the Closed fast path (which needs
// no setting), so that path pays nothing for it. It writes only fields that
// the default settings do not leave zero: those that stay zero (buckets,
// isFailure, onChange, clock) are read without the lock.
func (b *Breaker) ensure() {
	if b.ready.Load() {
		return
	}
	b.mu.Lock()
	if !b.ready.Load() {
		b.threshold = defaultConsecutiveFailures
		b.minCalls = defaultMinCalls
		b.openFor = int64(defaultOpenFor)
		b.period = b.openFor
		b.maxProbes = 1
		b.base = now(nil)
		b.ready.Store(true)
	}
	b.mu.Unlock()
}

// maxDen bounds the denominator of the FailureRatio fraction, so that the
// products compared fit in 128 bits whatever the counts.
const maxDen = 1 << 62

// fractionOf returns FailureRatio r, in (0, 1], as the fraction num/den
// that [BreakerSettings].FailureRatio describes: the simplest fraction that
// rounds to r, or the least fraction with a denominator up to maxDen above
// it. No ratio of counts with a denominator up to maxDen lies between the
// two, so the rule decides the same either way.
func fractionOf(r float64) (num, den uint64) {
	x := new(big.Rat).SetFloat64(r)
	// Every real strictly between the midpoints to r's neighbours rounds
	// to r.
	lo := new(big.Rat).SetFloat64(math.Nextafter(r, 0))
	lo.Add(lo, x).Quo(lo, big.NewRat(2, 1))
	hi := new(big.Rat).SetFloat64(math.Nextafter(r, 2))
	hi.Add(hi, x).Quo(hi, big.NewRat(2, 1))
	f := simplest(lo, hi)
	if f.Denom().Cmp(big.NewInt(maxDen)) > 0 {
		f = ceilFraction(f, maxDen)
	}
	return f.Num().Uint64(), f.Denom().Uint64()
}

// simplest returns the fraction with the least denominator strictly between
// lo and hi, 0 ≤ lo < hi: the integer just above lo if it is below hi,
// else the continued fraction that the two share, one term longer.
func simplest(lo, hi *big.Rat) *big.Rat {
	n := new(big.Int).Quo(lo.Num(), lo.Denom()) // floor, as lo ≥ 0
	up := new(big.Rat).SetInt(new(big.Int).Add(n, big.NewInt(1)))
	if up.Cmp(hi) < 0 {
		return up
	}
	whole := new(big.Rat).SetInt(n)
	flo := new(big.Rat).Sub(lo, whole)
	fhi := new(big.Rat).Sub(hi, whole)
	inv := new(big.Rat).Inv(fhi)
	var rest *big.Rat
	if flo.Sign() == 0 {
		// (n, hi): n + 1/m for the least integer m above 1/(hi-n).
		m := new(big.Int).Quo(inv.Num(), inv.Denom())
		rest = new(big.Rat).SetInt(m.Add(m, big.NewInt(1)))
	} else {
		rest = simplest(inv, new(big.Rat).Inv(flo))
	}
	return whole.Add(whole, rest.Inv(rest))
}

// ceilFraction returns the least fraction at or above x, x > 0, whose
// denominator is at most limit: one of the two neighbours of x among such
// fractions, which x's continued fraction gives (the convergent last
// within the limit, and the semiconvergent beyond it).
func ceilFraction(x *big.Rat, limit int64) *big.Rat {
	lim := big.NewInt(limit)
	p0, q0, p1, q1 := big.NewInt(0), big.NewInt(1), big.NewInt(1), big.NewInt(0)
	num, den := new(big.Int).Set(x.Num()), new(big.Int).Set(x.Denom())
	for den.Sign() != 0 {
		a, m := new(big.Int).QuoRem(num, den, new(big.Int))
		q2 := new(big.Int).Add(q0, new(big.Int).Mul(a, q1))
		if q2.Cmp(lim) > 0 {
			break
		}
		p2 := new(big.Int).Add(p0, new(big.Int).Mul(a, p1))
		p0, q0, p1, q1 = p1, q1, p2, q2
		num, den = den, m
	}
	k := new(big.Int).Quo(new(big.Int).Sub(lim, q0), q1)
	semi := new(big.Rat).SetFrac(
		new(big.Int).Add(p0, new(big.Int).Mul(k, p1)),
		new(big.Int).Add(q0, new(big.Int).Mul(k, q1)))
	conv := new(big.Rat).SetFrac(p1, q1)
	// The two lie on either side of x.
	if conv.Cmp(x) >= 0 {
		return conv
	}
	return semi
}

// addSat is t+d for t, d ≥ 0, saturating at the largest int64.
func addSat(t, d int64) int64 {
	if t > math.MaxInt64-d {
		return math.MaxInt64
	}
	return t + d
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// now is the time on the breaker's time line: nanoseconds since NewBreaker,
// never negative. With the real clock it reads only the monotonic clock.
func (b *Breaker) now() int64 {
	if b.clock == nil {
		return int64(nonNegative(time.Since(b.base)))
	}
	return int64(nonNegative(b.clock.Now().Sub(b.base)))
}

// Permit is the right to make one call, from [Breaker.Allow]. Report the
// call's result to Done exactly once. Permit is a small value, to be copied
// freely; the zero Permit's Done does nothing. A Permit is safe to hand to
// another goroutine, and permits of one breaker may report concurrently, but
// each one is for a single Done.
type Permit struct {
	b      *Breaker
	ticket uint64 // a probe's ticket; 0 for a permit taken while Closed
	tag    uint32 // the generation and state at Allow (see Breaker.word)
	slot   int32  // a probe's slot
	tr     tracer // the traces of the call that holds it, told of the changes it causes
}

// Allow asks for a permit to make one call. It returns an [*OpenError]
// (which errors.Is [ErrCircuitOpen]) when the breaker is Open, or HalfOpen
// with every probe slot taken; RetryAfter is then the time until the Open
// period ends, or until the oldest probe's slot may be given to another.
//
// In the Closed state Allow takes no lock, allocates nothing and reads no
// clock. A refusal allocates its *OpenError.
func (b *Breaker) Allow() (Permit, error) {
	if w := b.word.Load(); stateOf(w) == Closed {
		return Permit{b: b, tag: tagOf(w)}, nil
	}
	return b.allowSlow(tracer{})
}

// allow is Allow for a call whose traces are told of the changes of state
// that it causes.
func (b *Breaker) allow(tr tracer) (Permit, error) {
	if w := b.word.Load(); stateOf(w) == Closed {
		return Permit{b: b, tag: tagOf(w), tr: tr}, nil
	}
	return b.allowSlow(tr)
}

func (b *Breaker) allowSlow(tr tracer) (Permit, error) {
	b.ensure()
	if w := b.word.Load(); stateOf(w) == Open {
		// Refuse without the lock while Open lasts.
		if t, until := b.now(), b.openUntil.Load(); t < until {
			return Permit{}, &OpenError{RetryAfter: time.Duration(until - t)}
		}
	}
	b.mu.Lock()
	p, wait, changed := b.allowLocked(b.now(), tr)
	b.mu.Unlock()
	if changed {
		b.deliverHolding(p)
	}
	if p.b == nil {
		return Permit{}, &OpenError{RetryAfter: time.Duration(wait)}
	}
	return p, nil
}

// allowLocked admits a call at time t, or says how long until it might be
// admitted. changed reports a change of state to deliver.
func (b *Breaker) allowLocked(t int64, tr tracer) (p Permit, wait int64, changed bool) {
	w := b.word.Load()
	switch stateOf(w) {
	case Closed:
		return Permit{b: b, tag: tagOf(w), tr: tr}, 0, false
	case Open:
		if until := b.openUntil.Load(); t < until {
			return Permit{}, until - t, false
		}
		changed = b.setLocked(HalfOpen, t, tr)
		w = b.word.Load()
	}
	wait = math.MaxInt64
	free := -1
	for i := range b.probes {
		s := &b.probes[i]
		if s.ticket == 0 || t-s.start >= b.period {
			// A free slot, or one whose probe has had the Open period to
			// report and did not: another probe may go, so that HalfOpen
			// cannot stick. The slow probe's result still counts.
			free = i
			break
		}
		wait = min(wait, s.start+b.period-t)
	}
	if free < 0 {
		if len(b.probes) == b.maxProbes {
			return Permit{}, wait, changed
		}
		free = len(b.probes)
		b.probes = append(b.probes, probe{})
	}
	b.tickets++
	b.probes[free] = probe{ticket: b.tickets, start: t}
	return Permit{b: b, ticket: b.tickets, tag: tagOf(w), slot: int32(free), tr: tr}, 0, changed
}

// Done reports the result of the permit's call: nil is a success; a non-nil
// err is a failure or neutral, as [BreakerSettings].IsFailure says. A permit
// taken before the breaker last changed state counts for nothing. A probe
// counts, however late, while the HalfOpen that admitted it lasts.
//
// Call Done once per permit: a second call counts the result again.
//
// In the Closed state Done allocates nothing; with FailureRatio 0 it takes
// no lock and reads no clock.
func (p Permit) Done(err error) {
	b := p.b
	if b == nil {
		return
	}
	if err == nil && p.ticket == 0 && b.word.Load() == uint64(p.tag)<<stateShift {
		// Closed, same generation, no run of failures to end: the common
		// case. A success cannot trip the breaker, so all that is left is
		// to count it in the window, if there is one.
		if b.buckets != nil {
			b.countSuccess()
		}
		return
	}
	b.record(p, b.outcomeOf(err))
}

// fail records a failure whatever the error would say: Retry's verdict on
// an attempt that panicked or ran out its own timeout.
func (p Permit) fail() {
	if p.b != nil {
		p.b.record(p, failure)
	}
}

func (b *Breaker) outcomeOf(err error) outcome {
	switch {
	case err == nil:
		return success
	case b.isFailure != nil:
		if b.isFailure(err) {
			return failure
		}
		return neutral
	}
	var f facts
	f.scan(err)
	// f.canceled is errors.Is(err, context.Canceled), whatever the marks
	// above it say.
	if f.canceled || f.class() >= Permanent || f.serverDelay() > 0 ||
		f.status != nil && f.status.Code == http.StatusTooManyRequests {
		return neutral
	}
	return failure
}

func (b *Breaker) record(p Permit, o outcome) {
	b.ensure()
	if p.ticket != 0 {
		b.probeDone(p, o)
		return
	}
	if o == neutral {
		return
	}
	var run uint64
	for {
		w := b.word.Load()
		if tagOf(w) != p.tag {
			return // stale
		}
		run = 0
		if o == failure {
			run = min(w&runMask+1, runMask)
		} else if w&runMask == 0 {
			break
		}
		if b.word.CompareAndSwap(w, w&^runMask|run) {
			break
		}
	}
	trip := o == failure && run >= b.threshold
	if b.buckets != nil {
		t := b.now()
		b.count(t, o == failure)
		trip = trip || o == failure && b.ratioReached(t)
	}
	if trip {
		b.trip(p.tag, p.tr)
	}
}

// sliceOf returns t/width: most often the slice of the result before.
func (b *Breaker) sliceOf(t int64) int64 {
	i := b.slice.Load()
	if d := t - i*b.width; d >= 0 && d < b.width {
		return i
	}
	i = t / b.width
	b.slice.Store(i)
	return i
}

// countSuccess adds a success, now, to the window: what [Permit.Done] does
// in the common case of a ratio breaker, so it does only that. It is count
// without the arguments, and without the turn-over of a bucket, which it
// leaves to count.
//
// Reading the clock is most of its cost, and it cannot be spared: a success
// counted in a slice older than its own would leave the window early and
// raise the ratio (a trip the exact rule would not make), one counted in a
// newer slice would stay too long, and only a reading taken during Done
// tells which slice is its own.
func (b *Breaker) countSuccess() {
	t := b.now()
	i := b.sliceOf(t)
	k := &b.buckets[uint64(i)%numBuckets]
	if k.epoch.Load() != i {
		b.count(t, false)
		return
	}
	if k.n.Add(oneCall)>>32 >= spillAfter {
		b.spill(k)
	}
}

// count adds a result at time t to the window.
func (b *Breaker) count(t int64, failed bool) {
	i := b.sliceOf(t)
	k := &b.buckets[uint64(i)%numBuckets]
	if k.epoch.Load() != i {
		b.mu.Lock()
		if e := k.epoch.Load(); e < i {
			b.turns.Add(1)
			k.n.Store(0)
			k.calls.Store(0)
			k.failures.Store(0)
			k.epoch.Store(i)
			b.turns.Add(1)
		}
		ok := k.epoch.Load() == i
		b.mu.Unlock()
		if !ok {
			return // t is a full window old: it no longer counts
		}
	}
	// A result whose goroutine stalled between the check above and the
	// addition below, while the bucket turned over, lands in the newer
	// slice, whole; that is rare and harmless, and the price of taking no
	// lock.
	d := uint64(oneCall)
	if failed {
		d |= 1
	}
	if k.n.Add(d)>>32 >= spillAfter {
		b.spill(k)
	}
}

// spill moves what k.n holds to k's wider counts, long before n could
// overflow: only more than 2^31 results in one bucket make it.
func (b *Breaker) spill(k *bucket) {
	b.mu.Lock()
	if k.n.Load()>>32 >= spillAfter {
		b.turns.Add(1)
		n := k.n.Swap(0)
		k.calls.Add(int64(n >> 32))
		k.failures.Add(int64(n & failMask))
		b.turns.Add(1)
	}
	b.mu.Unlock()
}

// clearLocked empties the window. b.mu must be held.
func (b *Breaker) clearLocked() {
	if b.buckets == nil {
		return
	}
	b.turns.Add(1)
	for i := range b.buckets {
		k := &b.buckets[i]
		k.epoch.Store(-1)
		k.n.Store(0)
		k.calls.Store(0)
		k.failures.Store(0)
	}
	b.turns.Add(1)
}

// windowCounts sums the window at slice i: a snapshot in which each result
// is whole, as the counts are added. It reads without the lock unless the
// buckets changed meanwhile.
func (b *Breaker) windowCounts(i int64) (calls, failures int64) {
	if s := b.turns.Load(); s&1 == 0 {
		calls, failures = b.sum(i)
		if b.turns.Load() == s {
			return calls, failures
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sum(i)
}

func (b *Breaker) sum(i int64) (calls, failures int64) {
	for k := range b.buckets {
		bk := &b.buckets[k]
		if e := bk.epoch.Load(); e >= 0 && e > i-numBuckets && e <= i {
			n := bk.n.Load()
			calls += int64(n>>32) + bk.calls.Load()
			failures += int64(n&failMask) + bk.failures.Load()
		}
	}
	return calls, failures
}

// ratioReached reports whether the window at time t holds MinCalls calls
// and failures/calls has reached num/den, compared exactly:
// failures·den ≥ num·calls, in 128 bits.
func (b *Breaker) ratioReached(t int64) bool {
	calls, failures := b.windowCounts(b.sliceOf(t))
	if calls < b.minCalls || calls == 0 {
		return false
	}
	fh, fl := bits.Mul64(uint64(failures), b.den)
	ch, cl := bits.Mul64(uint64(calls), b.num)
	return fh > ch || fh == ch && fl >= cl
}

// trip opens the breaker if it is still in the state and generation of tag.
func (b *Breaker) trip(tag uint32, tr tracer) {
	b.mu.Lock()
	changed := false
	if tagOf(b.word.Load()) == tag {
		changed = b.setLocked(Open, b.now(), tr)
	}
	b.mu.Unlock()
	if changed {
		b.deliver()
	}
}

// probeDone counts a probe's result if the HalfOpen that admitted it still
// lasts, and frees its slot if it still holds it (a probe that ran past the
// Open period may have lost it to another).
func (b *Breaker) probeDone(p Permit, o outcome) {
	b.mu.Lock()
	t := b.now()
	changed := false
	// The tag check comes first: a stale permit's slot may be gone.
	if tagOf(b.word.Load()) == p.tag {
		if s := &b.probes[p.slot]; s.ticket == p.ticket {
			s.ticket = 0
		}
		switch o {
		case success:
			b.successes++
			if b.successes >= b.maxProbes {
				changed = b.setLocked(Closed, t, p.tr)
			}
		case failure:
			if b.period > b.maxOpenFor/2 {
				b.period = max(b.period, b.maxOpenFor) // no overflow
			} else {
				b.period *= 2
			}
			changed = b.setLocked(Open, t, p.tr)
		}
	}
	b.mu.Unlock()
	if changed {
		b.deliver()
	}
}

// setLocked moves the breaker to state to at time t, in a new generation,
// and queues the change for OnStateChange and for tr, the traces of the call
// that caused it. It reports whether there is a change to deliver. b.mu must
// be held.
func (b *Breaker) setLocked(to State, t int64, tr tracer) bool {
	w := b.word.Load()
	switch to {
	case Open:
		b.openUntil.Store(addSat(t, b.period))
	case HalfOpen:
		b.probes = b.probes[:0]
		b.successes = 0
	case Closed:
		b.period = b.openFor
		b.clearLocked()
	}
	// Storing rather than swapping is safe: every other writer of word
	// only changes the run of failures, and only for the generation that
	// this store ends.
	b.word.Store(wordOf((w>>genShift+1)&genMask, to))
	from := stateOf(w)
	if b.onChange == nil && !tr.wantsStates() || from == to {
		return false
	}
	b.pending = append(b.pending, queued{change{from, to}, tr})
	return true
}

// deliver calls OnStateChange with the pending changes, in order, outside
// the lock. Only one goroutine delivers at a time, so calls never overlap or
// reorder; a change queued meanwhile (by the callback itself, say) is
// delivered by the goroutine already at it.
func (b *Breaker) deliver() {
	b.mu.Lock()
	if b.delivering {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	for len(b.pending) > 0 {
		c := b.pending[0]
		b.pending = append(b.pending[:0], b.pending[1:]...)
		b.mu.Unlock()
		b.notify(c)
		b.mu.Lock()
	}
	b.delivering = false
	b.mu.Unlock()
}

// notify calls OnStateChange with c. If the callback panics, the panic goes
// on up, and the changes still pending are delivered by the next goroutine
// that makes one.
func (b *Breaker) notify(c queued) {
	returned := false
	defer func() {
		if !returned {
			b.mu.Lock()
			b.delivering = false
			b.mu.Unlock()
		}
	}()
	if b.onChange != nil {
		b.onChange(c.from, c.to)
	}
	c.tr.breakerState(b, c.from, c.to)
	returned = true
}

// deliverHolding is deliver for a caller that holds p, a permit not yet
// handed to its call: if a callback panics, p's slot is given back, as for
// a call that panicked, rather than kept until the Open period has passed.
func (b *Breaker) deliverHolding(p Permit) {
	delivered := false
	defer func() {
		if !delivered && p.b != nil {
			b.record(p, neutral)
		}
	}()
	b.deliver()
	delivered = true
}

// State returns the breaker's state. An Open breaker whose Open period has
// passed is HalfOpen from that moment: State makes the change (and tells
// OnStateChange) if no call has yet.
func (b *Breaker) State() State {
	w := b.word.Load()
	if stateOf(w) != Open {
		return stateOf(w)
	}
	t := b.now()
	if t < b.openUntil.Load() {
		return Open
	}
	b.mu.Lock()
	changed := false
	if stateOf(b.word.Load()) == Open && t >= b.openUntil.Load() {
		changed = b.setLocked(HalfOpen, t, tracer{})
	}
	s := stateOf(b.word.Load())
	b.mu.Unlock()
	if changed {
		b.deliver()
	}
	return s
}

// Trip opens the breaker now, whatever its state, for the Open period in
// force: OpenFor, or with MaxOpenFor what failed probes have grown it to
// since the breaker last closed (Trip itself does not grow it). If the
// breaker is already Open, that period starts again. Permits taken before
// count for nothing.
func (b *Breaker) Trip() {
	b.ensure()
	b.mu.Lock()
	t := b.now()
	changed := false
	if stateOf(b.word.Load()) == Open {
		b.openUntil.Store(addSat(t, b.period))
	} else {
		changed = b.setLocked(Open, t, tracer{})
	}
	b.mu.Unlock()
	if changed {
		b.deliver()
	}
}

// Reset closes the breaker and forgets every count, whatever its state: the
// run of failures, the window, and any growth of the Open period. Permits
// taken before count for nothing.
func (b *Breaker) Reset() {
	b.ensure()
	b.mu.Lock()
	changed := b.setLocked(Closed, b.now(), tracer{})
	b.mu.Unlock()
	if changed {
		b.deliver()
	}
}

// refusesFor returns how long from now the breaker will go on refusing
// every call: the time left of an Open period, or 0 when a call could be
// admitted now or once that period has ended. Retry asks it before a wait,
// so that it does not sleep only to be refused.
func (b *Breaker) refusesFor() time.Duration {
	if stateOf(b.word.Load()) != Open {
		return 0
	}
	return time.Duration(max(b.openUntil.Load()-b.now(), 0))
}
