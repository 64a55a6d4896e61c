package backoff_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// timeoutError is an error that says whether it is a timeout, as net.Error
// does, and may wrap another.
type timeoutError struct {
	timeout bool
	err     error
}

func (e *timeoutError) Error() string   { return fmt.Sprintf("timeout=%v: %v", e.timeout, e.err) }
func (e *timeoutError) Timeout() bool   { return e.timeout }
func (e *timeoutError) Unwrap() error   { return e.err }
func (e *timeoutError) Temporary() bool { return e.timeout }

// multiError is a timeout-aware error that holds several others, as some
// clients' aggregate errors do.
type multiError struct {
	timeout bool
	errs    []error
}

func (e *multiError) Error() string   { return fmt.Sprint(e.errs) }
func (e *multiError) Timeout() bool   { return e.timeout }
func (e *multiError) Unwrap() []error { return e.errs }

func wrap(err error) error  { return fmt.Errorf("calling the model API: %w", err) }
func wrap2(err error) error { return fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", err)) }

func opError(errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Err: os.NewSyscallError("connect", errno)}
}

// unsupportedSchemeErrors returns the errors that net/http itself gives for
// an ftp:// URL, through the transport and through a client. Neither touches
// the network: the scheme is refused first.
func unsupportedSchemeErrors(t *testing.T) (fromTransport, fromClient error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "ftp://files.example.invalid/model.bin", nil)
	require.NoError(t, err)
	resp, fromTransport := http.DefaultTransport.RoundTrip(req)
	require.Nil(t, resp)
	require.ErrorContains(t, fromTransport, "unsupported protocol scheme")

	resp, fromClient = http.DefaultClient.Get("ftp://files.example.invalid/model.bin")
	require.Nil(t, resp)
	require.ErrorContains(t, fromClient, "unsupported protocol scheme")
	var uerr interface{ Timeout() bool } // *url.Error
	require.ErrorAs(t, fromClient, &uerr, "a client wraps it in *url.Error")
	return fromTransport, fromClient
}

// connRefused dials a loopback port that was just closed.
func connRefused(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	conn, err := net.Dial("tcp", addr)
	if conn != nil {
		conn.Close()
	}
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	return err
}

// readTimeout reads from a loopback connection whose read deadline has
// passed: the timeout net/http sees when a server is slow.
func readTimeout(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Unix(1, 0)))
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	return err
}

// certErrors returns the certificate errors of a TLS server on loopback: what
// a client that does not trust it gets, and what verification of its
// certificate for another name, or at a time it has expired, returns.
func certErrors(t *testing.T) map[string]error {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, clientErr := (&http.Client{Transport: tr}).Get(srv.URL)
	if resp != nil {
		resp.Body.Close()
	}
	var cve *tls.CertificateVerificationError
	require.ErrorAs(t, clientErr, &cve, "an untrusted server")

	cert := srv.Certificate()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	_, unknown := cert.Verify(x509.VerifyOptions{Roots: x509.NewCertPool()})
	require.ErrorAs(t, unknown, new(x509.UnknownAuthorityError))
	_, hostname := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "api.example.invalid"})
	require.ErrorAs(t, hostname, new(x509.HostnameError))
	_, expired := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: cert.NotAfter.Add(time.Hour)})
	require.ErrorAs(t, expired, new(x509.CertificateInvalidError))

	return map[string]error{
		"client to an untrusted server": clientErr,
		"unknown authority":             unknown,
		"wrong host name":               hostname,
		"expired":                       expired,
	}
}

