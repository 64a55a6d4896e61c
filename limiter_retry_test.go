package backoff_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Retry's throttled attempts teach the Limiter: it cuts its concurrency (its
// one slot of two was in use) and starts pacing.
func TestRetryWithLimiterLearns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 2, MinRate: 100})
		n := 0
		var seen []int
		v, err := backoff.Retry(t.Context(), func(context.Context) (int, error) {
			n++
			seen = append(seen, l.Concurrency())
			if n <= 2 {
				return 0, &backoff.StatusError{Code: 429}
			}
			return n, nil
		}, backoff.WithLimiter(l), noWait)
		require.NoError(t, err)
		assert.Equal(t, 3, v)
		assert.Equal(t, []int{2, 1, 1}, seen, "⌊2·0.7⌋, then ⌊1.4·0.7⌋ held at MinConcurrency")
		assert.Equal(t, 2, l.Concurrency(), "the success, with its one slot in use, won one back: 1.0+1/1.0")
		assert.False(t, math.IsInf(l.Rate(), 1))
	})
}

// The classifier of the Retry decides: a 429 that it calls Permanent (a
// spent quota) is no throttle.
func TestRetryWithLimiterUsesTheClassifier(t *testing.T) {
	l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 10})
	quota := errors.New("insufficient_quota")
	_, err := backoff.Retry(t.Context(), func(context.Context) (int, error) {
		return 0, errors.Join(quota, &backoff.StatusError{Code: 429})
	}, backoff.WithLimiter(l), backoff.WithClassifier(func(err error) backoff.Class {
		if errors.Is(err, quota) {
			return backoff.Permanent
		}
		return backoff.Classify(err)
	}))
	require.ErrorIs(t, err, backoff.ErrPermanent)
	assert.Equal(t, 10, l.Concurrency())
	assert.True(t, math.IsInf(l.Rate(), 1))
}

// An attempt holds its slot while it runs, and no longer.
func TestRetryWithLimiterHoldsASlotPerAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		release := make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- backoff.Do(t.Context(), func(context.Context) error {
				<-release
				return nil
			}, backoff.WithLimiter(l))
		}()
		synctest.Wait()
		ran := false
		second := make(chan error, 1)
		go func() {
			second <- backoff.Do(t.Context(), func(context.Context) error {
				ran = true
				return nil
			}, backoff.WithLimiter(l))
		}()
		synctest.Wait()
		assert.False(t, ran, "the second call waits for the slot")
		close(release)
		require.NoError(t, <-first)
		require.NoError(t, <-second)
		assert.True(t, ran)
	})
}

func TestRetryWithLimiterWaitEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		held, err := l.Acquire(t.Context())
		require.NoError(t, err)
		cause := errors.New("request abandoned")
		ctx, cancel := context.WithCancelCause(t.Context())
		res := make(chan error, 1)
		go func() {
			res <- backoff.Do(ctx, func(context.Context) error { return nil }, backoff.WithLimiter(l))
		}()
		synctest.Wait()
		cancel(cause)
		err = <-res
		var e *backoff.Error
		require.ErrorAs(t, err, &e)
		assert.Same(t, cause, e.Reason)
		assert.Zero(t, e.Attempts)
		held.Done(nil, 0)
	})
}

// Pacing that would start the attempt past the deadline stops Retry at once.
func TestRetryWithLimiterDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{InitialRate: 1})
		s, err := l.Acquire(t.Context())
		require.NoError(t, err)
		s.Done(nil, 0)
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = backoff.Do(ctx, func(context.Context) error { return nil }, backoff.WithLimiter(l))
		var e *backoff.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, backoff.ErrDeadline, e.Reason)
		assert.True(t, e.Timeout())
		assert.Zero(t, time.Since(start))
	})
}

// A panic gives the slot back; a failure after the caller gave up teaches
// nothing.
func TestRetryWithLimiterPanicAndCancel(t *testing.T) {
	l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
	assert.Panics(t, func() {
		_ = backoff.Do(t.Context(), func(context.Context) error { panic("boom") }, backoff.WithLimiter(l))
	})
	ctx, cancel := context.WithCancel(t.Context())
	err := backoff.Do(ctx, func(context.Context) error {
		cancel()
		return &backoff.StatusError{Code: 429}
	}, backoff.WithLimiter(l))
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, math.IsInf(l.Rate(), 1))
	// The slot is free again.
	s, err := l.Acquire(t.Context())
	require.NoError(t, err)
	s.Done(nil, 0)
}

func TestRetryWithLimiterAllocs(t *testing.T) {
	l := backoff.NewLimiter(backoff.LimiterSettings{})
	opts := backoff.Options(backoff.WithLimiter(l))
	ctx := context.Background()
	op := func(context.Context) (int, error) { return 1, nil }
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = backoff.Retry(ctx, op, opts) }))
}

// A streamed 200 holds its slot until its body is closed.
func TestTransportLimiterHoldsStreamUntilClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{"Content-Type": {"text/event-stream"}}
			return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("data: x\n\n")), Request: r}, nil
		})
		c := &http.Client{Transport: &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithLimiter(l)}}}
		resp, err := c.Get("http://glm.test/stream")
		require.NoError(t, err)

		second := make(chan error, 1)
		go func() {
			resp, err := c.Get("http://glm.test/stream")
			if err == nil {
				resp.Body.Close()
			}
			second <- err
		}()
		synctest.Wait()
		select {
		case <-second:
			t.Fatal("a second stream opened while the first was open, over a concurrency of 1")
		default:
		}
		_, err = io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.NoError(t, <-second)
	})
}

// A buffered body and a failed status give the slot back before RoundTrip
// returns; a 429 is a throttle.
func TestTransportLimiterBufferedAndThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 2, MinRate: 1000})
		n := 0
		var seen []int
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n++
			seen = append(seen, l.Concurrency())
			if n == 1 {
				h := http.Header{"Retry-After": {"0"}}
				return &http.Response{StatusCode: 429, Header: h, Body: io.NopCloser(strings.NewReader(`{"error":{"code":"1303"}}`)), Request: r}, nil
			}
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
		})
		tr := &backoff.Transport{Base: base, BufferBody: 1 << 10, Options: []backoff.Option{backoff.WithLimiter(l), noWait}}
		req, err := http.NewRequest(http.MethodGet, "http://glm.test/", nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, []int{2, 1}, seen, "the 429 cut 2 to 1")
		assert.Equal(t, 2, l.Concurrency(), "the buffered success won it back")
		// Both slots are back: 2 can be taken at once, body still unclosed.
		var slots []backoff.Slot
		for range 2 {
			s, err := l.Acquire(t.Context())
			require.NoError(t, err)
			slots = append(slots, s)
		}
		for _, s := range slots {
			s.Done(nil, 0)
		}
		resp.Body.Close()
	})
}

func TestTransportLimiterWaitEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
		held, err := l.Acquire(t.Context())
		require.NoError(t, err)
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			t.Error("no attempt should be sent")
			return nil, errors.New("unreachable")
		})
		c := &http.Client{Transport: &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithLimiter(l)}}}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://glm.test/", nil)
		require.NoError(t, err)
		_, err = c.Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var e *backoff.Error
		require.ErrorAs(t, err, &e)
		assert.Zero(t, e.Attempts)
		held.Done(nil, 0)
	})
}
