package backoff

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Transport is an [http.RoundTripper] that retries failed requests through
// Base, with the same [Option] values as [Retry]: strategy, attempts,
// breaker, budget, clock, classifier, notify and attempt timeout. The zero
// Transport sends through http.DefaultTransport with Retry's defaults.
// A Transport is safe for concurrent use by multiple goroutines, as long as
// Base is; its fields must not change once it is in use.
//
// What fails, and what is retried:
//   - A response whose status is 400 or more is an error for the classifier: a
//     [*StatusError], with RetryAfter from [ParseRetryAfter] on 429 and 503
//     (Retry then waits at least that long). A Permanent status (400, 401,
//     404, ...) is returned to the caller untouched, with a nil error;
//     Transient and Temporary ones are retried.
//   - Before it is classified, a failed response has up to 4 KiB of its body
//     read, into [StatusError].Body, with its header in StatusError.Header,
//     so that a classifier (llm.Classify) can read what the server said.
//     When the response is returned, those bytes are given back first: the
//     caller reads the whole body, unchanged.
//   - A response below 400 is returned as soon as its headers arrive, and its
//     body is never read (unless BufferBody says so), so a streamed
//     (server-sent events) body reaches the caller as it comes. Nothing is
//     retried after that.
//   - A response with a nil Body from Base is treated as having an empty
//     body, as http.Client does.
//   - When retrying stops on a failed status (attempts used up, the strategy
//     said stop, [ErrDeadline] because a Retry-After would end past the
//     request's deadline, [ErrBudget], or the status is Permanent), the last
//     response is returned with a nil error and its body unread, as
//     http.RoundTripper requires.
//   - A transport error (no response), an open [Breaker], a GetBody failure
//     and the end of the request's context return a nil response and the
//     [*Error] from Retry, through which the underlying error stays
//     reachable with errors.Is and errors.As.
//   - A response that is not returned has at most 4 KiB of its body read in
//     all (the bytes read for the classifier included), so its connection
//     can be reused, and is then closed, before the wait. When the breaker
//     would stay open past the wait, there is no wait: the failed response
//     is returned at once.
//
// The idempotency rule: a request is idempotent when its method is GET (or
// empty), HEAD, OPTIONS, TRACE, PUT or DELETE, or when its Header has an
// "Idempotency-Key" or "X-Idempotency-Key" entry (the canonical key, as
// net/http checks it). An idempotent request is retried on every failure that
// the classifier does not call Permanent. Any other request (POST, PATCH, ...)
// is retried only where the server surely did not act on it: when the
// connection was never made (the error holds a [*net.OpError] whose Op is
// "dial": refused, unreachable, a DNS failure), when an HTTP/2 server
// refused its stream (RST_STREAM with REFUSED_STREAM, or a GOAWAY that left
// it unprocessed: RFC 9113 says such a request was not acted on), or when the
// answer was 429 or 503; every other failure is final for it, as if
// Permanent. The classifier
// still sees each failure once, so a breaker still counts a 500 on a POST.
// RetryNonIdempotent lifts the rule: every request is retried like an
// idempotent one.
//
// Bodies: the first attempt sends the request's own Body, as http.Client
// does; every retry sends a fresh body from req.GetBody (which, as net/http
// says, returns a new copy of Body). A request with a body and no GetBody
// cannot be replayed: it gets exactly one attempt. A GetBody error ends the
// request at once with that error. The Body is closed in every case, also
// when no attempt runs, as http.RoundTripper requires.
//
// The caller's request is never modified. An attempt that needs nothing
// changed in it (the first attempt, or any attempt without a body, when
// there is no attempt timeout) sends the caller's request itself: the
// success path then costs no copy. Any other attempt sends a shallow copy
// (http.Request.WithContext) with its own context and body, sharing the URL
// and Header with the caller's request, which a RoundTripper only reads.
//
// [WithAttemptTimeout] bounds each attempt until its response headers arrive,
// and the body bytes that Transport reads before it hands the response on
// (the first 4 KiB of a failed status, a body that BufferBody reads): an
// attempt that times out, while the request's context lives, is Transient and
// is retried (for a non-idempotent request, only as the rule above allows).
// Once those are in, the timeout is disarmed, so it never cuts off a body
// that the caller is still reading; the attempt's context ends
// when the caller closes the returned body (reaching EOF is not enough: close
// it, as always), which is why the returned body is then wrapped. While a
// discarded response is drained, the timeout applies again. Without an
// attempt timeout the request's context is used as it is, and a discarded
// response's drain is bounded only by it.
//
// The classifier and the notify function see each attempt's own error: a
// [*StatusError] for a failed status, Base's error, or, for an attempt that
// timed out, an error that is context.DeadlineExceeded for errors.Is and
// whose Timeout method reports true. A Strategy, an [Observer] and a
// [Breaker] see it wrapped in an error that reads the same and unwraps to it,
// so errors.Is and errors.As find it.
//
// When time ran out (the request's deadline, [ErrDeadline], or the last
// attempt's own timeout), the [*Error] that RoundTrip returns reports it by
// its Timeout method, so url.Error.Timeout, a net.Error's Timeout and
// os.IsTimeout hold, as they do for a bare http.Transport.
//
// Stacked retries: a client that retries on its own above Transport (the
// official OpenAI SDKs, openai-go among them, resend a request twice by
// default) would multiply the attempts. Such a client numbers its resends in
// the X-Stainless-Retry-Count header (0 on the first send). When a request
// arrives with a count above 0 and the options have a [Budget], its first
// attempt is itself a retry: it withdraws a token instead of depositing one,
// and when the budget refuses, RoundTrip makes no attempt and returns the
// [*Error] with [ErrBudget] and 0 attempts. So the budget bounds the retries
// of both layers together. Better still, turn the client's own retries off
// (openai-go: option.WithMaxRetries(0)).
//
// With [WithLimiter], every attempt holds a slot of the [Limiter]: a failed
// attempt until it is classified, a successful one until its response's body
// is closed (a body read whole by BufferBody, or an empty one, gives the slot
// back before RoundTrip returns). A model API counts a streamed answer
// against its concurrency limit until the last event, so a slot given back
// when the headers arrive would let the callers open more streams than the
// limit allows. So close every body, as net/http asks anyway: an unclosed
// body keeps its slot. With a Limiter, RoundTrip makes up to two
// allocations more per call: its state, which a slot handed across attempts
// takes off the stack, and, for a body not read whole, the body's wrapper.
//
// Transport never calls CloseIdleConnections on its own; see
// [Transport.CloseIdleConnections].
type Transport struct {
	Base               http.RoundTripper // nil: http.DefaultTransport
	Options            []Option          // as for Retry: strategy, attempts, breaker, budget, ...
	RetryNonIdempotent bool              // retry POST/PATCH on every retryable failure

	// BufferBody, when above 0, makes a response below 400 be read whole,
	// up to BufferBody bytes, before it is returned, so that a connection
	// cut in the middle of the body is a failed attempt, retried under the
	// rules above (the idempotency rule included), instead of an error in
	// the caller's read; when no retry follows, RoundTrip returns that
	// read's error in its [*Error], and no response. A body longer than BufferBody (by its
	// Content-Length, or once that many bytes are read) is returned as it
	// streams, the bytes read given back first; a body of Content-Type
	// text/event-stream, and a 101 Switching Protocols connection, are
	// never buffered. The attempt timeout bounds the buffering; a body read
	// whole has its connection released at once, so closing it ends
	// nothing more. 0 (the default) turns it off; a negative BufferBody
	// makes RoundTrip return an error that names it, with no attempt made.
	BufferBody int64
}

