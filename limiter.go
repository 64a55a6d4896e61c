package backoff

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LimiterSettings configures a [Limiter]. Every zero field means its
// documented default; a negative or NaN field makes [NewLimiter] panic.
// It is a plain value, safe to share once built.
type LimiterSettings struct {
	MaxConcurrency int     // upper bound of the learned concurrency, and where it starts; default 64, at most 1<<20
	MinConcurrency int     // lower bound of the learned concurrency; default 1
	InitialRate    float64 // requests/s to start from; 0: unpaced until the first throttle
	MinRate        float64 // the learned rate never goes below it, in requests/s; default 0.5 (the AWS SDKs' floor)
	// Burst is how many requests the token bucket lets go at once after an
	// idle spell. The default is as many as the rate gives in 50ms, at least
	// 1: enough to make up for a waiting caller's late wake-up (a bucket of 1
	// would lose the lateness of every timer, a fifth of the rate at 200/s
	// on a busy machine), too few to overrun a server's own bucket.
	Burst int

	// Beta is the factor by which a throttle multiplies both the concurrency
	// and the rate; default 0.7 (CUBIC's β, which the AWS SDKs use). It must
	// be below 1.
	Beta float64
	// Increase is what the concurrency grows by per window of successes (a
	// window is as many successes as the concurrency: about one round trip of
	// every slot); default 1, as in TCP's congestion avoidance.
	Increase float64
	// Scale is CUBIC's C as a share of the rate of the last throttle, per
	// s³: how fast the rate climbs back to, and then probes past, that rate.
	// The default, 0.02, brings it back in K = ∛((1−Beta)/Scale) = 2.5s at
	// any rate (see [Limiter] for why it is relative).
	Scale float64
	// Smooth is the weight of the newest half-second in the measured send
	// rate, an exponential moving average; default 0.8 (the AWS SDKs'). It
	// must be at most 1.
	Smooth float64

	Clock Clock // nil: the real clock
}

// The defaults of LimiterSettings.
const (
	defaultMaxConcurrency = 64
	maxLimiterSlots       = 1 << 20
	defaultMinRate        = 0.5
	defaultLimiterBeta    = 0.7
	defaultScale          = 0.02
	defaultSmooth         = 0.8

	// sampleEvery is the width of the measured rate's buckets, as in the
	// AWS SDKs.
	sampleEvery = 500 * time.Millisecond
	// defaultBurstWindow is the span of the default Burst.
	defaultBurstWindow = 50 * time.Millisecond
	// updateEvery is how often a paced limiter moves its rate along the
	// CUBIC curve. The AWS SDKs do it on every response, under a lock; here
	// the curve is a function of time, so sampling it 20 times a second
	// follows it as closely, without a lock per call.
	updateEvery = 50 * time.Millisecond
)

