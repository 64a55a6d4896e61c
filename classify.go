package backoff

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Class says what retrying can do about an error.
// A Class is a plain value, safe to share between goroutines.
type Class uint8

const (
	Transient Class = iota // a brief fault: retry with growing waits
	Temporary              // the service asks for time (rate limit, overload): retry with steady waits
	Permanent              // retrying cannot help: stop
)

// String returns "transient", "temporary" or "permanent"; any class beyond
// Permanent is treated as Permanent everywhere in this package.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	}
	return "permanent(" + strconv.Itoa(int(c)) + ")"
}

// Classifier tells the [Class] of a failed attempt's error. It must be safe
// for concurrent use by multiple goroutines; [Retry] calls it once per failed
// attempt.
type Classifier func(err error) Class

// marked carries a class chosen by Mark or RetryAfter.
type marked struct {
	err   error
	class Class
	after time.Duration // the least wait, for RetryAfter
}

func (m *marked) Error() string { return m.err.Error() }
func (m *marked) Unwrap() error { return m.err }

// Mark returns err marked with class c, which [Classify] reports before any
// other rule. The mark survives wrapping with %w, and errors.Is and errors.As
// see through it to err. Mark(nil, c) is nil.
func Mark(err error, c Class) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, class: c}
}

// RetryAfter returns err marked [Temporary], with a request that the next wait
// be at least d: [Retry] waits max(d, the strategy's wait). A negative d counts
// as 0. RetryAfter(d, nil) is nil.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, class: Temporary, after: nonNegative(d)}
}

// StatusError is an HTTP response status that failed (≥ 400), as [Transport]
// reports it to the classifier. RetryAfter is the wait the server asked for
// (from [ParseRetryAfter]); [Retry] waits at least that long before the next
// attempt. Header and Body let a classifier of its own (such as llm.Classify)
// read what the server said; Transport fills both.
// A StatusError is not changed once made, so it is safe for concurrent use;
// a classifier must not modify its Header or Body.
type StatusError struct {
	Code       int
	RetryAfter time.Duration
	Header     http.Header // the response's header; nil when not from a response
	Body       []byte      // the first bytes (at most 4 KiB) of the response's body
}

func (e *StatusError) Error() string {
	s := "backoff: HTTP status " + strconv.Itoa(e.Code)
	if t := http.StatusText(e.Code); t != "" {
		s += " " + t
	}
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	return s
}

// Classify is the default [Classifier]. Its rules, first match wins:
//
//   - an error marked by [Mark] has that class; one marked by [RetryAfter] is
//     Temporary (the outermost mark wins);
//   - context.Canceled is Permanent;
//   - context.DeadlineExceeded, and any error with a Timeout() method that
//     returns true, is Transient;
//   - a [*StatusError]: 429 and 503 are Temporary; 408, 500, 502 and 504 are
//     Transient; every other code is Permanent;
//   - a DNS "not found" (*net.DNSError with IsNotFound), a TLS certificate
//     error, and net/http's "unsupported protocol scheme" are Permanent;
//   - connection refused or reset, io.ErrUnexpectedEOF and io.EOF are
//     Transient, and so is anything else.
//
// Every rule looks through wrapping (Unwrap() error and Unwrap() []error).
// Classify allocates nothing for an ordinary error, and a nil err is
// Transient (there is nothing to classify; Retry never asks).
func Classify(err error) Class {
	if err == nil {
		return Transient
	}
	var f facts
	f.scan(err)
	return f.class()
}

// class applies Classify's rules, in order, to the facts of an error.
func (f *facts) class() Class {
	switch {
	case f.mark != nil:
		return f.mark.class
	case f.canceled:
		return Permanent
	case f.deadline || f.timeout:
		return Transient
	case f.status != nil:
		switch f.status.Code {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return Temporary
		case http.StatusRequestTimeout, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusGatewayTimeout:
			return Transient
		}
		return Permanent
	case f.permanentNet:
		return Permanent
	}
	// Connection refused or reset, io.EOF and io.ErrUnexpectedEOF are
	// Transient, as is everything else; they are named here for the reader.
	return Transient
}

// serverDelay is what the package-level serverDelay finds, from the facts.
func (f *facts) serverDelay() time.Duration {
	if f.delay > 0 {
		return f.delay
	}
	if f.status != nil {
		return nonNegative(f.status.RetryAfter)
	}
	return 0
}

// facts is what Classify needs to know of an error tree, gathered in one
// walk: Classify runs on every failed attempt, and a walk per rule (with
// errors.Is and errors.As, whose pointer targets would also move to the
// heap) cost several times as much.
type facts struct {
	mark         *marked       // the outermost mark
	delay        time.Duration // the outermost RetryAfter mark's wait
	status       *StatusError  // the outermost status
	canceled     bool          // context.Canceled, as errors.Is sees it
	deadline     bool          // context.DeadlineExceeded, as errors.Is sees it
	timeout      bool          // an error whose Timeout method reports true
	permanentNet bool          // a network failure that no retry can fix
}

