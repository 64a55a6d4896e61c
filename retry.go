package backoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Why Retry stopped: the Reason of an [*Error].
var (
	ErrExhausted   = errors.New("backoff: retries exhausted")                // attempts used up, or the strategy said stop
	ErrPermanent   = errors.New("backoff: permanent error")                  // the classifier said Permanent
	ErrDeadline    = errors.New("backoff: next wait ends past the deadline") // of the context or of WithMaxElapsed
	ErrCircuitOpen = errors.New("backoff: circuit open")                     // a Breaker refused the attempt
	ErrBudget      = errors.New("backoff: retry budget exhausted")           // a Budget refused the retry
)

// Error is what [Retry] and [Do] return for every failure. errors.Is and
// errors.As see both the last attempt's error and the reason, so
// errors.Is(err, ErrExhausted) and errors.Is(err, io.EOF) can both hold.
//
// When a [Breaker] refused an attempt, Reason is its [*OpenError], which
// errors.Is [ErrCircuitOpen] and tells how long the breaker stays open;
// Attempts counts the attempts actually made, and Err is nil if none was.
// An Error is not changed once Retry returns it, so it is safe for concurrent use.
type Error struct {
	Attempts int   // attempts made
	Err      error // the last attempt's error; nil if none ran
	Reason   error // why Retry stopped: one of the Err… sentinels, or the context's cause

	deadline bool // the context ended by its deadline, whatever its cause
}

// doneError is the Error of a Retry whose context is done.
func doneError(ctx context.Context, attempts int, last error) *Error {
	return &Error{Attempts: attempts, Err: last, Reason: cause(ctx),
		deadline: errors.Is(ctx.Err(), context.DeadlineExceeded)}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("backoff: ")
	if e.Reason != nil {
		b.WriteString(strings.TrimPrefix(e.Reason.Error(), "backoff: "))
	} else {
		b.WriteString("stopped")
	}
	switch e.Attempts {
	case 0:
		b.WriteString(" before any attempt")
	case 1:
		b.WriteString(" after 1 attempt")
	default:
		b.WriteString(" after " + strconv.Itoa(e.Attempts) + " attempts")
	}
	if e.Err != nil {
		b.WriteString(": ")
		// The last error's own "backoff: " would only repeat ours.
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "backoff: "))
	}
	return b.String()
}

// Unwrap returns Err and Reason, leaving out a nil one.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Reason != nil {
		errs = append(errs, e.Reason)
	}
	return errs
}

