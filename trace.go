package backoff

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Trace is a set of functions that [Retry], [Transport] and their
// [Breaker], [Budget] and [Limiter] call as they act, for logs, metrics and
// spans: the pattern of net/http/httptrace's ClientTrace. Every field is
// optional; a nil Trace, or a nil field, is skipped at the cost of a nil
// check.
//
// Give a Trace to every call with [WithTrace], or to one call with
// [ContextWithTrace]. For one call:
//   - AttemptStart and AttemptDone bracket each attempt the op (or Base)
//     runs; an attempt that the breaker refused never starts.
//   - Wait is called before each wait, with the attempt that failed: one per
//     retry. It is not called when Retry stops instead.
//   - Refused is called when a retry or an attempt is refused rather than
//     made: by the breaker (the reason is its [*OpenError], which errors.Is
//     [ErrCircuitOpen]), by the budget ([ErrBudget]), or when a [Limiter]
//     wait ended with the context (the reason is the context's cause).
//   - Done is called once, last, with the attempts made and the error that
//     Retry returns: nil or an [*Error]. Through Transport, a failed status
//     that Transport returns as a response still reaches Done as the *Error.
//   - BreakerState is told of each change of state of the breaker that this
//     call's own attempts caused: a change made by another call goes to that
//     call's trace, and one made by [Breaker.State], [Breaker.Trip] or
//     [Breaker.Reset] to none.
//
// The functions run on the goroutine that called Retry or RoundTrip, never
// under a lock; BreakerState runs where the breaker delivers its
// OnStateChange (after it, on the goroutine that delivers the changes in
// order, most often the caller's). A function that panics is not recovered:
// the panic goes on up like one of op, after the breaker and the budget have
// settled the attempt as for a panic in op.
//
// AttemptDone's duration costs two clock reads per attempt, which Retry and
// Transport make only when some trace of the call has an AttemptDone: a
// trace without it is cheaper (see bench/RESULTS.md).
//
// A Trace is only read, so one value is safe for concurrent use by any
// number of calls, as long as its functions are.
type Trace struct {
	AttemptStart func(TraceAttempt)                       // Number is 1 for the first attempt
	AttemptDone  func(TraceAttempt, error, time.Duration) // error nil: success; the duration is the attempt's, on the Retry's clock
	Wait         func(Attempt, time.Duration)             // before each wait
	Done         func(attempts int, err error)            // once per Retry; err nil or *Error
	BreakerState func(b *Breaker, from, to State)         // from WithBreaker's breaker
	Refused      func(reason error)                       // ErrCircuitOpen, ErrBudget, a Limiter wait that ended

	// Shared is told when an object whose state is shared by the replicas
	// of a service (the redis module's Limiter, Breaker and Budget) goes
	// on alone, on its local state, because of err (its store is down,
	// slow, or holds garbage), and with a nil err when it shares again.
	// key names the object. It is called from that object's own goroutine,
	// not a caller's, once per change; Retry and Transport never call it.
	Shared func(key string, err error)
}

// TraceAttempt is one attempt, as a [Trace] sees it. It is a plain value,
// safe for concurrent use.
type TraceAttempt struct {
	Number int // 1 for the first attempt

	// Request is the request that the attempt sends: through Transport
	// only, nil in Retry. It may be the caller's request or a copy of it,
	// for this attempt; read it, never change it.
	Request *http.Request

	// Response is the attempt's response, in AttemptDone through Transport
	// when there was one (also for a failed status), so that a span or a
	// log can tell its status; nil otherwise. Its body belongs to the
	// caller: do not read or close it.
	Response *http.Response
}

// WithTrace sets the [Trace] that every call made with these options tells
// what it does. nil means none (the default), and turns off one set by an
// earlier option. A call whose context also holds a trace
// ([ContextWithTrace]) calls both: this one first.
func WithTrace(t *Trace) Option {
	return Option{kind: optTrace, val: t}
}

// traceKey is the context key of a ContextWithTrace trace.
type traceKey struct{}