// NewClient returns an [http.Client] whose Transport is a [Transport] with
// opts and http.DefaultTransport as its base.
func NewClient(opts ...Option) *http.Client {
	return &http.Client{Transport: &Transport{Options: slices.Clone(opts)}}
}

// CloseIdleConnections closes the idle connections of Base, when Base has
// such a method, so that http.Client.CloseIdleConnections reaches it. A nil
// Base stands for http.DefaultTransport, which the whole program shares: its
// connections are left alone.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.Base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// drainLimit is how much of a discarded body is read so that its connection
// can be reused; a longer body is cut off by closing it.
const drainLimit = 4 << 10

var (
	errNilRequest = errors.New("backoff: Transport.RoundTrip: nil request")
	errNoReplay   = errors.New("backoff: Transport: request body cannot be replayed: no GetBody")
)

// RoundTrip sends req, retrying as [Transport] describes.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil {
		return nil, errNilRequest
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if req.URL == nil || req.Header == nil {
		if hasBody {
			req.Body.Close()
		}
		if req.URL == nil {
			return nil, errors.New("backoff: Transport.RoundTrip: nil Request.URL")
		}
		return nil, errors.New("backoff: Transport.RoundTrip: nil Request.Header")
	}

	if t.BufferBody < 0 {
		if hasBody {
			req.Body.Close()
		}
		return nil, errors.New("backoff: Transport.BufferBody is negative: " + strconv.FormatInt(t.BufferBody, 10))
	}

	c := newConfig(t.Options)
	// The attempts tell the traces of themselves, with their request.
	c.ctxTrace, c.selfTraced = contextTrace(req.Context()), true
	// rt lives in this frame: the success path allocates nothing for it.
	// Its fields are set one by one, which the compiler stores in place;
	// a composite literal is built aside and copied.
	var rt roundTrip
	rt.req, rt.base, rt.hasBody, rt.retryAll = req, t.Base, hasBody, t.RetryNonIdempotent
	rt.bufferBody = t.BufferBody
	// The attempt timeout is applied by the attempts rather than by retry,
	// whose attempt context would end when the attempt returns, while the
	// caller still has a body to read.
	rt.timeout, rt.clock = c.attemptTimeout, c.clock
	rt.classifier, rt.notify = c.classifier, c.notify
	rt.tr = tracer{c.trace, c.ctxTrace}
	if rt.base == nil {
		rt.base = http.DefaultTransport
	}
	if rt.classifier == nil {
		rt.classifier = Classify
	}
	c.attemptTimeout = 0
	c.classifier, c.notify = classifyAttempt, notifyAttempt
	if hasBody && req.GetBody == nil {
		c.maxAttempts = 1
	}
	if c.budget != nil {
		c.resent = isResend(req.Header)
	}
	if c.limiter != nil {
		return roundTripWithSlots(rt, &c)
	}
	resp, err := retry(req.Context(), rt.attempt, &c, nil)
	return rt.finish(resp, err)
}