// Limiter paces the calls to one service so that few of them are throttled
// at all: it learns, from the calls' outcomes, both how many may be in
// flight at once (the concurrency) and how many may start per second (the
// rate), and [Limiter.Acquire] waits until a call fits both. Share one
// Limiter among all the calls that meet one limit (one API key, say).
//
// A throttle is an error, reported to [Slot.Done], that [Classify] does not
// call Permanent and that either holds a [*StatusError] with code 429 or
// carries a wait the server asked for ([RetryAfter], a StatusError's
// RetryAfter): so a 429, a 503 with Retry-After, and the llm package's
// rate-limit codes, which it marks with RetryAfter or reports as a 429.
// A success is a nil error. Every other outcome (a 500, a timeout, a call
// whose context ended) is neutral: it neither raises nor lowers anything.
//
// The concurrency follows AIMD, as TCP Reno's congestion window and Netflix's
// concurrency-limits AIMDLimit do: each success raises it by
// Increase/concurrency, so by Increase per window of successes, and a
// throttle multiplies it by Beta, within [MinConcurrency, MaxConcurrency].
// It departs from them in three ways: it grows only while at least half of
// its slots are in use (a limit that is never reached has learned nothing,
// as TCP's cwnd validation says, RFC 7661); a throttle cuts it only when at
// least half of its slots were in use (else what the server limits is not
// the concurrency but the rate, which is cut instead); and it is cut at most
// once per round: a throttle of a call that started before the last cut is
// the same overload seen late, and counts for nothing more (TCP's fast
// recovery, RFC 6582).
//
// The rate follows the CUBIC curve of the AWS SDKs' adaptive retry mode
// (RFC 9438's window curve, applied to a token bucket's fill rate): on a
// throttle the rate of the moment, W, is remembered and the rate drops to
// Beta·W; from then on it is C·(t−K)³ + W, with t the time since the
// throttle and K = ∛(W·(1−Beta)/C) the time it takes to climb back: it
// climbs back fast, lingers near W, and probes past it slowly; it never exceeds twice the measured send
// rate, nor goes below MinRate. Until the first throttle (with InitialRate
// 0) nothing is paced, as in the AWS SDKs. It departs from them in four
// ways, each measured in bench/ (RESULTS.md, "Limiter"):
//   - C is Scale·W, relative to the rate, where the SDKs' C is an absolute
//     0.4 (requests/s)/s³. With theirs, a client that has a small share of
//     a limit (one of 64 clients of one API key, at 3 requests/s) climbs
//     back and probes past W within a second, and is throttled over and
//     over, while one that has all of it (200 requests/s) takes 5s to come
//     back. With Scale·W every client comes back in K = ∛((1−Beta)/Scale),
//     2.5s by default, at any rate.
//   - A throttle cuts at most once per round, as for the concurrency (the
//     SDKs cut again on every throttled response of a burst, 0.7ⁿ).
//   - Waiting callers queue in the order they came, and only the first
//     sleeps, until the next token at the rate of that moment (the SDKs
//     let every caller sleep and retry on its own). A caller whose start,
//     plus the moving average of paced calls' latency, would come at or
//     after its context's deadline gets [ErrDeadline] at once: at twice the
//     capacity a queue otherwise fills up with calls that start only to
//     time out, and no call succeeds.
//   - A server-requested wait only makes the call that received it wait
//     (through [Retry]), not every caller: servers round Retry-After up to
//     whole seconds, and a pause of all callers for that long would waste
//     the capacity that the lowered rate can use.
//
// Acquire and [Slot.Done] with a free slot and no pacing take no lock and
// allocate nothing (a lock-free stack of slots); a paced Acquire reads the
// clock once and, when a token is there, takes it with one atomic
// operation; a caller that has to wait for a token, or for a slot, joins a
// queue under a lock, which is never held across the wait.
//
// A Limiter is safe for concurrent use by multiple goroutines.
type Limiter struct {
	// head is the lock-free stack of free slots: the index+1 of the top one
	// (0: none), the number of slots in use, and a tag that changes with
	// every push and pop, so that a stale compare-and-swap fails (ABA).
	head        atomic.Uint64
	limit       atomic.Int64  // the concurrency in force
	waiting     atomic.Int64  // goroutines in Acquire's slow path: while any, the fast path stands aside
	rateWaiting atomic.Int64  // goroutines in the rate queue: while any, the bucket's fast path stands aside
	interval    atomic.Int64  // nanoseconds per token; 0: unpaced
	tat         atomic.Int64  // the bucket's next free start time, in ns since base (GCRA's theoretical arrival time)
	epoch       atomic.Uint32 // counts the cuts
	update      atomic.Int64  // the time, in ns since base, after which the rate is due to move along the curve
	latency     atomic.Int64  // the moving average of paced successes' latency, in ns; 0: none yet

	slots []slotState
	clock Clock
	base  time.Time
	s     LimiterSettings // with the defaults filled in

	mu    sync.Mutex // protects the fields below
	queue waitQueue  // waiting for a slot
	// rateQueue waits for the token bucket; its head sleeps until the
	// next token.
	rateQueue waitQueue
	conc      float64 // the learned concurrency, unrounded
	rate      float64 // the learned rate; 0: unpaced
	wmax      float64 // the rate at the last throttle (CUBIC's W_max)
	k         float64 // CUBIC's K, in seconds
	cut       int64   // when the last throttle cut the rate, in ns since base
	meas      float64 // the measured send rate, requests/s
	sample    int64   // when the measurement's last bucket ended, in ns since base
	sent      uint32  // the slots' generations summed then: calls finished, modulo 2³²
}

// slotState is one slot's record, padded to its own cache line, since the
// goroutine that holds the slot writes it while others use their own. Its
// word holds, in one atomic value so that Done costs one operation on it:
// above, the slot's generation, which counts its Done calls (a Slot whose
// generation is not current is spent: it takes 2³² reuses of one slot
// before a stale Slot could pass); below, the index+1 of the slot under it
// on the free stack.
type slotState struct {
	word atomic.Uint64
	_    [64 - 8]byte
}