// Timeout reports whether time ran out: Reason is [ErrDeadline], or the
// context ended by its deadline (whatever cause it was given), or the last attempt's error
// reports a timeout of its own (a [WithAttemptTimeout] that fired, a network
// timeout) with a Timeout method that returns true. Through [Transport],
// which returns an Error from RoundTrip, it is what makes
// url.Error.Timeout and os.IsTimeout hold when time ran out, as they do for
// a bare http.Transport.
func (e *Error) Timeout() bool {
	if e.deadline || errors.Is(e.Reason, ErrDeadline) || errors.Is(e.Reason, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return e.Err != nil && errors.As(e.Err, &t) && t.Timeout()
}

// An Option configures [Retry], [Do] and [Transport]. The zero Option changes
// nothing.
//
// Options are plain values rather than closures over a config: a closure
// would make the config escape to the heap on every call, and the success
// path of Retry allocates nothing, even with options built inline.
// An Option is an immutable value, safe for concurrent use and for reuse
// across any number of calls.
type Option struct {
	kind     optionKind
	n        int64    // a count or a duration
	strategy Strategy // for WithStrategy, with its Observer side found once
	observer Observer
	clock    Clock
	val      any // a Classifier, notify func, *Breaker or *Budget: concrete types, cheap to assert
	bundle   []Option
	full     *config // for a bundle: the defaults with the bundle applied
}

type optionKind uint8

const (
	optNone optionKind = iota
	optBundle
	optStrategy
	optMaxAttempts
	optMaxElapsed
	optAttemptTimeout
	optClassifier
	optClock
	optNotify
	optBreaker
	optBudget
	optServerDelay
	optTrace
	optLimiter
)

// config is one Retry call's view of its options.
type config struct {
	strategy       Strategy
	observer       Observer // strategy, when it is one
	maxAttempts    int
	maxElapsed     time.Duration
	attemptTimeout time.Duration
	classifier     Classifier // nil: Classify, whose walk also finds the server's delay
	clock          Clock
	notify         func(Attempt, time.Duration)
	breaker        *Breaker
	budget         *Budget
	trace          *Trace // WithTrace's
	ctxTrace       *Trace // the call's context's (ContextWithTrace)
	selfTraced     bool   // the op reports its own attempts to the traces (Transport)
	limiter        *Limiter
	// slot, when set, receives each attempt's Slot, whose Done becomes the
	// receiver's duty: Transport holds it past the attempt, until the
	// response's body is closed.
	slot *Slot
	bare bool // isBare, noted when the config is resolved
	// resent says that the first attempt is itself a retry, made by a
	// caller that retries on its own (Transport sets it), so that it takes
	// a budget token instead of depositing.
	resent bool
	// WithServerDelay's function; nil: none
	serverDelay func(error, time.Time) time.Duration
}

// defaultStrategy is the strategy when no WithStrategy is given.
var defaultStrategy Strategy = fullJitter{Exponential{Initial: 200 * time.Millisecond, Multiplier: 2, Max: 30 * time.Second}}

// defaults is the config without options; Retry only reads it.
var defaults = config{strategy: defaultStrategy, maxAttempts: 4, bare: true}

func (c *config) apply(opts []Option) {
	for i := range opts {
		o := &opts[i]
		switch o.kind {
		case optBundle:
			c.apply(o.bundle)
		case optStrategy:
			c.strategy, c.observer = o.strategy, o.observer
		case optMaxAttempts:
			c.maxAttempts = int(o.n)
		case optMaxElapsed:
			c.maxElapsed = time.Duration(o.n)
		case optAttemptTimeout:
			c.attemptTimeout = time.Duration(o.n)
		case optClassifier:
			c.classifier, _ = o.val.(Classifier)
		case optClock:
			c.clock = o.clock
		case optNotify:
			c.notify, _ = o.val.(func(Attempt, time.Duration))
		case optBreaker:
			c.breaker, _ = o.val.(*Breaker)
		case optBudget:
			c.budget, _ = o.val.(*Budget)
		case optServerDelay:
			c.serverDelay, _ = o.val.(func(error, time.Time) time.Duration)
		case optTrace:
			c.trace, _ = o.val.(*Trace)
		case optLimiter:
			c.limiter, _ = o.val.(*Limiter)
		}
	}
}

// WithStrategy sets the [Strategy] that chooses the waits. The default is
// FullJitter(Exponential{Initial: 200ms, Multiplier: 2, Max: 30s}). A nil s
// panics.
func WithStrategy(s Strategy) Option {
	if s == nil {
		panic("backoff: WithStrategy: nil strategy")
	}
	o, _ := s.(Observer)
	return Option{kind: optStrategy, strategy: s, observer: o}
}

// WithMaxAttempts sets the number of attempts in all, the first included;
// 0 means no limit. The default is 4. A negative n panics.
func WithMaxAttempts(n int) Option {
	if n < 0 {
		panic("backoff: WithMaxAttempts: negative count " + strconv.Itoa(n))
	}
	return Option{kind: optMaxAttempts, n: int64(n)}
}

// WithMaxElapsed makes sure that no attempt starts later than d after Retry
// began: when the next wait would end past that, Retry returns at once with
// [ErrDeadline]. 0 means no limit (the default). A negative d panics.
func WithMaxElapsed(d time.Duration) Option {
	if d < 0 {
		panic("backoff: WithMaxElapsed: negative duration " + d.String())
	}
	return Option{kind: optMaxElapsed, n: int64(d)}
}

// WithAttemptTimeout gives each attempt's context a timeout of d, on the
// Retry's clock. An attempt that fails because its own timeout fired, while
// the caller's context lives, is Transient (even if the classifier said
// Permanent) and is retried; its error is context.DeadlineExceeded (on a fake
// clock, where the attempt context can only end cancelled, an op's error
// that is not already DeadlineExceeded is replaced by one that is). 0 means
// no timeout (the default). A negative d panics.
func WithAttemptTimeout(d time.Duration) Option {
	if d < 0 {
		panic("backoff: WithAttemptTimeout: negative duration " + d.String())
	}
	return Option{kind: optAttemptTimeout, n: int64(d)}
}

// WithClassifier sets the [Classifier] of failed attempts; nil means
// [Classify], the default.
func WithClassifier(c Classifier) Option {
	return Option{kind: optClassifier, val: c}
}

// WithClock sets the [Clock] that Retry waits and measures on; nil means the
// real clock, the default. Context deadlines are compared with c.Now(), so a
// fake clock goes with contexts made on it (clockwork.WithTimeout, say).
func WithClock(c Clock) Option {
	return Option{kind: optClock, clock: c}
}

// WithNotify sets a function that Retry calls before each wait, with the
// attempt that failed and the wait chosen; never after the last attempt.
// It runs on the goroutine that called Retry. nil means none.
func WithNotify(f func(a Attempt, wait time.Duration)) Option {
	return Option{kind: optNotify, val: f}
}

// WithBreaker guards every attempt with b: each attempt takes a [Permit]
// from b.Allow and reports its error to the permit's Done; an attempt that
// panics, or runs out its [WithAttemptTimeout], counts as a failure (the
// panic then goes on up), and an attempt whose caller's context ended while
// it ran is neutral, whatever its result. When b refuses an attempt, or would still refuse one at the end of
// the next wait, Retry stops at once with [ErrCircuitOpen]. Share one Breaker among all the calls to one service.
// nil means no breaker (the default), and turns off one set by an earlier
// option, such as [Production]'s.
func WithBreaker(b *Breaker) Option {
	return Option{kind: optBreaker, val: b}
}

// WithBudget makes retries draw on b: Retry deposits into it once, as the
// first attempt starts, and withdraws a token before each retry; when b
// refuses, Retry stops with [ErrBudget]. Share one Budget among all the
// calls to one service. nil means no budget (the default), and turns off one
// set by an earlier option, such as [Production]'s.
func WithBudget(b *Budget) Option {
	return Option{kind: optBudget, val: b}
}

// WithLimiter makes every attempt hold a slot of l for its duration: Retry
// calls l.Acquire before each attempt, and reports the attempt's outcome to
// the slot's Done, with the class and the server-requested wait that Retry's
// classifier found (so a classifier such as llm.Classify decides what is a
// throttle: Temporary with a wait, or a 429 that it does not call
// Permanent). A panic in op and an attempt whose caller's context ended
// teach l nothing. When the wait for a slot ends because ctx ended, Retry
// stops with its cause as Reason; when l's pacing alone would make the
// attempt start at or past ctx's deadline, it stops at once with
// [ErrDeadline]. The breaker, if any, is asked first, so that an open
// breaker refuses at once rather than after a wait. Through [Transport] a
// successful attempt holds its slot until its response's body is closed
// (see Transport). Share one Limiter among all the calls that meet one
// limit. nil means no limiter (the default).
func WithLimiter(l *Limiter) Option {
	return Option{kind: optLimiter, val: l}
}

// Options bundles opts into one Option, applied in order: later options
// override earlier ones, and options given after the bundle override it.
//
// A bundle built once and passed first to every call is also the cheapest
// way to configure Retry: it is resolved when it is built, not on each call.
func Options(opts ...Option) Option {
	full := newConfig(opts)
	return Option{kind: optBundle, bundle: slices.Clone(opts), full: &full}
}

// newConfig resolves opts over the defaults. A bundle in first place brings
// its resolved config, so that only the options after it are applied.
func newConfig(opts []Option) config {
	c := defaults
	if len(opts) > 0 && opts[0].full != nil {
		c = *opts[0].full
		opts = opts[1:]
	}
	c.apply(opts)
	c.bare = c.isBare()
	return c
}

// Retry calls op until it succeeds, and returns its value; on failure it
// returns the zero T and an [*Error] that says why it stopped.
//
// Before each retry it classifies the error (once per failed attempt) and
// asks the strategy for a wait, made at least as long as a server asked for
// ([RetryAfter], [StatusError]). It stops with:
//   - [ErrPermanent] when the class is Permanent;
//   - [ErrExhausted] when the attempts are used up or the strategy says stop;
//   - [ErrDeadline] at once, without sleeping in vain, when the wait would end
//     at or past the context's deadline, or past [WithMaxElapsed];
//   - [ErrBudget] when the budget ([WithBudget]) refuses the retry;
//   - [ErrCircuitOpen] at once when the breaker ([WithBreaker]) refuses an
//     attempt: Reason is then the breaker's [*OpenError], which errors.Is
//     ErrCircuitOpen, and the Error's Attempts counts only the attempts made.
//     Before a wait, a breaker that is open and stays open past the end of
//     the wait stops Retry in the same way, with the time it stays open, so
//     that no wait is spent only to be refused: no budget token is taken and
//     WithNotify is not called. A wait that ends once the breaker would
//     admit a probe goes ahead;
//   - context.Cause(ctx) when the context ends: a context that is already done
//     runs no attempt, and cancelling during a wait returns at once.
//
// The wait is at least what the server asked for, which the strategy sees in
// [Attempt].After. An attempt whose caller's context ended while it ran
// (cancelled, with any cause, or past its deadline) teaches nothing: its
// result, success or failure, is neutral for the breaker and the limiter, and
// is not told to an Observer, since its end was the caller's doing.
//
// op gets ctx itself, or with WithAttemptTimeout a context derived from it.
// A panic in op is not recovered: it
// propagates to Retry's caller, after the breaker, if any, has recorded a
// failure. A strategy that implements [Observer] is told the outcome of
// every attempt. Without options Retry makes up to 4 attempts with
// FullJitter(Exponential{Initial: 200ms, Multiplier: 2, Max: 30s}) and
// [Classify], bounded only by ctx, on the real clock.
//
// The success path allocates nothing, and reads no clock unless an option
// (WithMaxElapsed, an Observer strategy, a Breaker with a FailureRatio)
// needs it. A nil op panics.
func Retry[T any](ctx context.Context, op func(ctx context.Context) (T, error), opts ...Option) (T, error) {
	if op == nil {
		panic("backoff: Retry: nil op")
	}
	c := &defaults
	if len(opts) > 0 {
		if len(opts) > 1 || opts[0].full == nil {
			return retryOpts(ctx, op, opts)
		}
		c = opts[0].full // one bundle, resolved when it was built
	}
	if contextTraces.Load() { // a plain load: contextTrace is not inlined
		if t := traceOf(ctx); t != nil {
			return retryWithContextTrace(ctx, op, c, t)
		}
	}
	if c.bare {
		// Nothing has to happen around the first attempt: make it here, so
		// that a success costs little more than the call of op.
		if !closed(ctx.Done()) {
			if c.trace != nil {
				return retryTracedFirst(ctx, op, c)
			}
			v, err := op(ctx)
			if err == nil {
				return v, nil
			}
			return retry(ctx, op, c, err)
		}
	}
	return retry(ctx, op, c, nil)
}

// retryOpts is Retry with options that are resolved on each call. It is a
// function of its own so that Retry's frame stays small.
func retryOpts[T any](ctx context.Context, op func(context.Context) (T, error), opts []Option) (T, error) {
	c := newConfig(opts)
	c.ctxTrace = contextTrace(ctx)
	return retry(ctx, op, &c, nil)
}

// retryTracedFirst is Retry's inline first attempt for a bare config with a
// trace: a success is told to the trace without the frame of retry, which
// costs more than the trace's own calls.
func retryTracedFirst[T any](ctx context.Context, op func(context.Context) (T, error), c *config) (T, error) {
	tr := tracer{cfg: c.trace}
	tr.attemptStart(TraceAttempt{Number: 1})
	var began time.Time
	timed := tr.timed()
	if timed {
		began = now(c.clock)
	}
	v, err := op(ctx)
	if timed {
		tr.attemptDone(TraceAttempt{Number: 1}, err, since(c.clock, began))
	}
	if err == nil {
		tr.done(1, nil)
		return v, nil
	}
	return retry(ctx, op, c, err)
}

// retryWithContextTrace is Retry for a context that holds a trace: c, which
// Retry may share with other calls, is copied to hold it.
func retryWithContextTrace[T any](ctx context.Context, op func(context.Context) (T, error), c *config, t *Trace) (T, error) {
	cc := *c
	cc.ctxTrace = t
	return retry(ctx, op, &cc, nil)
}

// isBare reports whether the first attempt needs nothing around it but a
// trace: no breaker, budget, observer, attempt timeout or elapsed-time limit.
func (c *config) isBare() bool {
	return c.breaker == nil && c.budget == nil && c.observer == nil &&
		c.attemptTimeout == 0 && c.maxElapsed == 0 && c.limiter == nil
}

// Do is [Retry] for an op that returns only an error.
func Do(ctx context.Context, op func(ctx context.Context) error, opts ...Option) error {
	if op == nil {
		panic("backoff: Do: nil op")
	}
	_, err := Retry(ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, op(ctx)
	}, opts...)
	return err
}