// roundTripWithSlots is RoundTrip's retry under WithLimiter: the attempts
// hold their slots past retry's loop (see holdSlot), so retry hands each
// slot to the roundTrip. That pointer moves the roundTrip to the heap, one
// allocation per call, which is why this path has a frame of its own and
// the path without a limiter allocates nothing for it.
func roundTripWithSlots(rt roundTrip, c *config) (*http.Response, error) {
	p := &rt
	c.slot = &p.slot
	defer p.dropSlot() // a panic in Base gives back the slot in hand
	resp, err := retry(p.req.Context(), p.attempt, c, nil)
	return p.finish(resp, err)
}

// isResend reports whether the request is a client's own retry: the official
// OpenAI SDKs (openai-go's internal/requestconfig, and the other Stainless
// generated clients) set X-Stainless-Retry-Count to 0 on a first send and to
// the number of the resend on each retry.
func isResend(h http.Header) bool {
	v := h["X-Stainless-Retry-Count"]
	if len(v) == 0 {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v[0]))
	return err == nil && n > 0
}

// roundTrip is one call of RoundTrip: what is fixed before the first attempt,
// and what the attempts have left behind. Each attempt is an [attempt].
type roundTrip struct {
	req        *http.Request // the caller's; never modified
	base       http.RoundTripper
	timeout    time.Duration // the attempt timeout; 0: none
	clock      Clock
	classifier Classifier                   // the user's; never nil
	notify     func(Attempt, time.Duration) // the user's; nil: none
	retryAll   bool                         // RetryNonIdempotent
	hasBody    bool                         // req has a body to send
	bufferBody int64                        // Transport.BufferBody
	tr         tracer                       // told of each attempt

	n           int  // attempts started
	sentOwnBody bool // the first attempt sent req.Body, which Base then closes
	// slot is the limiter's slot of the attempt in progress, put there by
	// retry (WithLimiter); the attempt hands it on to its failure or to
	// the body it returns.
	slot Slot
	// f is allocated at the first failure: the success path needs no state
	// beyond RoundTrip's frame.
	f *failures
}