// scan walks err's tree in the order errors.Is does (depth first, the
// outermost first), noting every fact on the way.
func (f *facts) scan(err error) {
	for err != nil {
		switch e := err.(type) {
		case *marked:
			if f.mark == nil {
				f.mark = e
			}
			if f.delay == 0 {
				f.delay = e.after
			}
		case *StatusError:
			if f.status == nil {
				f.status = e
			}
		case *net.DNSError:
			f.permanentNet = f.permanentNet || e.IsNotFound
		case *tls.CertificateVerificationError, x509.UnknownAuthorityError,
			x509.HostnameError, x509.CertificateInvalidError,
			*x509.UnknownAuthorityError, *x509.HostnameError, *x509.CertificateInvalidError:
			// A certificate that does not verify will not verify next time.
			f.permanentNet = true
		}
		// Comparing interfaces cannot panic here: both sentinels have
		// comparable types, and values of other types are simply unequal.
		switch err {
		case context.Canceled:
			f.canceled = true
		case context.DeadlineExceeded:
			f.deadline = true
		}
		if e, ok := err.(interface{ Is(error) bool }); ok {
			f.canceled = f.canceled || e.Is(context.Canceled)
			f.deadline = f.deadline || e.Is(context.DeadlineExceeded)
		}
		if e, ok := err.(interface{ Timeout() bool }); ok && e.Timeout() {
			f.timeout = true
		}
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				f.scan(inner)
			}
			return
		default:
			// net/http reports a bad scheme as a plain, unwrapped error.
			// Only such leaves are read as text, and only when no other
			// rule has decided, so that wrappers that format their message
			// on demand are never asked to.
			if f.mark == nil && f.status == nil && !f.permanentNet {
				f.permanentNet = strings.HasPrefix(err.Error(), "unsupported protocol scheme")
			}
			return
		}
	}
}

// serverDelay is the least wait that err asks for: the outermost RetryAfter
// mark's, else a StatusError's RetryAfter. A Mark around a RetryAfter changes
// the class but not the wait the server asked for, as it does not for a
// StatusError, so the walk skips marks that carry no wait.
func serverDelay(err error) time.Duration {
	var mark time.Duration
	var status *StatusError
	walkDelays(err, &mark, &status)
	if mark > 0 {
		return mark
	}
	if status != nil {
		return nonNegative(status.RetryAfter)
	}
	return 0
}

// walkDelays finds, in one walk, the outermost mark with a wait and the
// outermost StatusError, stopping once it has the mark.
func walkDelays(err error, mark *time.Duration, status **StatusError) {
	for err != nil && *mark == 0 {
		switch e := err.(type) {
		case *marked:
			*mark = e.after
		case *StatusError:
			if *status == nil {
				*status = e
			}
		}
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walkDelays(inner, mark, status)
			}
			return
		default:
			return
		}
	}
}

// maxRetryAfter bounds what ParseRetryAfter accepts: a server asking for more
// than a day is broken or hostile, and its header is treated as absent.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads the wait a server asked for from h: first
// retry-after-ms, in milliseconds (a decimal fraction is allowed, as OpenAI's
// API sends it); failing that, Retry-After as whole seconds or as an HTTP date
// in any of the three formats that http.ParseTime accepts, measured from now.
//
// A date in the past is 0. Junk (a fraction of a second such as "1.5", words,
// a signed number), negative values and values over 24 hours are not present:
// the result is (0, false), and an invalid retry-after-ms falls back to
// Retry-After.
func ParseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if d, ok := parseMillis(strings.TrimSpace(h.Get("Retry-After-Ms"))); ok {
		return d, true
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return 0, true
	case d > maxRetryAfter:
		return 0, false
	}
	return d, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseMillis reads a retry-after-ms value: digits with at most one dot
// between digits (no sign, exponent, "Inf" or "NaN"), in milliseconds, at
// most maxRetryAfter. It works in integers, because a float64 product turns
// "1.001" into 1.000999ms; digits below a nanosecond are dropped.
func parseMillis(s string) (time.Duration, bool) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if !isDigits(intPart) || hasDot && !isDigits(frac) {
		return 0, false
	}
	ms, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || ms > int64(maxRetryAfter/time.Millisecond) {
		return 0, false
	}
	d := time.Duration(ms) * time.Millisecond
	for i, unit := 0, 100*time.Microsecond; i < len(frac); i++ {
		digit := time.Duration(frac[i] - '0')
		if unit == 0 {
			if digit != 0 && d == maxRetryAfter {
				return 0, false // a hair over the limit
			}
			continue
		}
		d += digit * unit
		unit /= 10
	}
	if d > maxRetryAfter {
		return 0, false
	}
	return d, true
}