func TestClassify(t *testing.T) {
	fromTransport, fromClient := unsupportedSchemeErrors(t)
	refused := connRefused(t)
	timeout := readTimeout(t)
	plain := errors.New("backend said no")
	notFound := &net.DNSError{Err: "no such host", Name: "api.example.invalid", IsNotFound: true}

	cases := []struct {
		name string
		err  error
		want backoff.Class
	}{
		{"nil", nil, backoff.Transient},
		{"anything else", plain, backoff.Transient},
		{"anything else, wrapped", wrap(plain), backoff.Transient},

		{"Mark Permanent", backoff.Mark(plain, backoff.Permanent), backoff.Permanent},
		{"Mark Temporary", backoff.Mark(plain, backoff.Temporary), backoff.Temporary},
		{"Mark Transient", backoff.Mark(plain, backoff.Transient), backoff.Transient},
		{"Mark, wrapped twice", wrap2(backoff.Mark(plain, backoff.Permanent)), backoff.Permanent},
		{"Mark, joined", errors.Join(plain, backoff.Mark(io.EOF, backoff.Permanent)), backoff.Permanent},
		{"Mark, in a %w %w", fmt.Errorf("%w and %w", plain, backoff.Mark(io.EOF, backoff.Temporary)), backoff.Temporary},
		{"Mark beats Canceled", backoff.Mark(context.Canceled, backoff.Transient), backoff.Transient},
		{"Mark beats a status", backoff.Mark(&backoff.StatusError{Code: 404}, backoff.Transient), backoff.Transient},
		{"Mark beats a timeout", backoff.Mark(timeout, backoff.Permanent), backoff.Permanent},
		{"Mark in a join beats Canceled beside it", errors.Join(context.Canceled, backoff.Mark(plain, backoff.Temporary)), backoff.Temporary},
		{"outermost mark wins", backoff.Mark(wrap(backoff.Mark(plain, backoff.Transient)), backoff.Permanent), backoff.Permanent},
		{"outermost mark wins, inner Permanent", backoff.Mark(backoff.Mark(plain, backoff.Permanent), backoff.Temporary), backoff.Temporary},
		{"RetryAfter is Temporary", backoff.RetryAfter(time.Second, plain), backoff.Temporary},
		{"RetryAfter, wrapped", wrap(backoff.RetryAfter(time.Second, plain)), backoff.Temporary},
		{"RetryAfter around a Permanent mark", backoff.RetryAfter(time.Second, backoff.Mark(plain, backoff.Permanent)), backoff.Temporary},
		{"Mark around RetryAfter", backoff.Mark(backoff.RetryAfter(time.Second, plain), backoff.Permanent), backoff.Permanent},
		{"RetryAfter beats Canceled", backoff.RetryAfter(0, context.Canceled), backoff.Temporary},

		{"Canceled", context.Canceled, backoff.Permanent},
		{"Canceled, wrapped", wrap(context.Canceled), backoff.Permanent},
		{"Canceled, joined", errors.Join(plain, context.Canceled), backoff.Permanent},
		{"Canceled beats DeadlineExceeded", errors.Join(context.DeadlineExceeded, context.Canceled), backoff.Permanent},

		{"DeadlineExceeded", context.DeadlineExceeded, backoff.Transient},
		{"DeadlineExceeded, wrapped", wrap(context.DeadlineExceeded), backoff.Transient},
		{"DeadlineExceeded beats a Permanent status", errors.Join(&backoff.StatusError{Code: 404}, context.DeadlineExceeded), backoff.Transient},
		{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded, backoff.Transient},
		{"a read timeout on loopback", timeout, backoff.Transient},
		{"a read timeout, wrapped", wrap(timeout), backoff.Transient},
		{"Timeout() true", &timeoutError{timeout: true, err: &backoff.StatusError{Code: 404}}, backoff.Transient},
		{"Timeout() true, joined with a Permanent status", errors.Join(&backoff.StatusError{Code: 400}, &timeoutError{timeout: true}), backoff.Transient},
		{"Timeout() false is no timeout", &timeoutError{timeout: false, err: &backoff.StatusError{Code: 404}}, backoff.Permanent},
		{"Timeout() false around plain", &timeoutError{timeout: false, err: plain}, backoff.Transient},
		{"Timeout() false, holding a timeout", &multiError{errs: []error{&backoff.StatusError{Code: 404}, &timeoutError{timeout: true}}}, backoff.Transient},
		{"Timeout() true, holding a Permanent status", &multiError{timeout: true, errs: []error{&backoff.StatusError{Code: 404}}}, backoff.Transient},
		{"Timeout() false, holding a Permanent status", &multiError{errs: []error{&backoff.StatusError{Code: 404}}}, backoff.Permanent},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "api.example.invalid", IsTimeout: true, IsNotFound: true}, backoff.Transient},

		{"status 429", &backoff.StatusError{Code: 429}, backoff.Temporary},
		{"status 503", &backoff.StatusError{Code: 503, RetryAfter: time.Second}, backoff.Temporary},
		{"status 408", &backoff.StatusError{Code: 408}, backoff.Transient},
		{"status 500", &backoff.StatusError{Code: 500}, backoff.Transient},
		{"status 502", &backoff.StatusError{Code: 502}, backoff.Transient},
		{"status 504", &backoff.StatusError{Code: 504}, backoff.Transient},
		{"status 400", &backoff.StatusError{Code: 400}, backoff.Permanent},
		{"status 401", &backoff.StatusError{Code: 401}, backoff.Permanent},
		{"status 403", &backoff.StatusError{Code: 403}, backoff.Permanent},
		{"status 404", &backoff.StatusError{Code: 404}, backoff.Permanent},
		{"status 409", &backoff.StatusError{Code: 409}, backoff.Permanent},
		{"status 422", &backoff.StatusError{Code: 422}, backoff.Permanent},
		{"status 501", &backoff.StatusError{Code: 501}, backoff.Permanent},
		{"status 505", &backoff.StatusError{Code: 505}, backoff.Permanent},
		{"status 599", &backoff.StatusError{Code: 599}, backoff.Permanent},
		{"status 0", &backoff.StatusError{}, backoff.Permanent},
		{"status 429, wrapped", wrap2(&backoff.StatusError{Code: 429}), backoff.Temporary},
		{"status 404, joined", errors.Join(io.EOF, &backoff.StatusError{Code: 404}), backoff.Permanent},

		{"DNS not found", notFound, backoff.Permanent},
		{"DNS not found, in an OpError", &net.OpError{Op: "dial", Net: "tcp", Err: notFound}, backoff.Permanent},
		{"DNS not found, wrapped", wrap(notFound), backoff.Permanent},
		{"DNS temporary failure", &net.DNSError{Err: "server misbehaving", Name: "api.example.invalid", IsTemporary: true}, backoff.Transient},
		{"unsupported scheme from DefaultTransport", fromTransport, backoff.Permanent},
		{"unsupported scheme from a Client", fromClient, backoff.Permanent},
		{"unsupported scheme, wrapped", wrap(fromClient), backoff.Permanent},
		{"unsupported scheme, joined", errors.Join(io.EOF, fromTransport), backoff.Permanent},
		{"the words elsewhere are no rule", errors.New("proxy: unsupported protocol scheme"), backoff.Transient},

		{"connection refused on loopback", refused, backoff.Transient},
		{"connection refused, wrapped", wrap(refused), backoff.Transient},
		{"connection refused OpError", opError(syscall.ECONNREFUSED), backoff.Transient},
		{"connection reset OpError", opError(syscall.ECONNRESET), backoff.Transient},
		{"connection reset, joined", errors.Join(plain, opError(syscall.ECONNRESET)), backoff.Transient},
		{"io.EOF", io.EOF, backoff.Transient},
		{"io.EOF, wrapped", wrap(io.EOF), backoff.Transient},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF, backoff.Transient},
		{"io.ErrUnexpectedEOF, wrapped", wrap2(io.ErrUnexpectedEOF), backoff.Transient},
	}
	for name, err := range certErrors(t) {
		cases = append(cases,
			struct {
				name string
				err  error
				want backoff.Class
			}{"certificate: " + name, err, backoff.Permanent},
			struct {
				name string
				err  error
				want backoff.Class
			}{"certificate, wrapped: " + name, wrap(err), backoff.Permanent},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, backoff.Classify(tc.err), "Classify(%v)", tc.err)
		})
	}
}

func TestClassifyCertificateValueAndPointerForms(t *testing.T) {
	cases := []struct {
		name string
		err  error
	}{
		{"x509.UnknownAuthorityError", x509.UnknownAuthorityError{}},
		{"*x509.UnknownAuthorityError", &x509.UnknownAuthorityError{}},
		{"x509.HostnameError", x509.HostnameError{Host: "api.example.invalid"}},
		{"*x509.HostnameError", &x509.HostnameError{Host: "api.example.invalid"}},
		{"x509.CertificateInvalidError", x509.CertificateInvalidError{Reason: x509.Expired}},
		{"*x509.CertificateInvalidError", &x509.CertificateInvalidError{Reason: x509.Expired}},
		{"*tls.CertificateVerificationError", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, backoff.Permanent, backoff.Classify(tc.err))
			assert.Equal(t, backoff.Permanent, backoff.Classify(wrap(tc.err)))
		})
	}
}

func TestMarkAndRetryAfterKeepTheError(t *testing.T) {
	status := &backoff.StatusError{Code: 503, RetryAfter: 2 * time.Second}
	cases := []struct {
		name string
		err  error
		want backoff.Class
	}{
		{"Mark", backoff.Mark(status, backoff.Permanent), backoff.Permanent},
		{"Mark, wrapped", wrap(backoff.Mark(status, backoff.Transient)), backoff.Transient},
		{"RetryAfter", backoff.RetryAfter(time.Second, status), backoff.Temporary},
		{"RetryAfter, joined", errors.Join(io.EOF, backoff.RetryAfter(time.Second, wrap(status))), backoff.Temporary},
		{"Mark, joined", errors.Join(backoff.Mark(wrap(status), backoff.Permanent), io.EOF), backoff.Permanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, backoff.Classify(tc.err))
			assert.ErrorIs(t, tc.err, status, "errors.Is sees through the mark")
			var se *backoff.StatusError
			require.ErrorAs(t, tc.err, &se, "errors.As sees through the mark")
			assert.Same(t, status, se)
		})
	}

	t.Run("message unchanged", func(t *testing.T) {
		assert.Equal(t, status.Error(), backoff.Mark(status, backoff.Permanent).Error())
		assert.Equal(t, status.Error(), backoff.RetryAfter(time.Minute, status).Error())
		assert.Equal(t, "calling the model API: "+io.EOF.Error(), wrap(backoff.Mark(io.EOF, backoff.Permanent)).Error())
	})
	t.Run("sentinels", func(t *testing.T) {
		assert.ErrorIs(t, wrap(backoff.Mark(io.EOF, backoff.Permanent)), io.EOF)
		assert.ErrorIs(t, backoff.RetryAfter(time.Second, context.Canceled), context.Canceled)
	})
	t.Run("nil stays nil", func(t *testing.T) {
		for _, c := range []backoff.Class{backoff.Transient, backoff.Temporary, backoff.Permanent} {
			assert.NoError(t, backoff.Mark(nil, c))
			assert.True(t, backoff.Mark(nil, c) == nil, "Mark(nil, %v) must be an untyped nil", c)
		}
		assert.True(t, backoff.RetryAfter(time.Second, nil) == nil)
	})
}