// attempt is the op that RoundTrip gives retry: one attempt, from the
// request it sends to the response it returns or the failure it reports.
// retry hands it the request's context as it is (its attempt timeout is off).
func (rt *roundTrip) attempt(ctx context.Context) (*http.Response, error) {
	if rt.f != nil {
		rt.f.discard() // in case retry did not notify before this attempt
	}
	rt.n++
	// The checks around prepare and succeeded keep the success path of a
	// plain request to one call beyond Base's.
	a := attempt{ctx: ctx, req: rt.req}
	if rt.timeout > 0 || rt.hasBody {
		if err := a.prepare(rt); err != nil {
			return nil, err
		}
	}
	if rt.tr.on() {
		return a.traced(rt)
	}
	resp, err := a.send(rt)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < http.StatusBadRequest {
		if a.ta == nil && rt.bufferBody == 0 {
			// Nothing to read, no timer to disarm.
			if rt.slot.l != nil {
				resp.Body = rt.holdSlot(resp.Body)
			}
			return resp, nil
		}
		resp, err = a.succeeded(rt, resp)
		if err == nil && rt.slot.l != nil {
			resp.Body = rt.holdSlot(resp.Body)
		}
		return resp, err
	}
	return nil, a.failed(rt, resp)
}

// holdSlot gives the attempt's limiter slot to the body of its successful
// response, which gives it back when it is closed: a model API's concurrency
// limit counts a streamed answer until its last event, so a slot given back
// when the headers arrive would let the callers open more streams than the
// limit. A body already read whole, or empty, gives the slot back at once.
func (rt *roundTrip) holdSlot(body io.ReadCloser) io.ReadCloser {
	s := rt.slot
	rt.slot = Slot{}
	switch body.(type) {
	case *bufferedBody:
		s.report(vSuccess, 0)
		return body
	}
	if body == http.NoBody {
		s.report(vSuccess, 0)
		return body
	}
	if rw, ok := body.(io.ReadWriteCloser); ok {
		return &slotRWBody{slotBody{rw, s}, rw}
	}
	return &slotBody{body, s}
}

// dropSlot gives back a slot still in hand, teaching nothing: after a panic.
func (rt *roundTrip) dropSlot() {
	rt.slot.report(vNeutral, 0)
	rt.slot = Slot{}
}

// slotBody gives its attempt's limiter slot back, as a success, when it is
// closed (a second Close gives nothing more).
type slotBody struct {
	io.ReadCloser
	slot Slot
}

func (b *slotBody) Close() error {
	err := b.ReadCloser.Close()
	b.slot.report(vSuccess, 0)
	return err
}

type slotRWBody struct {
	slotBody
	w io.Writer
}

func (b *slotRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// fail makes err the failure of the attempt that just ran, for retry's
// classifier and notify (classifyAttempt, notifyAttempt).
func (rt *roundTrip) fail(err error, ae attemptError) error {
	if rt.f == nil {
		rt.f = &failures{
			classifier: rt.classifier, notify: rt.notify,
			clock: rt.clock, timeout: rt.timeout,
			idempotent: rt.retryAll || isIdempotent(rt.req),
		}
	}
	ae.err, ae.f = err, rt.f
	// The failure takes the slot: classifyAttempt reports it, with the
	// class, or finish gives it back if retry stopped first.
	ae.slot, rt.slot = rt.slot, Slot{}
	return &ae
}

// finish turns what retry returned into RoundTrip's answer.
func (rt *roundTrip) finish(resp *http.Response, err error) (*http.Response, error) {
	if rt.hasBody && !rt.sentOwnBody {
		// No attempt ran: the request's own body is still ours to close.
		rt.req.Body.Close()
	}
	if err == nil {
		return resp, nil
	}
	e, ok := err.(*Error)
	if !ok {
		return nil, err
	}
	if f := rt.f; f != nil && f.last != nil {
		// Still held: no retry followed it (a wait was not begun, or
		// the breaker would stay open past it).
		if !ended(rt.req.Context()) {
			last := f.last
			f.last = nil
			return last, nil
		}
		f.discard()
	}
	if ae, ok := e.Err.(*attemptError); ok {
		ae.slot.report(vNeutral, 0) // retry stopped before classifying it
		e2 := *e
		e2.Err = ae.err
		e = &e2
	}
	return nil, e
}
