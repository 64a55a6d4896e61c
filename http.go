package backoff

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
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
//   - A response below 400 is returned as soon as its headers arrive, and its
//     body is never read, so a streamed (server-sent events) body reaches the
//     caller as it comes. Nothing is retried after that.
//   - When retrying stops on a failed status (attempts used up, the strategy
//     said stop, [ErrDeadline] because a Retry-After would end past the
//     request's deadline, [ErrBudget], or the status is Permanent), the last
//     response is returned with a nil error and its body unread, as
//     http.RoundTripper requires.
//   - A transport error (no response), an open [Breaker], a GetBody failure
//     and the end of the request's context return a nil response and the
//     [*Error] from Retry, through which the underlying error stays
//     reachable with errors.Is and errors.As.
//   - A response that is not returned has at most 4 KiB of its body read,
//     so its connection can be reused, and is then closed, before the wait.
//
// The idempotency rule: a request is idempotent when its method is GET (or
// empty), HEAD, OPTIONS, TRACE, PUT or DELETE, or when its Header has an
// "Idempotency-Key" or "X-Idempotency-Key" entry (the canonical key, as
// net/http checks it). An idempotent request is retried on every failure that
// the classifier does not call Permanent. Any other request (POST, PATCH, ...)
// is retried only where the server surely did not act on it: when the
// connection was never made (the error holds a [*net.OpError] whose Op is
// "dial": refused, unreachable, a DNS failure), or when the answer was 429 or
// 503; every other failure is final for it, as if Permanent. The classifier
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
// [WithAttemptTimeout] bounds each attempt until its response headers arrive:
// an attempt that times out, while the request's context lives, is Transient
// and is retried (for a non-idempotent request, only as the rule above
// allows). Once the headers are in, the timeout is disarmed, so it never cuts
// off a body that the caller is still reading; the attempt's context ends
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
// Transport never calls CloseIdleConnections on its own; see
// [Transport.CloseIdleConnections].
type Transport struct {
	Base               http.RoundTripper // nil: http.DefaultTransport
	Options            []Option          // as for Retry: strategy, attempts, breaker, budget, ...
	RetryNonIdempotent bool              // retry POST/PATCH on every retryable failure
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
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}

	c := newConfig(t.Options)
	// The attempt timeout is applied here rather than by retry, whose
	// attempt context would end when the attempt returns, while the caller
	// still has a body to read.
	timeout, clock := c.attemptTimeout, c.clock
	c.attemptTimeout = 0
	userClassifier, userNotify := c.classifier, c.notify
	if userClassifier == nil {
		userClassifier = Classify
	}
	c.classifier, c.notify = classifyAttempt, notifyAttempt
	if hasBody && req.GetBody == nil {
		c.maxAttempts = 1
	}
	retryAll := t.RetryNonIdempotent

	ctx := req.Context()
	// f is allocated at the first failure: the success path needs no state
	// beyond this stack frame.
	var f *failures
	n := 0 // attempts made
	sentOwnBody := false
	op := func(ctx context.Context) (*http.Response, error) {
		if f != nil {
			f.discard() // in case retry did not notify before this attempt
		}
		fail := func(err error, a attemptError) (*http.Response, error) {
			if f == nil {
				f = &failures{
					classifier: userClassifier, notify: userNotify,
					clock: clock, timeout: timeout,
					idempotent: retryAll || isIdempotent(req),
				}
			}
			a.err, a.f = err, f
			return nil, &a
		}

		n++
		// retry hands op the request's context as it is (its attempt
		// timeout is off), so an attempt without a timeout of its own and
		// without a body to replace sends the caller's request itself:
		// nothing in it needs to change, and RoundTrip does not modify it.
		var ta *timedAttempt
		r := req
		if timeout > 0 {
			ta = startAttempt(ctx, clock, timeout)
			r = req.WithContext(ta.ctx)
		}
		if hasBody {
			if n == 1 {
				sentOwnBody = true
			} else {
				if req.GetBody == nil { // maxAttempts is 1; never here
					ta.end()
					return fail(errNoReplay, attemptError{permanent: true})
				}
				body, err := req.GetBody()
				if err != nil {
					ta.end()
					return fail(&getBodyError{err}, attemptError{permanent: true})
				}
				if r == req {
					r = req.WithContext(ctx)
				}
				r.Body = body
			}
		}

		resp, err := base.RoundTrip(r)
		if err == nil && resp == nil {
			err = errors.New("backoff: Transport: Base returned neither a response nor an error")
		}
		if err != nil {
			if resp != nil && resp.Body != nil {
				resp.Body.Close()
			}
			timedOut := ta != nil && !ta.disarm() && !ended(ctx)
			ta.end()
			if timedOut {
				return fail(&attemptTimeoutError{timeout}, attemptError{timedOut: true})
			}
			return fail(err, attemptError{notSent: isDialError(err)})
		}
		if ta != nil {
			if !ta.disarm() && !ended(ctx) {
				// The timeout fired as the headers arrived: the body
				// can no longer be read, so this attempt timed out.
				resp.Body.Close()
				ta.end()
				return fail(&attemptTimeoutError{timeout}, attemptError{timedOut: true})
			}
			resp.Body = wrapBody(resp.Body, ta)
		}
		if resp.StatusCode < http.StatusBadRequest {
			return resp, nil
		}
		se := &StatusError{Code: resp.StatusCode}
		if se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable {
			se.RetryAfter, _ = ParseRetryAfter(resp.Header, now(clock))
		}
		res, ferr := fail(se, attemptError{})
		f.last, f.lastAttempt = resp, ta
		return res, ferr
	}

	resp, err := retry(ctx, op, &c, nil)
	if hasBody && !sentOwnBody {
		// No attempt ran: the request's own body is still ours to close.
		req.Body.Close()
	}
	if err == nil {
		return resp, nil
	}
	e, ok := err.(*Error)
	if !ok {
		return nil, err
	}
	if f != nil && f.last != nil {
		if !ended(ctx) && !errors.Is(e.Reason, ErrCircuitOpen) {
			last := f.last
			f.last = nil
			return last, nil
		}
		f.discard()
	}
	if ae, ok := e.Err.(*attemptError); ok {
		e2 := *e
		e2.Err = ae.err
		e = &e2
	}
	return nil, e
}