// TestRetryHonoursRetryAfterThroughMarks checks that the wait a server asked
// for outlives wrapping and a later Mark that changes the class.
func TestRetryHonoursRetryAfterThroughMarks(t *testing.T) {
	base := errors.New("rate limited")
	cases := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"RetryAfter", backoff.RetryAfter(3*time.Second, base), 3 * time.Second},
		{"RetryAfter, wrapped", wrap2(backoff.RetryAfter(3*time.Second, base)), 3 * time.Second},
		{"RetryAfter, joined", errors.Join(io.EOF, backoff.RetryAfter(3*time.Second, base)), 3 * time.Second},
		{"RetryAfter shorter than the strategy", backoff.RetryAfter(time.Millisecond, base), 10 * time.Millisecond},
		{"negative RetryAfter", backoff.RetryAfter(-time.Hour, base), 10 * time.Millisecond},
		{"StatusError", &backoff.StatusError{Code: 503, RetryAfter: 4 * time.Second}, 4 * time.Second},
		{"StatusError under a Transient mark", backoff.Mark(&backoff.StatusError{Code: 503, RetryAfter: 4 * time.Second}, backoff.Transient), 4 * time.Second},
		{"RetryAfter under a Transient mark", backoff.Mark(wrap(backoff.RetryAfter(3*time.Second, base)), backoff.Transient), 3 * time.Second},
		{"outermost RetryAfter wins", backoff.RetryAfter(5*time.Second, backoff.RetryAfter(3*time.Second, base)), 5 * time.Second},
		{"RetryAfter beats a StatusError inside", backoff.RetryAfter(time.Second, &backoff.StatusError{Code: 503, RetryAfter: 4 * time.Second}), time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var waits []time.Duration
				calls := 0
				start := time.Now()
				var secondAt time.Duration
				err := backoff.Do(context.Background(), func(context.Context) error {
					calls++
					if calls == 1 {
						return tc.err
					}
					secondAt = time.Since(start)
					return nil
				},
					backoff.WithStrategy(backoff.Fixed(10*time.Millisecond)),
					backoff.WithNotify(func(_ backoff.Attempt, wait time.Duration) { waits = append(waits, wait) }),
				)
				require.NoError(t, err)
				assert.Equal(t, 2, calls)
				assert.Equal(t, []time.Duration{tc.want}, waits)
				assert.Equal(t, tc.want, secondAt)
			})
		})
	}
}