// retry runs the attempts. A non-nil first is the error of a first attempt
// that Retry already made, for a bare config.
func retry[T any](ctx context.Context, op func(context.Context) (T, error), c *config, first error) (T, error) {
	var zero T
	// Done returns the same channel every time: read it once.
	done := ctx.Done()
	// A non-nil first was made by Retry, which told c.trace of it; a
	// context trace then is none (retryWithContextTrace passes nil).
	tr := tracer{c.trace, c.ctxTrace}
	if first == nil && closed(done) {
		return zero, tr.stop(doneError(ctx, 0, nil))
	}
	// at is told of the attempts, unless the op tells it itself.
	at := tr
	if c.selfTraced {
		at = tracer{}
	}
	obs := c.observer
	var start time.Time
	if c.maxElapsed > 0 {
		start = now(c.clock)
	}
	var prev time.Duration // the wait before the attempt that just ran
	var last error         // the error of the attempt that just ran
	var timer *time.Timer  // of the real clock, made by the first wait, reset by the others
	if c.resent && c.budget != nil && !c.budget.TryWithdraw() {
		return zero, tr.stop(&Error{Reason: ErrBudget})
	}
	for n := 1; ; n++ {
		var permit Permit
		if c.breaker != nil {
			p, err := c.breaker.allow(tr)
			if err != nil {
				return zero, tr.stop(&Error{Attempts: n - 1, Err: last, Reason: err})
			}
			permit = p
		}
		var slot Slot // held by this loop, for Retry's own ops
		if c.limiter != nil {
			s, err := c.limiter.Acquire(ctx)
			if err != nil {
				permit.neutral()
				e := &Error{Attempts: n - 1, Err: last, Reason: err}
				if closed(done) {
					e = doneError(ctx, n-1, last)
				}
				if tr.on() {
					tr.refused(e.Reason)
				}
				return zero, tr.stop(e)
			}
			if c.slot != nil {
				*c.slot = s
			} else {
				slot = s
			}
		}
		if n == 1 && c.budget != nil && !c.resent {
			c.budget.Deposit()
		}
		var began time.Time
		told := first != nil // the attempt was made, and told, by Retry
		if at.on() && !told {
			if permit.b != nil || slot.l != nil {
				traceStart(at, TraceAttempt{Number: n}, permit, slot)
			} else {
				at.attemptStart(TraceAttempt{Number: n})
			}
		}
		if obs != nil || at.timed() && !told {
			began = now(c.clock)
		}
		var (
			v        T
			err      error
			timedOut bool
		)
		switch {
		case first != nil:
			err, first = first, nil // made by Retry
		case c.breaker != nil || slot.l != nil:
			v, err, timedOut = attemptWithPermit(ctx, op, c, permit, slot, at, TraceAttempt{Number: n}, began)
		case c.attemptTimeout > 0:
			v, err, timedOut = attemptWithTimeout(ctx, op, c)
		default:
			v, err = op(ctx)
		}
		if obs != nil || at.timed() && !told {
			latency := since(c.clock, began)
			if obs != nil && !closed(done) {
				// An attempt whose caller's context ended says
				// nothing of the service.
				obs.Observe(Outcome{Err: err, Latency: latency})
			}
			if c.breaker == nil && slot.l == nil && at.timed() && !told { // else told under the permit, or by Retry
				at.attemptDone(TraceAttempt{Number: n}, err, latency)
			}
		}
		if err == nil {
			slot.report(vSuccess, 0)
			if tr.on() {
				tr.done(n, nil)
			}
			return v, nil
		}
		last = err
		if closed(done) {
			slot.report(vNeutral, 0)
			return zero, tr.stop(doneError(ctx, n, err))
		}

		var class Class
		var delay time.Duration // the least wait the server asked for
		if c.classifier == nil {
			var f facts
			f.scan(err)
			class, delay = f.class(), f.serverDelay()
		} else {
			class, delay = c.classifier(err), serverDelay(err)
		}
		if timedOut && class >= Permanent {
			class = Transient
		}
		if slot.l != nil {
			slot.report(verdictOf(err, class, delay), 0)
		}
		if class >= Permanent {
			return zero, tr.stop(&Error{Attempts: n, Err: err, Reason: ErrPermanent})
		}
		if c.maxAttempts > 0 && n >= c.maxAttempts {
			return zero, tr.stop(&Error{Attempts: n, Err: err, Reason: ErrExhausted})
		}
		if c.serverDelay != nil {
			delay = max(delay, c.serverDelay(err, now(c.clock)))
		}
		a := Attempt{Number: n, Err: err, Class: class, Prev: prev, Random: rand.Float64(), After: delay}
		wait, ok := c.strategy.Delay(a)
		if !ok {
			return zero, tr.stop(&Error{Attempts: n, Err: err, Reason: ErrExhausted})
		}
		wait = max(wait, delay, 0)

		if c.maxElapsed > 0 || hasDeadline(ctx) {
			t := now(c.clock)
			if c.maxElapsed > 0 && wait > c.maxElapsed-nonNegative(t.Sub(start)) {
				return zero, tr.stop(&Error{Attempts: n, Err: err, Reason: ErrDeadline})
			}
			if dl, ok := ctx.Deadline(); ok && wait >= dl.Sub(t) {
				return zero, tr.stop(&Error{Attempts: n, Err: err, Reason: ErrDeadline})
			}
		}

		if c.breaker != nil {
			// Sleeping would only end in a refusal: the breaker (opened by
			// this very failure, say) stays open past the wait.
			if left := c.breaker.refusesFor(); left > wait {
				return zero, tr.stop(&Error{Attempts: n, Err: err, Reason: &OpenError{RetryAfter: left}})
			}
		}
		if c.budget != nil && !c.budget.TryWithdraw() {
			return zero, tr.stop(&Error{Attempts: n, Err: err, Reason: ErrBudget})
		}
		if c.notify != nil {
			c.notify(a, wait)
		}
		if tr.on() {
			if c.budget != nil {
				traceWait(tr, a, wait, c.budget)
			} else {
				tr.wait(traced(a), wait)
			}
		}
		if sleep(ctx, c.clock, wait, &timer) != nil || closed(done) {
			return zero, tr.stop(doneError(ctx, n, a.Err))
		}
		prev = wait
	}
}

func hasDeadline(ctx context.Context) bool {
	_, ok := ctx.Deadline()
	return ok
}

// attemptWithPermit runs op once under a breaker's permit and a limiter's
// slot (either may be the zero value), tells the traces at of its end
// (before the breaker hears of it, as with Transport, whose op tells them
// itself), and reports the result to the permit; retry reports it to the
// slot, once it has classified it. A panic in op or in a trace is recorded
// as a failure by the breaker, gives the slot back teaching nothing, and
// goes on up. The
// defer is here rather than in retry's loop, where it would be allocated on
// the heap at every attempt; here it is open-coded and costs nothing.
func attemptWithPermit[T any](ctx context.Context, op func(context.Context) (T, error), c *config, p Permit, slot Slot,
	at tracer, ta TraceAttempt, began time.Time) (v T, err error, timedOut bool) {
	panicked := true
	defer func() {
		if panicked {
			p.fail()
			slot.report(vNeutral, 0)
		}
	}()
	if c.attemptTimeout > 0 {
		v, err, timedOut = attemptWithTimeout(ctx, op, c)
	} else {
		v, err = op(ctx)
	}
	if at.timed() {
		at.attemptDone(ta, err, since(c.clock, began))
	}
	panicked = false
	switch {
	case timedOut:
		// The service was too slow, whatever the classifier or IsFailure
		// make of op's error: as for Retry's own class, the attempt's own
		// timeout is a failure.
		p.fail()
	case ended(ctx):
		// The caller gave up (with any cause, or at its deadline) while
		// the attempt ran: a failure is the caller's doing, not the
		// service's, and a success that raced the end proves as little.
		p.neutral()
	default:
		p.Done(err)
	}
	return v, err, timedOut
}