// failures is one RoundTrip's state once an attempt has failed.
type failures struct {
	classifier  Classifier                   // the user's
	notify      func(Attempt, time.Duration) // the user's; nil: none
	clock       Clock
	timeout     time.Duration // the attempt timeout; 0: none
	idempotent  bool          // or RetryNonIdempotent
	last        *http.Response
	lastAttempt *timedAttempt // last's attempt; nil without an attempt timeout
}

// discard drains and closes the last failed response, if it is still held.
func (f *failures) discard() {
	resp := f.last
	if resp == nil {
		return
	}
	f.last = nil
	discard(resp.Body, f.clock, f.timeout, f.lastAttempt)
}

// discard reads at most drainLimit bytes of body and closes it. With a
// timeout, the read is bounded by it: a server that stalls mid-body
// cannot hold the request.
func discard(body io.ReadCloser, clock Clock, timeout time.Duration, ta *timedAttempt) {
	if body == nil {
		return
	}
	if ta != nil {
		g := &timeoutTimer{cancel: ta.cancel}
		g.start(clock, timeout)
		defer g.stop()
	}
	io.CopyN(io.Discard, body, drainLimit)
	body.Close()
}

// attemptError is what an attempt returns to retry: the attempt's error with
// what classifyAttempt and notifyAttempt need to know about the request.
// Strategies and observers see it; it reads as err, and unwraps to it.
type attemptError struct {
	err       error
	f         *failures
	notSent   bool // the connection was never made
	timedOut  bool // the attempt's own timeout fired
	permanent bool // retrying cannot help (GetBody failed)
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// classifyAttempt is the classifier that Transport gives retry: the user's,
// then the rules of the attempt timeout and of idempotency.
func classifyAttempt(err error) Class {
	a, ok := err.(*attemptError)
	if !ok {
		return Classify(err)
	}
	class := a.f.classifier(a.err)
	if a.timedOut && class >= Permanent {
		class = Transient
	}
	if a.permanent {
		return Permanent
	}
	if class < Permanent && !a.f.idempotent && !a.notSent {
		// The server may have acted on the request, unless it said it
		// did not.
		se, ok := a.err.(*StatusError)
		if !ok || (se.Code != http.StatusTooManyRequests && se.Code != http.StatusServiceUnavailable) {
			return Permanent
		}
	}
	return class
}

// notifyAttempt runs before each wait: a retry is coming, so the failed
// response is discarded now, which frees its connection during the wait.
func notifyAttempt(a Attempt, wait time.Duration) {
	ae, ok := a.Err.(*attemptError)
	if !ok {
		return
	}
	ae.f.discard()
	if ae.f.notify != nil {
		a.Err = ae.err
		ae.f.notify(a, wait)
	}
}

func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}

// isDialError reports whether err holds a *net.OpError from dialing: the
// connection was never made, so the server cannot have seen the request.
// A proxy's failure wraps the dial error in a "proxyconnect" OpError.
func isDialError(err error) bool {
	for err != nil {
		switch e := err.(type) {
		case *net.OpError:
			if e.Op == "dial" {
				return true
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if isDialError(inner) {
					return true
				}
			}
			return false
		}
		err = errors.Unwrap(err)
	}
	return false
}

// getBodyError is a failure of the request's GetBody.
type getBodyError struct{ err error }

func (e *getBodyError) Error() string { return "backoff: Transport: GetBody: " + e.err.Error() }
func (e *getBodyError) Unwrap() error { return e.err }

// wrapBody makes closing body also end the attempt ta. A body that can be
// written to (a 101 Switching Protocols connection) stays writable.
func wrapBody(body io.ReadCloser, ta *timedAttempt) io.ReadCloser {
	if rw, ok := body.(io.ReadWriteCloser); ok {
		return &endRWBody{endBody{rw, ta}, rw}
	}
	return &endBody{body, ta}
}

// endBody ends an attempt's context when the body is closed, after closing
// it, so that a fully read connection goes back to the pool first.
type endBody struct {
	io.ReadCloser
	ta *timedAttempt
}

func (b *endBody) Close() error {
	err := b.ReadCloser.Close()
	b.ta.end()
	return err
}

type endRWBody struct {
	endBody
	w io.Writer
}

func (b *endRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }
