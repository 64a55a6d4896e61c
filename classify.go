package backoff

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Class says what retrying can do about an error.
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
// attempt.
type StatusError struct {
	Code       int
	RetryAfter time.Duration
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
	if m := findMark(err); m != nil {
		return m.class
	}
	if errors.Is(err, context.Canceled) {
		return Permanent
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return Transient
	}
	if se := findStatus(err); se != nil {
		switch se.Code {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return Temporary
		case http.StatusRequestTimeout, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusGatewayTimeout:
			return Transient
		}
		return Permanent
	}
	if isPermanentNetwork(err) {
		return Permanent
	}
	// Connection refused or reset, io.EOF and io.ErrUnexpectedEOF are
	// Transient, as is everything else; they are named here for the reader.
	return Transient
}

// The walkers below look through an error tree like errors.As, but with a
// type switch instead of a pointer target: errors.As would move its target to
// the heap, and Classify runs on every failed attempt.

func findMark(err error) *marked {
	for err != nil {
		switch e := err.(type) {
		case *marked:
			return e
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if m := findMark(inner); m != nil {
					return m
				}
			}
			return nil
		}
		err = errors.Unwrap(err)
	}
	return nil
}

// findDelayMark is findMark for the marks of RetryAfter with a wait.
func findDelayMark(err error) *marked {
	for err != nil {
		switch e := err.(type) {
		case *marked:
			if e.after > 0 {
				return e
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if m := findDelayMark(inner); m != nil {
					return m
				}
			}
			return nil
		}
		err = errors.Unwrap(err)
	}
	return nil
}

func findStatus(err error) *StatusError {
	for err != nil {
		switch e := err.(type) {
		case *StatusError:
			return e
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if s := findStatus(inner); s != nil {
					return s
				}
			}
			return nil
		}
		err = errors.Unwrap(err)
	}
	return nil
}

func isTimeout(err error) bool {
	for err != nil {
		// Not one type switch: an error may both say Timeout() false and
		// hold others through Unwrap() []error, which must still be walked.
		if e, ok := err.(interface{ Timeout() bool }); ok && e.Timeout() {
			return true
		}
		if e, ok := err.(interface{ Unwrap() []error }); ok {
			for _, inner := range e.Unwrap() {
				if isTimeout(inner) {
					return true
				}
			}
			return false
		}
		err = errors.Unwrap(err)
	}
	return false
}

// isPermanentNetwork finds the network failures that no retry can fix: a
// name that does not exist, a certificate that does not verify, a URL scheme
// that no transport speaks.
func isPermanentNetwork(err error) bool {
	for err != nil {
		switch e := err.(type) {
		case *net.DNSError:
			if e.IsNotFound {
				return true
			}
		case *tls.CertificateVerificationError, x509.UnknownAuthorityError,
			x509.HostnameError, x509.CertificateInvalidError,
			*x509.UnknownAuthorityError, *x509.HostnameError, *x509.CertificateInvalidError:
			return true
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if isPermanentNetwork(inner) {
					return true
				}
			}
			return false
		}
		next := errors.Unwrap(err)
		if next == nil {
			// net/http reports a bad scheme as a plain, unwrapped error; only
			// such leaves are read as text, so wrappers that format their
			// message on demand are never asked to.
			return strings.HasPrefix(err.Error(), "unsupported protocol scheme")
		}
		err = next
	}
	return false
}

// serverDelay is the least wait that err asks for: the outermost RetryAfter
// mark's, else a StatusError's RetryAfter. A Mark around a RetryAfter changes
// the class but not the wait the server asked for, as it does not for a
// StatusError, so the walk skips marks that carry no wait.
func serverDelay(err error) time.Duration {
	if m := findDelayMark(err); m != nil {
		return m.after
	}
	if se := findStatus(err); se != nil {
		return nonNegative(se.RetryAfter)
	}
	return 0
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
