package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// Paths that Base's odd answers take.

func TestTransportDialErrorInsideJoin(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	read := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name  string
		err   error
		trips int
	}{
		{name: "dial error joined: never sent, a POST is retried", err: errors.Join(errors.New("proxy"), dial), trips: 2},
		{name: "dial error joined and wrapped", err: fmt.Errorf("via: %w", errors.Join(read, fmt.Errorf("inner: %w", dial))), trips: 2},
		{name: "no dial error in the join: a POST is not retried", err: errors.Join(errors.New("proxy"), read), trips: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkPostRetriedOnce(t, tc.err, tc.trips, read)
		})
	}
}

// checkPostRetriedOnce sends a POST whose first attempt fails with err and
// whose second succeeds, and checks that Base saw it trips times: 2 when err
// says the request surely never reached the server, so the POST is retried;
// 1 when it may have, so err (which holds cause) ends it as Permanent.
func checkPostRetriedOnce(t *testing.T, err error, trips int, cause error) {
	t.Helper()
	seen := 0
	tr := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		if seen++; seen == 1 {
			return nil, err
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}), Options: []backoff.Option{noWait}}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader("{}"))
	resp, rtErr := tr.RoundTrip(req)
	assert.Equal(t, trips, seen)
	if trips == 1 {
		require.ErrorIs(t, rtErr, backoff.ErrPermanent)
		assert.ErrorIs(t, rtErr, cause)
		return
	}
	require.NoError(t, rtErr)
	assert.Equal(t, 200, resp.StatusCode)
}

func TestTransportBaseReturnsResponseAndError(t *testing.T) {
	// A RoundTripper must return one or the other; one that returns both
	// has its response closed, and its error is what counts.
	bodies := []*closeCounter{}
	trips := 0
	tr := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		trips++
		b := &closeCounter{ReadCloser: io.NopCloser(strings.NewReader("stray"))}
		bodies = append(bodies, b)
		if trips == 1 {
			return &http.Response{StatusCode: 200, Body: b}, io.ErrUnexpectedEOF
		}
		return &http.Response{StatusCode: 200, Body: b}, nil
	}), Options: []backoff.Option{noWait}}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 2, trips)
	assert.EqualValues(t, 1, bodies[0].closed.Load())
	assert.Equal(t, "stray", readBody(t, resp))
	assert.EqualValues(t, 1, bodies[1].closed.Load())

	// With a nil Body beside the error, nothing to close, and no panic.
	tr = &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 500}, io.ErrUnexpectedEOF
	}), Options: []backoff.Option{noWait, backoff.WithMaxAttempts(2)}}
	resp, err = tr.RoundTrip(req)
	assert.Nil(t, resp)
	require.ErrorIs(t, err, backoff.ErrExhausted)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestTransportTimeoutFiresAsHeadersArrive(t *testing.T) {
	// Base answers only once the attempt's context has ended, as a server
	// whose headers cross the timeout would: the response cannot be read,
	// so the attempt timed out, and is retried.
	for _, status := range []int{200, 500} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var bodies []*closeCounter
				var errs []error
				trips := 0
				tr := &backoff.Transport{Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					trips++
					code := 200
					if trips == 1 {
						<-r.Context().Done()
						code = status
					}
					b := &closeCounter{ReadCloser: io.NopCloser(&ctxReader{r.Context(), strings.NewReader("late")})}
					bodies = append(bodies, b)
					return &http.Response{StatusCode: code, Header: http.Header{}, Body: b}, nil
				}), Options: []backoff.Option{noWait, backoff.WithAttemptTimeout(time.Second),
					backoff.WithNotify(func(a backoff.Attempt, _ time.Duration) { errs = append(errs, a.Err) })}}
				req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
				start := time.Now()
				resp, err := tr.RoundTrip(req)
				require.NoError(t, err)
				assert.Equal(t, time.Second, time.Since(start))
				assert.Equal(t, 2, trips)
				require.Len(t, errs, 1)
				assert.ErrorIs(t, errs[0], context.DeadlineExceeded)
				assert.EqualValues(t, 1, bodies[0].closed.Load())
				assert.Equal(t, 200, resp.StatusCode)
				assert.Equal(t, "late", readBody(t, resp))
			})
		})
	}
}

// ctxReader fails once ctx is done, as a response body does once its
// request's context has ended.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
