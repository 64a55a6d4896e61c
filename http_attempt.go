package backoff

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
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
// fresh body. Without a body or an attempt timeout it has nothing to do.
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
// are in, with a body that is never nil and that, under an attempt timeout,
// ends the attempt when closed; or the attempt's failure. The attempt
// timeout stays armed: it goes on bounding the body reads that come before
// the response is handed on (its first bytes for a failed status, the whole
// body with BufferBody), and done disarms it.
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
		return nil, rt.fail(err, attemptError{notSent: isDialError(err) || isRefusedStream(err)})
	}
	if resp.Body == nil {
		// http.Client tolerates a nil Body from a RoundTripper, so
		// Transport does too: it is an empty body.
		resp.Body = http.NoBody
	}
	if a.ta != nil {
		resp.Body = wrapBody(resp.Body, a.ta)
	}
	return resp, nil
}

// done disarms the attempt timeout, once what the attempt reads of the body
// is read, and reports false if it fired first while the request's context
// lived: the attempt then timed out.
func (a *attempt) done() bool {
	return a.ta == nil || a.ta.disarm() || ended(a.ctx)
}

// traced is roundTrip.attempt after prepare, for a call with traces, which
// are told when the prepared request goes and what came of it. If a
// callback panics, what the attempt holds is let go first (its timeout, the
// body it sends, the response it got), as nobody else will.
func (a *attempt) traced(rt *roundTrip) (*http.Response, error) {
	ta := TraceAttempt{Number: rt.n, Request: a.req}
	var resp, held *http.Response   // as received; as handed on
	given, returned := false, false // the body to Base; the answer to retry
	defer func() {
		if returned {
			return
		}
		a.ta.end()
		if !given && rt.hasBody && a.req.Body != nil {
			a.req.Body.Close()
		}
		if held != nil {
			held.Body.Close()
		}
		if rt.f != nil && rt.f.last != nil && rt.f.last == resp {
			rt.f.last.Body.Close()
			rt.f.last = nil
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
	if err == nil {
		if resp.StatusCode < http.StatusBadRequest {
			held, err = a.succeeded(rt, resp)
			if err == nil && rt.slot.l != nil {
				held.Body = rt.holdSlot(held.Body)
			}
		} else {
			err = a.failed(rt, resp)
		}
	}
	if timed {
		ta.Response = resp
		if held != nil {
			ta.Response = held
		}
		terr := err
		if ae, ok := err.(*attemptError); ok {
			terr = ae.err
		}
		rt.tr.attemptDone(ta, terr, since(rt.clock, began))
	}
	returned = true
	return held, err
}

// timedOut is the failure of an attempt whose own timeout fired.
func (a *attempt) timedOut(rt *roundTrip) error {
	return rt.fail(&attemptTimeoutError{rt.timeout}, attemptError{timedOut: true})
}

// succeeded hands on a response below 400: as soon as its headers are in, or,
// with BufferBody, once its body is read whole or is known to be longer than
// BufferBody. A body cut while it is buffered fails the attempt.
func (a *attempt) succeeded(rt *roundTrip, resp *http.Response) (*http.Response, error) {
	if rt.bufferBody > 0 && buffers(resp, rt.bufferBody) {
		// One byte past the limit tells a body of exactly the limit from
		// a longer one.
		head, err := readUpTo(resp.Body, addSat(rt.bufferBody, 1))
		switch {
		case err == io.EOF:
			// All of it is here: the connection can go back to the pool
			// now, and nothing is left for the attempt timeout to bound.
			resp.Body.Close()
			a.ta.end()
			resp.Body = &bufferedBody{data: head}
			return resp, nil
		case err != nil:
			resp.Body.Close()
			if !a.done() {
				return nil, a.timedOut(rt)
			}
			return nil, rt.fail(err, attemptError{})
		}
		// Longer than the limit: the caller reads it as it streams, the
		// bytes already read first.
		resp.Body = &peekedBody{ReadCloser: resp.Body, head: head}
	}
	if !a.done() {
		// The timeout fired as the headers (or the buffered bytes)
		// arrived: the body can no longer be read, so this attempt timed
		// out.
		resp.Body.Close()
		return nil, a.timedOut(rt)
	}
	return resp, nil
}

// buffers reports whether BufferBody applies to resp: a body that may be
// short enough to read whole, and is not a stream of events or a
// connection (101 Switching Protocols).
func buffers(resp *http.Response, limit int64) bool {
	if resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols ||
		resp.ContentLength > limit {
		return false
	}
	ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return !strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// readUpTo reads from r until it has n bytes or r fails; io.EOF means r
// ended before n bytes.
func readUpTo(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, 512))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n-int64(len(buf)), int64(cap(buf)))))
		}
		m, err := r.Read(buf[len(buf):min(int64(cap(buf)), n)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// failed makes a failed response (status 400 or more) the attempt's
// failure: a [*StatusError] with the response's header and the first bytes
// of its body, for the classifier. The response itself is held, its body
// given back whole (the bytes read first), to be returned to the caller if
// no retry follows, or discarded.
func (a *attempt) failed(rt *roundTrip, resp *http.Response) error {
	se := &StatusError{Code: resp.StatusCode, Header: resp.Header}
	if se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable {
		se.RetryAfter, _ = ParseRetryAfter(resp.Header, now(rt.clock))
	}
	peekErr := io.EOF
	if resp.Body != http.NoBody {
		body := &peekedBody{ReadCloser: resp.Body}
		body.head, body.err = peek(resp.Body)
		resp.Body, se.Body, peekErr = body, body.head, body.err
	}
	if !a.done() && peekErr != io.EOF {
		// The attempt ran out of time while its body was read: the rest
		// can no longer be read.
		resp.Body.Close()
		return a.timedOut(rt)
	}
	err := rt.fail(se, attemptError{})
	rt.f.last, rt.f.lastAttempt = resp, a.ta
	return err
}

// peekLimit is how much of a failed response's body is read before it is
// classified: enough for the error object of any API we know of.
const peekLimit = 4 << 10

// peekBuffers holds the buffers that failed responses are first read into.
// It is the package's one piece of shared state, and holds nothing a caller
// can see: the bytes read are copied out at their own length before the
// buffer goes back, so a StatusError's Body never shares memory with it. A
// pool rather than a buffer per response keeps a storm of failures (429s
// from a rate limit) from leaving 4 KiB of garbage each, when the error
// bodies are a few hundred bytes.
var peekBuffers = sync.Pool{New: func() any { return new([peekLimit]byte) }}

// peek reads up to peekLimit bytes of body. err is what ended the read
// early: io.EOF when the body ended, nil when there may be more.
func peek(body io.Reader) (head []byte, err error) {
	buf := peekBuffers.Get().(*[peekLimit]byte)
	defer peekBuffers.Put(buf)
	n := 0
	for n < len(buf) && err == nil {
		var m int
		m, err = body.Read(buf[n:])
		n += m
	}
	if n > 0 {
		head = bytes.Clone(buf[:n])
	}
	return head, err
}

// peekedBody is a body whose first bytes were read already: it gives them
// back first, then the rest, so that whoever reads it reads it whole.
type peekedBody struct {
	io.ReadCloser        // the rest
	head          []byte // read already, not yet given back; never written to
	err           error  // what ended the early read; nil: the rest follows
}

func (b *peekedBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.ReadCloser.Read(p)
}

// bufferedBody is a body read whole by BufferBody, whose connection is
// closed already.
type bufferedBody struct {
	data   []byte
	closed bool
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errReadAfterClose
	}
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

func (b *bufferedBody) Close() error {
	b.closed = true
	return nil
}

var errReadAfterClose = errors.New("backoff: Transport: read on closed response body")

// isRefusedStream reports whether err says that an HTTP/2 server refused
// the request's stream before acting on it: a RST_STREAM with
// REFUSED_STREAM, or a GOAWAY whose last stream id is below the request's
// (RFC 9113, 8.7: such a request "has not been processed" and can be
// retried). net/http's bundled http2 client already retries such a request
// itself, up to 6 times when its body can be replayed, and returns the error
// only after that, or when it cannot replay the body (then wrapped in a
// "cannot retry err [...]" message).
//
// Neither error is exported. The bundled StreamError converts itself, by
// errors.As, into any struct with its field names and types (net/http's
// h2_error.go does this so that golang.org/x/net/http2.StreamError can be
// matched), which h2StreamError is. The GOAWAY case is a plain errors.New
// value, and golang.org/x/net/http2's Transport returns its own types; both
// print the same fixed texts, which are matched as the last resort.
func isRefusedStream(err error) bool {
	var se h2StreamError
	if errors.As(err, &se) && se.Code == h2ErrCodeRefusedStream {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "stream error: stream ID ") && strings.Contains(msg, "; REFUSED_STREAM") ||
		strings.Contains(msg, "http2: Transport received Server's graceful shutdown GOAWAY")
}

// h2StreamError has the shape of an HTTP/2 StreamError, for errors.As.
type h2StreamError struct {
	StreamID uint32
	Code     uint32
	Cause    error
}

func (h2StreamError) Error() string { return "stream error" } // never shown

// h2ErrCodeRefusedStream is REFUSED_STREAM (RFC 9113, 7).
const h2ErrCodeRefusedStream = 0x7

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
	slot      Slot // the attempt's limiter slot, until classifyAttempt reports it
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
	if a.slot.l != nil {
		// The user's class, before the idempotency rule, which says what
		// may be resent, not what the server meant.
		a.slot.report(verdictOf(a.err, class, serverDelay(a.err)), 0)
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
