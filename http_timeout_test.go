package backoff_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// Timeouts look like timeouts: what net/http callers test for holds when
// time ran out, through Transport as through a bare http.Transport.

// assertTimeout checks the idioms on an error from http.Client.
func assertTimeout(t *testing.T, err error, want bool) {
	t.Helper()
	require.Error(t, err)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, want, ue.Timeout(), "url.Error.Timeout")
	var ne net.Error
	assert.Equal(t, want, errors.As(err, &ne) && ne.Timeout(), "net.Error.Timeout")
	assert.Equal(t, want, os.IsTimeout(err), "os.IsTimeout")
	var e *backoff.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, want, e.Timeout(), "Error.Timeout")
}

func TestTransportTimeoutIdioms(t *testing.T) {
	t.Run("the request's deadline during an attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var s stamps
			c, stop := pipeServer(hang(&s))
			defer stop()
			client := &http.Client{Transport: &backoff.Transport{Base: c}}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
			_, err := client.Do(req)
			assertTimeout(t, err, true)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			// As with a bare transport.
			_, bare := (&http.Client{Transport: c}).Do(req)
			assertBareTimeout(t, bare)
		})
	})
	t.Run("http.Client.Timeout during an attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var s stamps
			c, stop := pipeServer(hang(&s))
			defer stop()
			client := &http.Client{Timeout: 5 * time.Second, Transport: &backoff.Transport{Base: c}}
			_, err := client.Get("http://glm.test/")
			// http.Client replaces the error of a request that its Timeout
			// ended with one of its own, which only keeps the text.
			assertBareTimeout(t, err)
			assert.Contains(t, err.Error(), "Client.Timeout exceeded")
		})
	})
	t.Run("the request's deadline with a cause of its own", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var s stamps
			c, stop := pipeServer(hang(&s))
			defer stop()
			mine := errors.New("the user waited long enough")
			ctx, cancel := context.WithTimeoutCause(t.Context(), 5*time.Second, mine)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
			_, err := (&http.Client{Transport: &backoff.Transport{Base: c}}).Do(req)
			assertTimeout(t, err, true)
			assert.ErrorIs(t, err, mine)
		})
	})
	t.Run("every attempt's own timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var s stamps
			c, stop := pipeServer(hang(&s))
			defer stop()
			tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait,
				backoff.WithMaxAttempts(2), backoff.WithAttemptTimeout(time.Second)}}
			_, err := (&http.Client{Transport: tr}).Get("http://glm.test/")
			assertTimeout(t, err, true)
			assert.ErrorIs(t, err, backoff.ErrExhausted)
			assert.Equal(t, 2, s.count())
		})
	})
	t.Run("the next wait ends past the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
			tr := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, refused }),
				Options: []backoff.Option{backoff.WithStrategy(backoff.Fixed(10 * time.Second))}}
			client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
			_, err := client.Get("http://glm.test/")
			assertTimeout(t, err, true)
			assert.ErrorIs(t, err, backoff.ErrDeadline)
		})
	})
	t.Run("not a timeout: retries used up on refusals", func(t *testing.T) {
		refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		tr := &backoff.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, refused }),
			Options: []backoff.Option{noWait}}
		_, err := (&http.Client{Transport: tr}).Get("http://glm.test/")
		assertTimeout(t, err, false)
	})
	t.Run("not a timeout: cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var s stamps
			c, stop := pipeServer(hang(&s))
			defer stop()
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(time.Second, cancel)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
			_, err := (&http.Client{Transport: &backoff.Transport{Base: c}}).Do(req)
			assertTimeout(t, err, false)
			assert.ErrorIs(t, err, context.Canceled)
		})
	})
}

func assertBareTimeout(t *testing.T, err error) {
	t.Helper()
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.True(t, ue.Timeout())
	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout())
	assert.True(t, os.IsTimeout(err))
}