// contextTraces reports whether ContextWithTrace was ever called in this
// process. Until it is, no context can hold a trace, so Retry and Transport
// skip the lookup: ctx.Value walks the whole chain of a context that holds
// no such value, which made a successful Retry 1.45 times as slow on
// Background (7.5 ns against 10.9 ns, interleaved medians) and costs some
// 20 ns more on a server request's context. It is the package's one piece
// of mutable state besides the pool of peek buffers, and like that pool it
// changes no result: it only goes from false to true, and only decides
// whether a lookup that would find nothing is made.
var contextTraces atomic.Bool

// ContextWithTrace returns a copy of ctx that carries t, for the one call of
// [Retry], [Do] or [Transport.RoundTrip] (through the request's context)
// that it is given to: the per-call trace of net/http/httptrace. As with
// httptrace, a trace that ctx already holds is kept: the new t's functions
// are called first, then the older ones. A call with [WithTrace] as well
// calls that trace first, then this one. A nil t returns ctx's trace
// unchanged. A nil ctx panics.
func ContextWithTrace(ctx context.Context, t *Trace) context.Context {
	if ctx == nil {
		panic("backoff: ContextWithTrace: nil context")
	}
	if t == nil {
		return ctx
	}
	if old, _ := ctx.Value(traceKey{}).(*Trace); old != nil {
		t = composeTraces(t, old)
	}
	contextTraces.Store(true)
	return context.WithValue(ctx, traceKey{}, t)
}

// contextTrace returns the trace that ctx holds, or nil.
func contextTrace(ctx context.Context) *Trace {
	if !contextTraces.Load() {
		return nil
	}
	return traceOf(ctx)
}