func TestClassString(t *testing.T) {
	cases := []struct {
		c    backoff.Class
		want string
	}{
		{backoff.Transient, "transient"},
		{backoff.Temporary, "temporary"},
		{backoff.Permanent, "permanent"},
		{backoff.Class(9), "permanent(9)"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.c.String())
		})
	}
}

func TestStatusErrorMessage(t *testing.T) {
	cases := []struct {
		name string
		err  *backoff.StatusError
		want string
	}{
		{"known code", &backoff.StatusError{Code: 404}, "backoff: HTTP status 404 Not Found"},
		{"with a wait", &backoff.StatusError{Code: 429, RetryAfter: 1500 * time.Millisecond}, "backoff: HTTP status 429 Too Many Requests (retry after 1.5s)"},
		{"unknown code", &backoff.StatusError{Code: 599}, "backoff: HTTP status 599"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.err.Error())
		})
	}
}

var sinkClass backoff.Class

func TestClassifyAllocatesNothing(t *testing.T) {
	cases := []struct {
		name string
		err  error
	}{
		{"errors.New", errors.New("backend said no")},
		{"fmt.Errorf with %w", fmt.Errorf("calling the model API: %w", errors.New("backend said no"))},
		{"wrapped twice", wrap2(errors.New("backend said no"))},
		{"io.EOF wrapped", wrap(io.ErrUnexpectedEOF)},
		{"joined", errors.Join(errors.New("a"), errors.New("b"))},
		{"status", wrap(&backoff.StatusError{Code: 503})},
		{"marked", wrap(backoff.Mark(errors.New("a"), backoff.Temporary))},
		{"connection reset", opError(syscall.ECONNRESET)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() { sinkClass = backoff.Classify(tc.err) })
			assert.Zero(t, allocs)
		})
	}
}
