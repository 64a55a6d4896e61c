package backoff

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// attempt is one attempt of a [roundTrip]: it prepares the request to send,
// sends it, and turns a failed response into the error that retry
// classifies. It lives in the frame of roundTrip.attempt.
//
// Its methods take the roundTrip as an argument rather than hold it in a
// field: escape analysis does not tell fields apart, so a field next to req,
// which Base receives, would move RoundTrip's roundTrip to the heap on every
// call.
type attempt struct {
	ctx context.Context // the request's
	req *http.Request   // what is sent: the caller's request, or a copy
	ta  *timedAttempt   // nil without an attempt timeout
}

// prepare sets a.req: the caller's request itself when nothing in it has to
// change (the first attempt, or any attempt without a body, when there is no
// attempt timeout), else a shallow copy with the attempt's context and a
// fresh body.
func (a *attempt) prepare(rt *roundTrip) error {
	a.req = rt.req
	if rt.timeout > 0 {
		a.ta = startAttempt(a.ctx, rt.clock, rt.timeout)
		a.req = rt.req.WithContext(a.ta.ctx)
	}
	if !rt.hasBody {
		return nil
	}
	if rt.n == 1 {
		rt.sentOwnBody = true
		return nil
	}
	if rt.req.GetBody == nil { // maxAttempts is 1; never here
		a.ta.end()
		return rt.fail(errNoReplay, attemptError{permanent: true})
	}
	body, err := rt.req.GetBody()
	if err != nil {
		a.ta.end()
		return rt.fail(&getBodyError{err}, attemptError{permanent: true})
	}
	if a.req == rt.req {
		a.req = rt.req.WithContext(a.ctx)
	}
	a.req.Body = body
	return nil
}

// send sends a.req through Base and returns its response once the headers
// are in, with the attempt timeout disarmed and the body wrapped to end the
// attempt when closed; or the attempt's failure.
func (a *attempt) send(rt *roundTrip) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(a.req)
	if err == nil && resp == nil {
		err = errors.New("backoff: Transport: Base returned neither a response nor an error")
	}
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		timedOut := a.ta != nil && !a.ta.disarm() && !ended(a.ctx)
		a.ta.end()
		if timedOut {
			return nil, a.timedOut(rt)
		}
		return nil, rt.fail(err, attemptError{notSent: isDialError(err)})
	}
	if a.ta != nil {
		if !a.ta.disarm() && !ended(a.ctx) {
			// The timeout fired as the headers arrived: the body can no
			// longer be read, so this attempt timed out.
			resp.Body.Close()
			a.ta.end()
			return nil, a.timedOut(rt)
		}
		resp.Body = wrapBody(resp.Body, a.ta)
	}
	return resp, nil
}

// traced is roundTrip.attempt's send for a call with traces, which are told
// when the prepared request goes and what came of it. If a callback panics,
// what the attempt holds is let go first (its timeout, the body it sends,
// the response it got), as nobody else will.
func (a *attempt) traced(rt *roundTrip) (*http.Response, error) {
	ta := TraceAttempt{Number: rt.n, Request: a.req}
	var resp *http.Response
	given, returned := false, false // the body to Base; the answer to retry
	defer func() {
		if returned {
			return
		}
		a.ta.end()
		if !given && rt.hasBody && a.req.Body != nil {
			a.req.Body.Close()
		}
		if resp != nil {
			if rt.f != nil && rt.f.last == resp {
				rt.f.last = nil
			}
			resp.Body.Close()
		}
	}()
	rt.tr.attemptStart(ta)
	var began time.Time
	timed := rt.tr.timed()
	if timed {
		began = now(rt.clock)
	}
	given = true
	resp, err := a.send(rt)
	if err == nil && resp.StatusCode >= http.StatusBadRequest {
		err = a.failed(rt, resp)
	}
	if timed {
		ta.Response = resp
		terr := err
		if ae, ok := err.(*attemptError); ok {
			terr = ae.err
		}
		rt.tr.attemptDone(ta, terr, since(rt.clock, began))
	}
	returned = true
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// timedOut is the failure of an attempt whose own timeout fired.
func (a *attempt) timedOut(rt *roundTrip) error {
	return rt.fail(&attemptTimeoutError{rt.timeout}, attemptError{timedOut: true})
}

// failed makes a failed response (status 400 or more) the attempt's
// failure: a [*StatusError] for the classifier, while the response itself is
// held, to be returned to the caller if no retry follows, or discarded.
func (a *attempt) failed(rt *roundTrip, resp *http.Response) error {
	se := &StatusError{Code: resp.StatusCode}
	if se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable {
		se.RetryAfter, _ = ParseRetryAfter(resp.Header, now(rt.clock))
	}
	err := rt.fail(se, attemptError{})
	rt.f.last, rt.f.lastAttempt = resp, a.ta
	return err
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