func traceOf(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// composeTraces returns a trace that calls a's functions, then b's. It is
// made once per ContextWithTrace, so that a call holds at most two traces,
// its config's and its context's, and calling them allocates nothing.
func composeTraces(a, b *Trace) *Trace {
	var t Trace
	if a.AttemptStart != nil || b.AttemptStart != nil {
		t.AttemptStart = func(x TraceAttempt) {
			if a.AttemptStart != nil {
				a.AttemptStart(x)
			}
			if b.AttemptStart != nil {
				b.AttemptStart(x)
			}
		}
	}
	if a.AttemptDone != nil || b.AttemptDone != nil {
		t.AttemptDone = func(x TraceAttempt, err error, d time.Duration) {
			if a.AttemptDone != nil {
				a.AttemptDone(x, err, d)
			}
			if b.AttemptDone != nil {
				b.AttemptDone(x, err, d)
			}
		}
	}
	if a.Wait != nil || b.Wait != nil {
		t.Wait = func(x Attempt, d time.Duration) {
			if a.Wait != nil {
				a.Wait(x, d)
			}
			if b.Wait != nil {
				b.Wait(x, d)
			}
		}
	}
	if a.Done != nil || b.Done != nil {
		t.Done = func(n int, err error) {
			if a.Done != nil {
				a.Done(n, err)
			}
			if b.Done != nil {
				b.Done(n, err)
			}
		}
	}
	if a.BreakerState != nil || b.BreakerState != nil {
		t.BreakerState = func(br *Breaker, from, to State) {
			if a.BreakerState != nil {
				a.BreakerState(br, from, to)
			}
			if b.BreakerState != nil {
				b.BreakerState(br, from, to)
			}
		}
	}
	if a.Refused != nil || b.Refused != nil {
		t.Refused = func(reason error) {
			if a.Refused != nil {
				a.Refused(reason)
			}
			if b.Refused != nil {
				b.Refused(reason)
			}
		}
	}
	if a.Shared != nil || b.Shared != nil {
		t.Shared = func(key string, err error) {
			if a.Shared != nil {
				a.Shared(key, err)
			}
			if b.Shared != nil {
				b.Shared(key, err)
			}
		}
	}
	return &t
}

// tracer is the traces of one call: its config's, then its context's. It is
// passed by value, so that holding two traces allocates nothing.
type tracer struct{ cfg, ctx *Trace }

// on reports whether there is a trace at all.
func (t tracer) on() bool { return t.cfg != nil || t.ctx != nil }

// timed reports whether a trace wants attempt durations, which cost a read
// of the clock before and after each attempt.
func (t tracer) timed() bool {
	return t.cfg != nil && t.cfg.AttemptDone != nil || t.ctx != nil && t.ctx.AttemptDone != nil
}

func (t tracer) attemptStart(a TraceAttempt) {
	if t.cfg != nil && t.cfg.AttemptStart != nil {
		t.cfg.AttemptStart(a)
	}
	if t.ctx != nil && t.ctx.AttemptStart != nil {
		t.ctx.AttemptStart(a)
	}
}

func (t tracer) attemptDone(a TraceAttempt, err error, d time.Duration) {
	if t.cfg != nil && t.cfg.AttemptDone != nil {
		t.cfg.AttemptDone(a, err, d)
	}
	if t.ctx != nil && t.ctx.AttemptDone != nil {
		t.ctx.AttemptDone(a, err, d)
	}
}

func (t tracer) wait(a Attempt, d time.Duration) {
	if t.cfg != nil && t.cfg.Wait != nil {
		t.cfg.Wait(a, d)
	}
	if t.ctx != nil && t.ctx.Wait != nil {
		t.ctx.Wait(a, d)
	}
}

func (t tracer) done(n int, err error) {
	if t.cfg != nil && t.cfg.Done != nil {
		t.cfg.Done(n, err)
	}
	if t.ctx != nil && t.ctx.Done != nil {
		t.ctx.Done(n, err)
	}
}

func (t tracer) refused(reason error) {
	if t.cfg != nil && t.cfg.Refused != nil {
		t.cfg.Refused(reason)
	}
	if t.ctx != nil && t.ctx.Refused != nil {
		t.ctx.Refused(reason)
	}
}

// breakerState reports whether a trace wants state changes.
func (t tracer) wantsStates() bool {
	return t.cfg != nil && t.cfg.BreakerState != nil || t.ctx != nil && t.ctx.BreakerState != nil
}

func (t tracer) breakerState(b *Breaker, from, to State) {
	if t.cfg != nil && t.cfg.BreakerState != nil {
		t.cfg.BreakerState(b, from, to)
	}
	if t.ctx != nil && t.ctx.BreakerState != nil {
		t.ctx.BreakerState(b, from, to)
	}
}

// SlogTrace returns a [Trace] that writes to l one record per retry (Wait,
// at level Info), per give-up (Done with an error, at Warn), per change
// of a breaker's state (Warn when it opens, Info otherwise) and per change
// of a shared object between shared and local (Shared: Warn when it goes
// on alone, Info when it shares again). Attempts that succeed, and calls
// that succeed, write nothing.
//
// The records' attributes are named the same way everywhere:
//
//	attempt   the attempt that failed (1 for the first)     retry
//	attempts  the attempts made                             give-up
//	wait      the wait before the next attempt              retry
//	class     the failed attempt's Class: transient, ...    retry
//	status    the HTTP status, for a *StatusError           retry, give-up
//	error     the failed attempt's error                    retry, give-up
//	reason    why Retry stopped: exhausted, permanent,      give-up
//	          deadline, circuit_open, budget, canceled,
//	          timeout (the context's deadline)
//	from, to  the breaker's states: closed, open, half-open state change
//	key       the shared object                              shared
//
// A nil l panics. The Trace is safe for concurrent use, as l is.
func SlogTrace(l *slog.Logger) *Trace {
	if l == nil {
		panic("backoff: SlogTrace: nil logger")
	}
	return &Trace{
		Wait: func(a Attempt, d time.Duration) {
			attrs := [5]slog.Attr{
				slog.Int("attempt", a.Number),
				slog.Duration("wait", d),
				slog.String("class", a.Class.String()),
			}
			n := 3
			if code := statusOf(a.Err); code != 0 {
				attrs[n] = slog.Int("status", code)
				n++
			}
			attrs[n] = slog.Any("error", a.Err)
			l.LogAttrs(context.Background(), slog.LevelInfo, "backoff: retrying", attrs[:n+1]...)
		},
		Done: func(attempts int, err error) {
			if err == nil {
				return
			}
			attrs := [4]slog.Attr{
				slog.Int("attempts", attempts),
				slog.String("reason", ReasonName(err)),
			}
			n := 2
			last := err
			if e, ok := err.(*Error); ok {
				last = e.Err
			}
			if code := statusOf(last); code != 0 {
				attrs[n] = slog.Int("status", code)
				n++
			}
			if last != nil {
				attrs[n] = slog.Any("error", last)
				n++
			}
			l.LogAttrs(context.Background(), slog.LevelWarn, "backoff: giving up", attrs[:n]...)
		},
		BreakerState: func(_ *Breaker, from, to State) {
			level := slog.LevelInfo
			if to == Open {
				level = slog.LevelWarn
			}
			l.LogAttrs(context.Background(), level, "backoff: breaker state changed",
				slog.String("from", from.String()), slog.String("to", to.String()))
		},
		Shared: func(key string, err error) {
			if err != nil {
				l.LogAttrs(context.Background(), slog.LevelWarn, "backoff: shared state lost, going on alone",
					slog.String("key", key), slog.Any("error", err))
				return
			}
			l.LogAttrs(context.Background(), slog.LevelInfo, "backoff: shared state back", slog.String("key", key))
		},
	}
}

// statusOf returns the status of the [*StatusError] in err, or 0.
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// ReasonName returns a short, stable name for why a [Retry] stopped, for a
// log attribute or a metric's label: "exhausted", "permanent", "deadline",
// "circuit_open", "budget" for the Err… sentinels; "timeout" when the
// context's deadline passed; "canceled" when the context ended otherwise
// (cancelled, with any cause); "" for a nil err. err is the [*Error] that
// Retry returned, or its Reason.
func ReasonName(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := err.(*Error); ok {
		err = e.Reason
	}
	switch {
	case err == nil:
		return "canceled"
	case errors.Is(err, ErrExhausted):
		return "exhausted"
	case errors.Is(err, ErrPermanent):
		return "permanent"
	case errors.Is(err, ErrDeadline):
		return "deadline"
	case errors.Is(err, ErrCircuitOpen):
		return "circuit_open"
	case errors.Is(err, ErrBudget):
		return "budget"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "canceled"
}

// stop tells the traces that the call ends with e, and returns e. A refusal
// by the breaker or the budget is told to Refused first.
func (t tracer) stop(e *Error) *Error {
	if !t.on() {
		return e
	}
	if errors.Is(e.Reason, ErrCircuitOpen) || e.Reason == ErrBudget {
		t.refused(e.Reason)
	}
	te := e
	if ae, ok := e.Err.(*attemptError); ok {
		// As Transport returns it: with the attempt's own error.
		c := *e
		c.Err = ae.err
		te = &c
	}
	t.done(e.Attempts, te)
	return e
}

// traceStart tells the traces that an attempt under permit p and limiter
// slot s starts. If a callback panics, p and s are settled as for a panic in
// op, so that neither a probe's slot nor the limiter's is kept.
func traceStart(t tracer, a TraceAttempt, p Permit, s Slot) {
	started := false
	defer func() {
		if !started {
			p.fail()
			s.report(vNeutral, 0)
		}
	}()
	t.attemptStart(a)
	started = true
}

// traceWait tells the traces of a wait before a retry that drew a token on
// b. If a callback panics, the retry is not made: b gets the token back.
func traceWait(t tracer, a Attempt, d time.Duration, b *Budget) {
	told := false
	defer func() {
		if !told {
			b.refund()
		}
	}()
	t.wait(traced(a), d)
	told = true
}

// traced is a as the traces see it: through Transport, with the attempt's
// own error, as Transport's notify sees it.
func traced(a Attempt) Attempt {
	if ae, ok := a.Err.(*attemptError); ok {
		a.Err = ae.err
	}
	return a
}