// neutral releases the permit with a result that counts neither way.
func (p Permit) neutral() {
	if p.b != nil {
		p.b.record(p, neutral)
	}
}

// errAttemptTimeout is the cause of an attempt context whose own timeout
// fired, which tells it apart from the caller's deadline.
var errAttemptTimeout = fmt.Errorf("backoff: attempt timed out: %w", context.DeadlineExceeded)

// attemptWithTimeout runs op once with the attempt timeout. timedOut reports
// that op failed after the attempt's own timeout fired while ctx was live.
func attemptWithTimeout[T any](ctx context.Context, op func(context.Context) (T, error), c *config) (v T, err error, timedOut bool) {
	actx, cancel := attemptContext(ctx, c.clock, c.attemptTimeout)
	defer cancel()
	v, err = op(actx)
	timedOut = err != nil && !ended(ctx) && errors.Is(context.Cause(actx), errAttemptTimeout)
	if timedOut && !errors.Is(err, context.DeadlineExceeded) {
		// On a fake clock the attempt context can only end cancelled; say
		// what happened, so that classifiers, breakers and observers see a
		// timeout whichever clock runs.
		err = &attemptTimeoutError{c.attemptTimeout}
	}
	return v, err, timedOut
}

// attemptTimeoutError is an attempt that its own timeout ended. It is a
// context.DeadlineExceeded for errors.Is, and its Timeout method reports
// true.
type attemptTimeoutError struct{ d time.Duration }

func (e *attemptTimeoutError) Error() string {
	return "backoff: attempt timed out after " + e.d.String()
}
func (e *attemptTimeoutError) Unwrap() error { return errAttemptTimeout }
func (e *attemptTimeoutError) Timeout() bool { return true }

// attemptContext derives the context of one attempt, which ends after d on
// clock (nil: the real clock) with the cause errAttemptTimeout. The caller
// must call cancel when the attempt is over.
func attemptContext(ctx context.Context, clock Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if clock == nil {
		return context.WithTimeoutCause(ctx, d, errAttemptTimeout)
	}
	// A fake clock has no timer that a context can use: a watcher cancels it.
	// With such a clock, the attempt context's Err is context.Canceled; its
	// cause (context.Cause) is errAttemptTimeout, which is
	// context.DeadlineExceeded.
	ta := startAttempt(ctx, clock, d)
	return ta.ctx, ta.end
}

// timedAttempt is the context of one attempt under an attempt timeout, whose
// timer can be disarmed without ending the context: Transport disarms it once
// the response headers are in, so that it never cuts off a body the caller
// is still reading. On the real clock, Retry's attempts use a context
// deadline instead, which the op can see.
type timedAttempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  timeoutTimer
}

func startAttempt(ctx context.Context, clock Clock, d time.Duration) *timedAttempt {
	ta := new(timedAttempt)
	ta.ctx, ta.cancel = context.WithCancelCause(ctx)
	ta.timer.cancel = ta.cancel
	ta.timer.start(clock, d)
	return ta
}

// disarm stops the attempt's timer, and reports false if it already fired.
func (ta *timedAttempt) disarm() bool { return ta.timer.stop() }

// end stops the timer and ends the attempt's context. A nil ta is a no-op.
func (ta *timedAttempt) end() {
	if ta != nil {
		ta.timer.stop()
		ta.cancel(context.Canceled)
	}
}

// timeoutTimer cancels a context with errAttemptTimeout after a time on a
// Clock, unless it is stopped first. Unlike a context's own deadline, it can
// be stopped without ending the context.
type timeoutTimer struct {
	cancel context.CancelCauseFunc
	state  atomic.Int32  // timerArmed, timerFired or timerStopped
	t      *time.Timer   // with the real clock
	done   chan struct{} // with a fake clock: closed to stop its watcher
}

const (
	timerArmed int32 = iota
	timerFired
	timerStopped
)

// start arms the timer once.
func (g *timeoutTimer) start(clock Clock, d time.Duration) {
	if clock == nil {
		g.t = time.AfterFunc(d, g.expire)
		return
	}
	// A fake clock has no timer to stop: watch it until stopped. After is
	// called here, not in the watcher, so that the clock knows of the wait
	// by the time start returns.
	fired := clock.After(d)
	g.done = make(chan struct{})
	go func() {
		select {
		case <-fired:
			g.expire()
		case <-g.done:
		}
	}()
}