func (s *slotState) gen() uint32  { return uint32(s.word.Load() >> 32) }
func (s *slotState) next() uint64 { return s.word.Load() & (1<<32 - 1) }

const (
	idxBits = 21
	cntBits = 21
	idxMask = 1<<idxBits - 1
	cntMask = 1<<cntBits - 1
)

func packHead(top, cnt uint64, tag uint64) uint64 {
	return top | cnt<<idxBits | tag<<(idxBits+cntBits)
}

func unpackHead(h uint64) (top, cnt, tag uint64) {
	return h & idxMask, h >> idxBits & cntMask, h >> (idxBits + cntBits)
}

// NewLimiter returns a Limiter with settings s. It panics, with a message
// that starts with "backoff: NewLimiter: " and names the field, when a field
// is negative or NaN, when MinConcurrency exceeds MaxConcurrency,
// MaxConcurrency exceeds 1<<20, Beta is 1 or more, or Smooth exceeds 1.
func NewLimiter(s LimiterSettings) *Limiter {
	bad := func(field, why string) {
		panic("backoff: NewLimiter: " + field + " " + why)
	}
	checkInt := func(field string, v int) {
		if v < 0 {
			bad(field, "is negative: "+strconv.Itoa(v))
		}
	}
	checkFloat := func(field string, v float64) {
		if math.IsNaN(v) || v < 0 || math.IsInf(v, 0) {
			bad(field, "is not a finite non-negative number: "+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	checkInt("MaxConcurrency", s.MaxConcurrency)
	checkInt("MinConcurrency", s.MinConcurrency)
	checkInt("Burst", s.Burst)
	checkFloat("InitialRate", s.InitialRate)
	checkFloat("MinRate", s.MinRate)
	checkFloat("Beta", s.Beta)
	checkFloat("Increase", s.Increase)
	checkFloat("Scale", s.Scale)
	checkFloat("Smooth", s.Smooth)
	if s.MaxConcurrency == 0 {
		s.MaxConcurrency = defaultMaxConcurrency
	}
	if s.MinConcurrency == 0 {
		s.MinConcurrency = 1
	}
	if s.MinRate == 0 {
		s.MinRate = defaultMinRate
	}
	if s.Beta == 0 {
		s.Beta = defaultLimiterBeta
	}
	if s.Increase == 0 {
		s.Increase = 1
	}
	if s.Scale == 0 {
		s.Scale = defaultScale
	}
	if s.Smooth == 0 {
		s.Smooth = defaultSmooth
	}
	switch {
	case s.MaxConcurrency > maxLimiterSlots:
		bad("MaxConcurrency", "exceeds 1<<20: "+strconv.Itoa(s.MaxConcurrency))
	case s.MinConcurrency > s.MaxConcurrency:
		bad("MinConcurrency", "exceeds MaxConcurrency: "+strconv.Itoa(s.MinConcurrency))
	case s.Beta >= 1:
		bad("Beta", "is not below 1: "+strconv.FormatFloat(s.Beta, 'g', -1, 64))
	case s.Smooth > 1:
		bad("Smooth", "exceeds 1: "+strconv.FormatFloat(s.Smooth, 'g', -1, 64))
	}

	l := &Limiter{slots: make([]slotState, s.MaxConcurrency), clock: s.Clock, s: s}
	l.base = now(s.Clock)
	for i := range l.slots {
		l.slots[i].word.Store(uint64(i)) // slot i lies on slot i-1, whose index+1 is i
	}
	l.head.Store(packHead(uint64(len(l.slots)), 0, 0))
	l.conc = float64(s.MaxConcurrency)
	l.limit.Store(int64(s.MaxConcurrency))
	if s.InitialRate > 0 {
		// Start on the curve's plateau at InitialRate, as if a throttle at
		// that rate had happened K seconds ago: the rate holds near it, then
		// probes upwards if calls keep succeeding.
		l.wmax = s.InitialRate
		l.k = l.cubicK(s.InitialRate)
		l.cut = -int64(l.k * float64(time.Second))
		l.meas = s.InitialRate
		l.setRate(s.InitialRate)
	}
	return l
}

// Slot is the right to make one call, from [Limiter.Acquire]. Report the
// call's outcome to Done exactly once; a second Done of the same Slot does
// nothing. Slot is a small value, to be copied freely; the zero Slot's Done
// does nothing. A Slot is safe to hand to another goroutine.
type Slot struct {
	l     *Limiter
	gen   uint32
	idx   uint32
	epoch uint32
	done  <-chan struct{} // of the context given to Acquire
	start int64           // for a paced call: when it went, in ns since the Limiter's base, plus 1; 0: not paced
}

// Acquire waits until a call may start: until the rate lets it go and a
// concurrency slot is free, and returns that slot. The waits are on the
// Limiter's Clock, and callers that wait go in the order they came.
//
// It returns at once, holding nothing, with context.Cause(ctx) when ctx is
// already done, and with that cause as soon as ctx ends while it waits; the
// wait leaves nothing behind. While it paces, when the call would start,
// at the rate of the moment and behind the callers already waiting, so
// late that with the usual latency of paced successes it would end at or
// past ctx's deadline, it returns [ErrDeadline] at once, without sleeping in
// vain, as [Retry] does; a waiter that the rate falls behind in the same way
// gets it when its turn comes. (A wait for a free slot cannot be foreseen,
// and runs until ctx ends.) With a free slot and no pacing it allocates
// nothing and reads no clock.
//
// The Slot remembers ctx: if ctx has ended by the time [Slot.Done] is called,
// the outcome teaches the Limiter nothing.
func (l *Limiter) Acquire(ctx context.Context) (Slot, error) {
	done := ctx.Done()
	if closed(done) {
		return Slot{}, cause(ctx)
	}
	var start int64
	if l.interval.Load() > 0 {
		t, err := l.pace(ctx)
		if err != nil {
			return Slot{}, err
		}
		start = t + 1
	}
	if l.waiting.Load() == 0 {
		if idx, gen, ok := l.pop(); ok {
			return Slot{l: l, gen: gen, idx: idx, epoch: l.epoch.Load(), done: done, start: start}, nil
		}
	}
	s, err := l.acquireSlow(ctx, done)
	s.start = start
	return s, err
}

func (l *Limiter) slot(idx uint32, done <-chan struct{}) Slot {
	return Slot{l: l, gen: l.slots[idx].gen(), idx: idx, epoch: l.epoch.Load(), done: done}
}

// pop takes a free slot, if the concurrency allows one more, and returns
// its index and generation.
func (l *Limiter) pop() (uint32, uint32, bool) {
	for {
		h := l.head.Load()
		top, cnt, tag := unpackHead(h)
		if int64(cnt) >= l.limit.Load() || top == 0 {
			return 0, 0, false
		}
		// A free slot's word does not change while it is on the stack, so
		// if the swap succeeds this reading is the slot's.
		w := l.slots[top-1].word.Load()
		if l.head.CompareAndSwap(h, packHead(w&(1<<32-1), cnt+1, tag+1)) {
			return uint32(top - 1), uint32(w >> 32), true
		}
	}
}

// finish ends the Slot's hold on its slot, if it is the first to, and
// pushes the slot back on the free stack; it returns the number of slots in
// use before, and false for a spent Slot.
func (l *Limiter) finish(s Slot) (int64, bool) {
	st := &l.slots[s.idx]
	h := l.head.Load()
	w := uint64(s.gen)<<32 | st.next()
	// Ending the generation and linking the slot to the top are one
	// operation: while the slot is held, nobody else writes its word.
	if !st.word.CompareAndSwap(w, uint64(s.gen+1)<<32|h&idxMask) {
		return 0, false
	}
	for {
		_, cnt, tag := unpackHead(h)
		if l.head.CompareAndSwap(h, packHead(uint64(s.idx)+1, cnt-1, tag+1)) {
			return int64(cnt), true
		}
		h = l.head.Load()
		st.word.Store(uint64(s.gen+1)<<32 | h&idxMask)
	}
}

// push gives slot idx, held by nobody's Slot, back, and returns the number
// in use before.
func (l *Limiter) push(idx uint32) int64 {
	n, _ := l.finish(Slot{idx: idx, gen: l.slots[idx].gen()})
	return n
}

// waiter is a goroutine in Acquire's slow path, waiting for a slot.
type waiter struct {
	ready      chan struct{} // receives once the slot is granted
	idx        uint32
	granted    bool // under mu
	prev, next *waiter
}

// waitQueue is a FIFO of waiters, doubly linked so that one whose context
// ended leaves in constant time.
type waitQueue struct{ first, last *waiter }

func (q *waitQueue) push(w *waiter) {
	w.prev = q.last
	if q.last != nil {
		q.last.next = w
	} else {
		q.first = w
	}
	q.last = w
}

func (q *waitQueue) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.first = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.last = w.prev
	}
	w.prev, w.next = nil, nil
}

func (l *Limiter) acquireSlow(ctx context.Context, done <-chan struct{}) (Slot, error) {
	l.mu.Lock()
	// Counted before the second try: a Done that pushes a slot after that
	// try then sees a waiter, and hands it over (sequentially consistent
	// atomics make one of the two see the other).
	l.waiting.Add(1)
	if l.queue.first == nil { // else others wait already: no going ahead of them
		if idx, _, ok := l.pop(); ok {
			l.waiting.Add(-1)
			l.mu.Unlock()
			return l.slot(idx, done), nil
		}
	}
	w := &waiter{ready: make(chan struct{}, 1)}
	l.queue.push(w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return l.slot(w.idx, done), nil
	case <-done:
	}
	l.mu.Lock()
	granted := w.granted
	if !granted {
		l.queue.remove(w)
		l.waiting.Add(-1)
	}
	l.mu.Unlock()
	if granted {
		// Granted as ctx ended: give the slot on, teaching nothing.
		l.release(w.idx)
	}
	return Slot{}, cause(ctx)
}

// dispatch hands free slots to the waiters, first come first served.
func (l *Limiter) dispatch() {
	l.mu.Lock()
	for w := l.queue.first; w != nil; w = l.queue.first {
		idx, _, ok := l.pop()
		if !ok {
			break
		}
		l.queue.remove(w)
		l.waiting.Add(-1)
		w.idx, w.granted = idx, true
		w.ready <- struct{}{} // buffered, sent once
	}
	l.mu.Unlock()
}

// release gives slot idx back and wakes a waiter if there is one.
func (l *Limiter) release(idx uint32) {
	l.push(idx)
	l.wake()
}

// wake hands freed slots to waiters, if there are any.
func (l *Limiter) wake() {
	if l.waiting.Load() > 0 {
		l.dispatch()
	}
}

// Done reports the outcome of the call made with s: err nil for a success,
// and how long the call took. Only the first Done of a Slot counts. If the
// context given to Acquire has ended, the outcome is neutral. Done allocates
// nothing, and for a success with slots to spare takes no lock.
//
// latency is the call's own time. The AIMD and CUBIC rules react to
// throttles, not to delay (model calls take from one to forty seconds by the
// length of their answer, so their latency says little about load); while
// it paces, the Limiter keeps a moving average of its successes' latency, to
// foresee a call that would end past its deadline (see Acquire). A latency
// of 0 or less means unknown: the Limiter then measures a paced call's
// latency itself, from Acquire to Done.
func (s Slot) Done(err error, latency time.Duration) {
	v := vSuccess
	if err != nil {
		v = vNeutral
		if isThrottle(err) {
			v = vThrottled
		}
	}
	s.report(v, latency)
}

// verdict is what an outcome teaches a Limiter.
type verdict uint8

const (
	vSuccess verdict = iota
	vThrottled
	vNeutral
)

// verdictOf is the verdict on a failed attempt that [Retry] has classified:
// its class and server-requested wait are Retry's, from its classifier (so
// llm.Classify's view counts), and only a 429 is read from the error itself.
func verdictOf(err error, class Class, delay time.Duration) verdict {
	if class >= Permanent {
		return vNeutral
	}
	if delay > 0 {
		return vThrottled
	}
	var f facts
	f.scan(err)
	if f.status != nil && f.status.Code == http.StatusTooManyRequests {
		return vThrottled
	}
	return vNeutral
}

// report ends s with verdict v, for a call that took latency (0: unknown);
// only the first report of a Slot counts, and none teaches anything once the
// context given to Acquire has ended.
func (s Slot) report(v verdict, latency time.Duration) {
	l := s.l
	if l == nil {
		return
	}
	inUse, ok := l.finish(s)
	if !ok {
		return
	}
	l.wake()
	if v == vNeutral || closed(s.done) {
		return
	}
	if v == vSuccess {
		if s.start != 0 {
			l.noteLatency(s, latency)
		}
		if limit := l.limit.Load(); 2*inUse >= limit && limit < int64(l.s.MaxConcurrency) {
			l.grow()
		}
		return
	}
	if s.epoch == l.epoch.Load() {
		l.throttle(s.epoch, 2*inUse >= l.limit.Load())
	}
}

// noteLatency folds the latency of a paced success into the moving
// average, weighing the newest by 1/8 (as TCP's SRTT). Two reports at once
// may lose one of the two, which a moving average does not miss.
func (l *Limiter) noteLatency(s Slot, d time.Duration) {
	if d <= 0 {
		d = time.Duration(l.now() - (s.start - 1))
	}
	old := l.latency.Load()
	if old == 0 {
		l.latency.Store(int64(d))
		return
	}
	l.latency.Store(old + (int64(d)-old)/8)
}

// isThrottle applies the rule of [Limiter]'s doc.
func isThrottle(err error) bool {
	var f facts
	f.scan(err)
	if f.class() >= Permanent {
		return false
	}
	return f.serverDelay() > 0 || f.status != nil && f.status.Code == http.StatusTooManyRequests
}

// grow raises the concurrency by Increase/concurrency.
func (l *Limiter) grow() {
	l.mu.Lock()
	l.conc = min(l.conc+l.s.Increase/l.conc, float64(l.s.MaxConcurrency))
	raised := int64(l.conc) > l.limit.Load()
	if raised {
		l.limit.Store(int64(l.conc))
	}
	l.mu.Unlock()
	if raised && l.waiting.Load() > 0 {
		l.dispatch()
	}
}

// throttle cuts the rate, and the concurrency when it was used (at least
// half of it), once for the round epoch.
func (l *Limiter) throttle(epoch uint32, used bool) {
	t := l.now()
	l.mu.Lock()
	if !l.epoch.CompareAndSwap(epoch, epoch+1) {
		l.mu.Unlock()
		return
	}
	if used {
		l.conc = max(l.conc*l.s.Beta, float64(l.s.MinConcurrency))
		l.limit.Store(int64(l.conc))
	}

	l.measure(t)
	w := l.meas
	if l.rate > 0 {
		w = min(w, l.rate)
	}
	if !(w > 0) {
		// Nothing measured yet (a throttle at the very start): the calls
		// in flight are the best guess of a second's worth.
		w = float64(l.limit.Load())
	}
	l.wmax = w
	l.k = l.cubicK(w)
	l.cut = t
	l.setRate(w * l.s.Beta)
	// Pacing starts now: no burst is owed from before.
	if l.tat.Load() < t {
		l.tat.Store(t)
	}
	l.update.Store(t + int64(updateEvery))
	l.mu.Unlock()
}

func (l *Limiter) cubicK(w float64) float64 {
	return math.Cbrt((1 - l.s.Beta) / l.s.Scale)
}

// setRate sets the pace, under mu.
func (l *Limiter) setRate(r float64) {
	r = max(r, l.s.MinRate)
	l.rate = r
	l.interval.Store(max(int64(float64(time.Second)/r), 1))
}

// measure folds the calls finished since the last bucket into the measured
// send rate, once a bucket's time has passed, under mu. The count is the sum
// of the slots' Done counters, which the fast path keeps anyway.
func (l *Limiter) measure(t int64) {
	dt := time.Duration(t - l.sample)
	if dt < sampleEvery && l.meas > 0 {
		return
	}
	var sent uint32 // wraps; only differences count
	for i := range l.slots {
		sent += l.slots[i].gen()
	}
	if dt <= 0 {
		return
	}
	if l.meas == 0 {
		// A first bucket shorter than a bucket's width, such as a burst
		// throttled at once, is read over the full width: over a
		// millisecond, three calls would make a rate of 3000/s.
		dt = max(dt, sampleEvery)
	}
	cur := float64(sent-l.sent) / dt.Seconds()
	if l.meas == 0 {
		l.meas = cur
	} else {
		l.meas = l.s.Smooth*cur + (1-l.s.Smooth)*l.meas
	}
	l.sample, l.sent = t, sent
}

// pace waits until the token bucket lets the call go. While others wait,
// a caller joins their queue: only its head sleeps, until the bucket's next
// token at the rate of that moment, takes it and hands the headship on. So
// the queue moves at the current rate, and a change of rate acts on every
// caller that waits, not only on those who come after it.
func (l *Limiter) pace(ctx context.Context) (int64, error) {
	t := l.now()
	if t >= l.update.Load() {
		l.follow(t)
	}
	if l.rateWaiting.Load() == 0 && l.takeToken(t) {
		return t, nil
	}
	dl, hasDeadline := ctx.Deadline()
	// late reports whether a call that starts at time start would end at or
	// past the deadline, by the latency its successes have had.
	late := func(start, now int64) bool {
		return hasDeadline && time.Duration(start+l.latency.Load()-now) >= dl.Sub(l.base.Add(time.Duration(now)))
	}
	l.mu.Lock()
	if l.rateQueue.first == nil && l.takeToken(t) {
		l.mu.Unlock()
		return t, nil
	}
	// Where it would start at today's rate: at the next token, after one
	// token for each caller ahead of it.
	if late(max(l.tat.Load(), t)+l.rateWaiting.Load()*l.interval.Load(), t) {
		l.mu.Unlock()
		return 0, ErrDeadline
	}
	w := &waiter{ready: make(chan struct{}, 1)}
	l.rateQueue.push(w)
	l.rateWaiting.Add(1)
	head := l.rateQueue.first == w
	l.mu.Unlock()

	done := ctx.Done()
	var timer *time.Timer
	for !head {
		select {
		case <-w.ready:
			head = true
		case <-done:
			l.leaveRateQueue(w)
			return 0, cause(ctx)
		}
	}
	for {
		t = l.now()
		if t >= l.update.Load() {
			l.follow(t)
		}
		if late(max(l.tat.Load(), t), t) {
			// The rate fell while it waited: it can no longer make it.
			l.leaveRateQueue(w)
			return 0, ErrDeadline
		}
		if l.takeToken(t) {
			break
		}
		if err := sleep(ctx, l.clock, time.Duration(l.tat.Load()-t), &timer); err != nil {
			l.leaveRateQueue(w)
			return 0, err
		}
	}
	l.leaveRateQueue(w)
	return t, nil
}

// takeToken takes a token from the bucket at time t, if there is one.
func (l *Limiter) takeToken(t int64) bool {
	iv := l.interval.Load()
	tol := int64(l.s.Burst-1) * iv
	if l.s.Burst == 0 {
		tol = max(0, int64(defaultBurstWindow)-iv)
	}
	for {
		tat := l.tat.Load()
		start := max(tat, t-tol)
		if start > t {
			return false
		}
		if l.tat.CompareAndSwap(tat, start+iv) {
			return true
		}
	}
}

// leaveRateQueue takes w out of the rate queue, and makes the next caller
// the head if w was.
func (l *Limiter) leaveRateQueue(w *waiter) {
	l.mu.Lock()
	wasHead := l.rateQueue.first == w
	l.rateQueue.remove(w)
	l.rateWaiting.Add(-1)
	if next := l.rateQueue.first; wasHead && next != nil {
		next.ready <- struct{}{} // buffered; each waiter is told once
	}
	l.mu.Unlock()
}

// follow moves the rate along the CUBIC curve to time t.
func (l *Limiter) follow(t int64) {
	l.mu.Lock()
	if t < l.update.Load() {
		l.mu.Unlock()
		return
	}
	l.update.Store(t + int64(updateEvery))
	l.measure(t)
	dt := time.Duration(t - l.cut).Seconds()
	r := l.s.Scale*l.wmax*math.Pow(dt-l.k, 3) + l.wmax
	if l.meas > 0 {
		r = min(r, 2*l.meas)
	}
	l.setRate(r)
	l.mu.Unlock()
}

// now is the time on the Limiter's clock, in ns since it was made.
func (l *Limiter) now() int64 {
	if l.clock == nil {
		return int64(time.Since(l.base))
	}
	return int64(l.clock.Now().Sub(l.base))
}

// Concurrency returns how many calls may be in flight at once.
func (l *Limiter) Concurrency() int {
	return int(l.limit.Load())
}

// Rate returns how many calls may start per second, or +Inf while nothing
// is paced.
func (l *Limiter) Rate() float64 {
	if l.interval.Load() == 0 {
		return math.Inf(1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}