func (g *timeoutTimer) expire() {
	if g.state.CompareAndSwap(timerArmed, timerFired) {
		g.cancel(errAttemptTimeout)
	}
}

// stop disarms the timer; it reports false if the timer fired first. Once
// stop has returned true, the timer never fires. stop may be called again.
func (g *timeoutTimer) stop() bool {
	if g.state.CompareAndSwap(timerArmed, timerStopped) {
		if g.t != nil {
			g.t.Stop()
		} else {
			close(g.done)
		}
		return true
	}
	return g.state.Load() == timerStopped
}

// sleep waits d on clock (nil: the real clock), or until ctx ends, and then
// returns context.Cause(ctx). A wait of 0 starts no timer. On the real clock
// *t holds one timer for all the waits of a call, made by the first: since
// Go 1.23 a stopped or fired timer can be reset with no stale tick to drain.
func sleep(ctx context.Context, clock Clock, d time.Duration, t **time.Timer) error {
	if d <= 0 {
		return nil
	}
	if clock == nil {
		if *t == nil {
			*t = time.NewTimer(d)
		} else {
			(*t).Reset(d)
		}
		select {
		case <-(*t).C:
			return nil
		case <-ctx.Done():
			(*t).Stop()
			return cause(ctx)
		}
	}
	select {
	case <-clock.After(d):
		return nil
	case <-ctx.Done():
		return cause(ctx)
	}
}

// ended reports whether ctx is done. It reads ctx.Done rather than ctx.Err:
// the contexts of clockwork's WithTimeout (v0.5.0) block in Err until they
// end, which would stall Retry before its first attempt.
func ended(ctx context.Context) bool {
	return closed(ctx.Done())
}

// closed reports whether done is closed; a nil done (a context that never
// ends, such as Background) never is, and is told apart without a select.
func closed(done <-chan struct{}) bool {
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// cause is context.Cause(ctx) for a done ctx, never nil: a context type of
// its own (clockwork's, say) can be done while Cause, which finds the
// nearest standard ancestor, still reports nil.
func cause(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return ctx.Err()
}
