package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// script returns an op that fails with errs in turn, then succeeds with the
// number of calls made, and a counter of its calls.
func script(errs ...error) (func(context.Context) (int, error), *int) {
	calls := 0
	return func(context.Context) (int, error) {
		calls++
		if calls <= len(errs) {
			return 0, errs[calls-1]
		}
		return calls, nil
	}, &calls
}

func requireRetryError(t *testing.T, err error, attempts int, last, reason error) *backoff.Error {
	t.Helper()
	var e *backoff.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, attempts, e.Attempts, "attempts")
	assert.Equal(t, last, e.Err, "last error")
	assert.ErrorIs(t, e.Reason, reason, "reason")
	if last != nil {
		assert.ErrorIs(t, err, last)
	}
	assert.ErrorIs(t, err, reason)
	return e
}

func TestRetrySucceedsAtOnce(t *testing.T) {
	op, calls := script()
	notified := 0
	v, err := backoff.Retry(context.Background(), op,
		backoff.WithNotify(func(backoff.Attempt, time.Duration) { notified++ }))
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	assert.Equal(t, 1, *calls)
	assert.Zero(t, notified)
}

func TestRetryWaitsExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op, calls := script(io.EOF, io.EOF)
		start := time.Now()
		var waits []time.Duration
		v, err := backoff.Retry(context.Background(), op,
			backoff.WithStrategy(backoff.Linear{Initial: time.Second, Step: time.Second}),
			backoff.WithNotify(func(_ backoff.Attempt, d time.Duration) { waits = append(waits, d) }))
		require.NoError(t, err)
		assert.Equal(t, 3, v)
		assert.Equal(t, 3, *calls)
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, waits)
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}

func TestRetryDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op, calls := script(io.EOF, io.EOF, io.EOF, io.EOF, io.EOF)
		var attempts []backoff.Attempt
		var total time.Duration
		_, err := backoff.Retry(context.Background(), op,
			backoff.WithNotify(func(a backoff.Attempt, d time.Duration) {
				attempts = append(attempts, a)
				total += d
				// The default is FullJitter(Exponential{200ms, ×2, 30s}).
				limit := 200 * time.Millisecond << (a.Number - 1)
				assert.GreaterOrEqual(t, d, time.Duration(0))
				assert.Less(t, d, limit)
				assert.Equal(t, time.Duration(float64(limit)*a.Random), d)
			}))
		requireRetryError(t, err, 4, io.EOF, backoff.ErrExhausted)
		assert.Equal(t, 4, *calls)
		require.Len(t, attempts, 3)
		for i, a := range attempts {
			assert.Equal(t, i+1, a.Number)
			assert.Equal(t, io.EOF, a.Err)
			assert.Equal(t, backoff.Transient, a.Class)
			assert.GreaterOrEqual(t, a.Random, 0.0)
			assert.Less(t, a.Random, 1.0)
		}
		_ = total
	})
}

func TestRetryReasons(t *testing.T) {
	errBoom := errors.New("boom")
	stop := backoff.StrategyFunc(func(a backoff.Attempt) (time.Duration, bool) { return 0, a.Number < 2 })
	tests := []struct {
		name     string
		errs     []error
		opts     []backoff.Option
		attempts int
		reason   error
	}{
		{"attempts used up", []error{errBoom, errBoom, errBoom}, []backoff.Option{backoff.WithMaxAttempts(3)}, 3, backoff.ErrExhausted},
		{"one attempt only", []error{errBoom}, []backoff.Option{backoff.WithMaxAttempts(1)}, 1, backoff.ErrExhausted},
		{"strategy says stop", []error{errBoom, errBoom, errBoom}, []backoff.Option{backoff.WithStrategy(stop), backoff.WithMaxAttempts(0)}, 2, backoff.ErrExhausted},
		{"permanent mark", []error{backoff.Mark(errBoom, backoff.Permanent)}, nil, 1, backoff.ErrPermanent},
		{"permanent after transient", []error{io.EOF, &backoff.StatusError{Code: 404}}, nil, 2, backoff.ErrPermanent},
		{"class beyond permanent", []error{backoff.Mark(errBoom, backoff.Class(9))}, nil, 1, backoff.ErrPermanent},
		{"classified stops on permanent", []error{io.EOF, errBoom},
			[]backoff.Option{backoff.WithStrategy(backoff.Classified{}), backoff.WithClassifier(func(err error) backoff.Class {
				if err == errBoom {
					return backoff.Permanent
				}
				return backoff.Transient
			})}, 2, backoff.ErrPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				op, calls := script(append(tt.errs, tt.errs...)...)
				opts := append([]backoff.Option{backoff.WithStrategy(backoff.Fixed(time.Millisecond))}, tt.opts...)
				v, err := backoff.Retry(context.Background(), op, opts...)
				assert.Zero(t, v)
				last := tt.errs[(tt.attempts-1)%len(tt.errs)]
				requireRetryError(t, err, tt.attempts, last, tt.reason)
				assert.Equal(t, tt.attempts, *calls)
			})
		})
	}
}

func TestRetryUnlimitedAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errs := make([]error, 100)
		for i := range errs {
			errs[i] = io.EOF
		}
		op, calls := script(errs...)
		v, err := backoff.Retry(context.Background(), op,
			backoff.WithMaxAttempts(0), backoff.WithStrategy(backoff.Fixed(time.Second)))
		require.NoError(t, err)
		assert.Equal(t, 101, v)
		assert.Equal(t, 101, *calls)
	})
}

func TestRetryDoneContextRunsNothing(t *testing.T) {
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	op, calls := script()
	_, err := backoff.Retry(ctx, op)
	e := requireRetryError(t, err, 0, nil, cause)
	assert.Nil(t, e.Err)
	assert.Zero(t, *calls)
	assert.Equal(t, "backoff: shutting down before any attempt", err.Error())
}

func TestRetryCancelDuringWaitReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		op, calls := script(io.EOF, io.EOF)
		start := time.Now()
		done := make(chan error)
		go func() {
			_, err := backoff.Retry(ctx, op, backoff.WithStrategy(backoff.Fixed(time.Hour)))
			done <- err
		}()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		cancel()
		err := <-done
		assert.Equal(t, 10*time.Minute, time.Since(start))
		requireRetryError(t, err, 1, io.EOF, context.Canceled)
		assert.Equal(t, 1, *calls)
	})
}

func TestRetryCancelDuringAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		_, err := backoff.Retry(ctx, func(ctx context.Context) (int, error) {
			calls++
			cancel()
			return 0, ctx.Err()
		}, backoff.WithMaxAttempts(0))
		requireRetryError(t, err, 1, context.Canceled, context.Canceled)
		assert.Equal(t, 1, calls)
	})
}

func TestRetryFailsFastPastDeadline(t *testing.T) {
	tests := []struct {
		name     string
		timeout  time.Duration
		wait     time.Duration
		attempts int
		reason   error
		elapsed  time.Duration
	}{
		// The second wait would end at 2s, exactly the deadline: no attempt could run then.
		{"wait ends at the deadline", 2 * time.Second, time.Second, 2, backoff.ErrDeadline, time.Second},
		{"wait ends past the deadline", 1500 * time.Millisecond, time.Second, 2, backoff.ErrDeadline, time.Second},
		{"first wait too long", 10 * time.Second, time.Minute, 1, backoff.ErrDeadline, 0},
		{"deadline far away", time.Hour, time.Second, 4, backoff.ErrExhausted, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
				defer cancel()
				op, calls := script(io.EOF, io.EOF, io.EOF, io.EOF)
				start := time.Now()
				_, err := backoff.Retry(ctx, op, backoff.WithStrategy(backoff.Fixed(tt.wait)))
				requireRetryError(t, err, tt.attempts, io.EOF, tt.reason)
				assert.Equal(t, tt.attempts, *calls)
				assert.Equal(t, tt.elapsed, time.Since(start))
			})
		})
	}
}

func TestRetryMaxElapsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var starts []time.Duration
		begin := time.Now()
		_, err := backoff.Retry(context.Background(), func(context.Context) (int, error) {
			starts = append(starts, time.Since(begin))
			time.Sleep(500 * time.Millisecond) // the attempt itself takes time
			return 0, io.EOF
		}, backoff.WithMaxAttempts(0), backoff.WithStrategy(backoff.Fixed(time.Second)),
			backoff.WithMaxElapsed(3*time.Second))
		// Attempts start at 0, 1.5s and 3s: one at exactly MaxElapsed is allowed,
		// the next would start at 4.5s.
		assert.Equal(t, []time.Duration{0, 1500 * time.Millisecond, 3 * time.Second}, starts)
		requireRetryError(t, err, 3, io.EOF, backoff.ErrDeadline)
		assert.Equal(t, 3500*time.Millisecond, time.Since(begin), "returned at once, without the last wait")
	})
}

func TestRetryAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var deadlines []time.Duration
		begin := time.Now()
		v, err := backoff.Retry(context.Background(), func(ctx context.Context) (int, error) {
			dl, ok := ctx.Deadline()
			require.True(t, ok)
			deadlines = append(deadlines, dl.Sub(begin))
			if len(deadlines) < 3 {
				<-ctx.Done() // a hung attempt
				return 0, ctx.Err()
			}
			return 7, nil
		}, backoff.WithAttemptTimeout(100*time.Millisecond), backoff.WithStrategy(backoff.Fixed(time.Second)),
			// A classifier that would stop on any context error: the attempt's own
			// timeout must still be retried.
			backoff.WithClassifier(func(error) backoff.Class { return backoff.Permanent }))
		require.NoError(t, err)
		assert.Equal(t, 7, v)
		assert.Equal(t, []time.Duration{100 * time.Millisecond, 1200 * time.Millisecond, 2300 * time.Millisecond}, deadlines)
	})
}

func TestRetryAttemptTimeoutThenExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, err := backoff.Retry(context.Background(), func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		}, backoff.WithAttemptTimeout(time.Second), backoff.WithMaxAttempts(2), backoff.WithStrategy(backoff.Fixed(0)))
		requireRetryError(t, err, 2, context.DeadlineExceeded, backoff.ErrExhausted)
	})
}

func TestRetryCallerDeadlineDuringAttemptEndsRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		calls := 0
		_, err := backoff.Retry(ctx, func(ctx context.Context) (int, error) {
			calls++
			<-ctx.Done()
			return 0, ctx.Err()
		}, backoff.WithAttemptTimeout(time.Second), backoff.WithMaxAttempts(0))
		requireRetryError(t, err, 1, context.DeadlineExceeded, context.DeadlineExceeded)
		assert.Equal(t, 1, calls)
	})
}

func TestRetryHonoursServerDelay(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"RetryAfter longer than the strategy", backoff.RetryAfter(5*time.Second, io.EOF), 5 * time.Second},
		{"RetryAfter shorter than the strategy", backoff.RetryAfter(time.Millisecond, io.EOF), time.Second},
		{"wrapped RetryAfter", fmt.Errorf("call: %w", backoff.RetryAfter(3*time.Second, io.EOF)), 3 * time.Second},
		{"StatusError", &backoff.StatusError{Code: 429, RetryAfter: 7 * time.Second}, 7 * time.Second},
		{"StatusError without delay", &backoff.StatusError{Code: 503}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				op, _ := script(tt.err)
				var got []time.Duration
				start := time.Now()
				_, err := backoff.Retry(context.Background(), op,
					backoff.WithStrategy(backoff.Fixed(time.Second)),
					backoff.WithNotify(func(a backoff.Attempt, d time.Duration) {
						assert.Equal(t, backoff.Temporary, a.Class)
						got = append(got, d)
					}))
				require.NoError(t, err)
				assert.Equal(t, []time.Duration{tt.want}, got)
				assert.Equal(t, tt.want, time.Since(start))
			})
		})
	}
}

func TestRetryAttemptFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errs := []error{io.EOF, backoff.Mark(io.ErrUnexpectedEOF, backoff.Temporary), io.EOF}
		op, _ := script(errs...)
		var seen, notified []backoff.Attempt
		classified := 0
		_, err := backoff.Retry(context.Background(), op,
			backoff.WithClassifier(func(err error) backoff.Class { classified++; return backoff.Classify(err) }),
			backoff.WithStrategy(backoff.StrategyFunc(func(a backoff.Attempt) (time.Duration, bool) {
				seen = append(seen, a)
				return time.Duration(a.Number) * time.Second, true
			})),
			backoff.WithNotify(func(a backoff.Attempt, _ time.Duration) { notified = append(notified, a) }))
		require.NoError(t, err)
		assert.Equal(t, 3, classified, "once per failed attempt")
		require.Len(t, seen, 3)
		assert.Equal(t, seen, notified)
		wantPrev := []time.Duration{0, time.Second, 2 * time.Second}
		wantClass := []backoff.Class{backoff.Transient, backoff.Temporary, backoff.Transient}
		for i, a := range seen {
			assert.Equal(t, i+1, a.Number)
			assert.Equal(t, errs[i], a.Err)
			assert.Equal(t, wantClass[i], a.Class)
			assert.Equal(t, wantPrev[i], a.Prev)
		}
	})
}

func TestRetryNotifyNeverAfterLastAttempt(t *testing.T) {
	op, _ := script(io.EOF, io.EOF, io.EOF)
	notified := 0
	_, err := backoff.Retry(context.Background(), op, backoff.WithMaxAttempts(3),
		backoff.WithStrategy(backoff.Fixed(0)),
		backoff.WithNotify(func(backoff.Attempt, time.Duration) { notified++ }))
	requireRetryError(t, err, 3, io.EOF, backoff.ErrExhausted)
	assert.Equal(t, 2, notified)
}

func TestRetryNegativeStrategyWaitIsZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op, _ := script(io.EOF)
		start := time.Now()
		var got time.Duration = -1
		_, err := backoff.Retry(context.Background(), op,
			backoff.WithStrategy(backoff.StrategyFunc(func(backoff.Attempt) (time.Duration, bool) { return -time.Hour, true })),
			backoff.WithNotify(func(_ backoff.Attempt, d time.Duration) { got = d }))
		require.NoError(t, err)
		assert.Equal(t, time.Duration(0), got)
		assert.Zero(t, time.Since(start))
	})
}

// countingClock is a Clock on the real (in tests, the bubble's) time that
// counts the timers it starts.
type countingClock struct{ timers atomic.Int64 }

func (c *countingClock) Now() time.Time { return time.Now() }
func (c *countingClock) After(d time.Duration) <-chan time.Time {
	c.timers.Add(1)
	return time.After(d)
}

func TestRetryZeroWaitStartsNoTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := &countingClock{}
		op, _ := script(io.EOF, io.EOF)
		_, err := backoff.Retry(context.Background(), op, backoff.WithClock(clock), backoff.WithStrategy(backoff.Fixed(0)))
		require.NoError(t, err)
		assert.Zero(t, clock.timers.Load())

		op, _ = script(io.EOF, io.EOF)
		_, err = backoff.Retry(context.Background(), op, backoff.WithClock(clock), backoff.WithStrategy(backoff.Fixed(time.Second)))
		require.NoError(t, err)
		assert.Equal(t, int64(2), clock.timers.Load())
	})
}

// offsetClock is a fake clock that runs a fixed offset ahead of the bubble's.
type offsetClock struct{ offset time.Duration }

func (c offsetClock) Now() time.Time                         { return time.Now().Add(c.offset) }
func (c offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func TestRetryUsesItsClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A context deadline 10s away on the real clock is already past on a
		// clock an hour ahead: Retry measures deadlines on its own clock.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		op, _ := script(io.EOF)
		_, err := backoff.Retry(ctx, op, backoff.WithClock(offsetClock{time.Hour}), backoff.WithStrategy(backoff.Fixed(time.Second)))
		requireRetryError(t, err, 1, io.EOF, backoff.ErrDeadline)
	})
}

func TestRetryAttemptTimeoutOnFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := &countingClock{}
		calls := 0
		_, err := backoff.Retry(context.Background(), func(ctx context.Context) (int, error) {
			calls++
			<-ctx.Done()
			return 0, ctx.Err()
		}, backoff.WithClock(clock), backoff.WithAttemptTimeout(time.Second), backoff.WithMaxAttempts(2),
			backoff.WithStrategy(backoff.Fixed(0)))
		var e *backoff.Error
		require.ErrorAs(t, err, &e)
		assert.ErrorIs(t, e.Reason, backoff.ErrExhausted)
		assert.ErrorIs(t, e.Err, context.DeadlineExceeded, "a timeout, whichever clock")
		assert.NotErrorIs(t, e.Err, context.Canceled, "not a cancellation, which breakers ignore")
		assert.Equal(t, backoff.Transient, backoff.Classify(e.Err))
		assert.Equal(t, "backoff: attempt timed out after 1s", e.Err.Error())
		assert.Equal(t, 2, calls)
		assert.Equal(t, int64(2), clock.timers.Load())
	})
}

// observer is a Strategy that records what it is told.
type observer struct {
	backoff.Fixed
	outcomes []backoff.Outcome
}

func (o *observer) Observe(out backoff.Outcome) { o.outcomes = append(o.outcomes, out) }

func TestRetryTellsObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{Fixed: backoff.Fixed(time.Second)}
		calls := 0
		_, err := backoff.Retry(context.Background(), func(context.Context) (int, error) {
			calls++
			time.Sleep(time.Duration(calls) * 10 * time.Millisecond)
			if calls < 3 {
				return 0, io.EOF
			}
			return calls, nil
		}, backoff.WithStrategy(obs))
		require.NoError(t, err)
		assert.Equal(t, []backoff.Outcome{
			{Err: io.EOF, Latency: 10 * time.Millisecond},
			{Err: io.EOF, Latency: 20 * time.Millisecond},
			{Err: nil, Latency: 30 * time.Millisecond},
		}, obs.outcomes)
	})
}

func TestRetryPanicPropagates(t *testing.T) {
	calls := 0
	assert.PanicsWithValue(t, "op exploded", func() {
		_, _ = backoff.Retry(context.Background(), func(context.Context) (int, error) {
			calls++
			if calls == 2 {
				panic("op exploded")
			}
			return 0, io.EOF
		}, backoff.WithStrategy(backoff.Fixed(0)))
	})
	assert.Equal(t, 2, calls)
}

func TestDo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		err := backoff.Do(context.Background(), func(context.Context) error {
			calls++
			if calls < 2 {
				return io.EOF
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 2, calls)

		err = backoff.Do(context.Background(), func(context.Context) error { return io.EOF }, backoff.WithMaxAttempts(2))
		requireRetryError(t, err, 2, io.EOF, backoff.ErrExhausted)
	})
}

func TestOptionsOverride(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bundle := backoff.Options(backoff.WithMaxAttempts(2), backoff.WithStrategy(backoff.Fixed(time.Minute)))
		tests := []struct {
			name     string
			opts     []backoff.Option
			attempts int
			elapsed  time.Duration
		}{
			{"bundle alone", []backoff.Option{bundle}, 2, time.Minute},
			{"later option wins", []backoff.Option{bundle, backoff.WithMaxAttempts(3)}, 3, 2 * time.Minute},
			{"earlier option loses", []backoff.Option{backoff.WithMaxAttempts(5), bundle}, 2, time.Minute},
			{"nested bundles", []backoff.Option{backoff.Options(bundle, backoff.WithStrategy(backoff.Fixed(time.Second)))}, 2, time.Second},
			{"zero option changes nothing", []backoff.Option{bundle, {}}, 2, time.Minute},
		}
		for _, tt := range tests {
			op, calls := script(io.EOF, io.EOF, io.EOF, io.EOF, io.EOF)
			start := time.Now()
			_, err := backoff.Retry(context.Background(), op, tt.opts...)
			requireRetryError(t, err, tt.attempts, io.EOF, backoff.ErrExhausted)
			assert.Equal(t, tt.attempts, *calls, tt.name)
			assert.Equal(t, tt.elapsed, time.Since(start), tt.name)
		}
	})
}

func TestOptionsCopiesItsArguments(t *testing.T) {
	opts := []backoff.Option{backoff.WithMaxAttempts(2)}
	bundle := backoff.Options(opts...)
	opts[0] = backoff.WithMaxAttempts(5)
	op, calls := script(io.EOF, io.EOF, io.EOF)
	_, err := backoff.Retry(context.Background(), op, bundle, backoff.WithStrategy(backoff.Fixed(0)))
	require.Error(t, err)
	assert.Equal(t, 2, *calls)
}

func TestBadInputPanics(t *testing.T) {
	tests := []struct {
		name string
		want string
		f    func()
	}{
		{"negative attempts", "backoff: WithMaxAttempts: negative count -1", func() { backoff.WithMaxAttempts(-1) }},
		{"negative max elapsed", "backoff: WithMaxElapsed: negative duration -1s", func() { backoff.WithMaxElapsed(-time.Second) }},
		{"negative attempt timeout", "backoff: WithAttemptTimeout: negative duration -1ms", func() { backoff.WithAttemptTimeout(-time.Millisecond) }},
		{"nil strategy", "backoff: WithStrategy: nil strategy", func() { backoff.WithStrategy(nil) }},
		{"nil op", "backoff: Retry: nil op", func() {
			_, _ = backoff.Retry[int](context.Background(), nil)
		}},
		{"nil Do op", "backoff: Do: nil op", func() { _ = backoff.Do(context.Background(), nil) }},
		{"nil jitter", "backoff: FullJitter: nil strategy", func() { backoff.FullJitter(nil) }},
		{"proportional factor", "backoff: ProportionalJitter: factor 1.5 outside [0, 1]", func() { backoff.ProportionalJitter(backoff.Fixed(1), 1.5) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.PanicsWithValue(t, tt.want, tt.f)
		})
	}
}

func TestNilOptionValuesMeanDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		notFound := &backoff.StatusError{Code: 404}
		op, _ := script(notFound)
		_, err := backoff.Retry(context.Background(), op,
			backoff.WithClassifier(nil), backoff.WithClock(nil), backoff.WithNotify(nil))
		requireRetryError(t, err, 1, notFound, backoff.ErrPermanent)
	})
}

func TestErrorMessageAndUnwrap(t *testing.T) {
	e := &backoff.Error{Attempts: 3, Err: io.EOF, Reason: backoff.ErrExhausted}
	assert.Equal(t, "backoff: retries exhausted after 3 attempts: EOF", e.Error())
	assert.Equal(t, []error{io.EOF, backoff.ErrExhausted}, e.Unwrap())
	e = &backoff.Error{Attempts: 1, Err: io.EOF, Reason: backoff.ErrPermanent}
	assert.Equal(t, "backoff: permanent error after 1 attempt: EOF", e.Error())
	e = &backoff.Error{Reason: context.Canceled}
	assert.Equal(t, []error{context.Canceled}, e.Unwrap())
}

func TestRetrySuccessAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	opts := []backoff.Option{backoff.WithMaxAttempts(3), backoff.WithStrategy(backoff.Fixed(0))}
	op := func(context.Context) (int, error) { return 1, nil }
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = backoff.Retry(ctx, op) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = backoff.Retry(ctx, op, opts...) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		_, _ = backoff.Retry(ctx, op, backoff.WithMaxAttempts(2), backoff.WithStrategy(backoff.Fixed(0)))
	}), "options built inline")
	n := 0
	flaky := func(context.Context) (int, error) {
		n++
		if n%3 != 0 {
			return 0, io.EOF
		}
		return n, nil
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = backoff.Retry(ctx, flaky, opts...) }),
		"fail twice with zero waits, then succeed")
	assert.Equal(t, 303, n, "AllocsPerRun makes one warm-up run")
}

func TestRetryCancelDuringALaterWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		op, calls := script(io.EOF, io.EOF, io.EOF)
		start := time.Now()
		done := make(chan error)
		go func() {
			_, err := backoff.Retry(ctx, op, backoff.WithStrategy(backoff.Linear{Initial: time.Second, Step: time.Hour}))
			done <- err
		}()
		// The first wait (1s) ends, the second attempt fails, and the
		// second wait (1h1s) is cut short 10 minutes in.
		time.Sleep(time.Second + 10*time.Minute)
		synctest.Wait()
		cancel()
		err := <-done
		assert.Equal(t, time.Second+10*time.Minute, time.Since(start))
		requireRetryError(t, err, 2, io.EOF, context.Canceled)
		assert.Equal(t, 2, *calls)
	})
}

func TestErrorTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fails := func(context.Context) (int, error) { return 0, errDown }
		hangs := func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := backoff.Retry(ctx, fails, backoff.WithStrategy(backoff.Fixed(time.Minute)))
		requireRetryError(t, err, 1, errDown, backoff.ErrDeadline)
		assert.True(t, err.(*backoff.Error).Timeout(), "ErrDeadline")

		_, err = backoff.Retry(ctx, hangs)
		requireRetryError(t, err, 1, context.DeadlineExceeded, context.DeadlineExceeded)
		assert.True(t, err.(*backoff.Error).Timeout(), "the context's deadline")

		mine := errors.New("mine")
		ctx2, cancel2 := context.WithTimeoutCause(t.Context(), time.Second, mine)
		defer cancel2()
		_, err = backoff.Retry(ctx2, hangs)
		requireRetryError(t, err, 1, context.DeadlineExceeded, mine)
		assert.True(t, err.(*backoff.Error).Timeout(), "the context's deadline, with a cause")

		ctx3, cancel3 := context.WithTimeoutCause(t.Context(), time.Second, mine)
		defer cancel3()
		_, err = backoff.Retry(ctx3, fails, backoff.WithStrategy(backoff.Fixed(2*time.Second)), backoff.WithMaxElapsed(time.Hour))
		assert.True(t, err.(*backoff.Error).Timeout(), "ErrDeadline before a deadline with a cause")

		_, err = backoff.Retry(t.Context(), hangs, backoff.WithMaxAttempts(2), backoff.WithAttemptTimeout(time.Second))
		requireRetryError(t, err, 2, context.DeadlineExceeded, backoff.ErrExhausted)
		assert.True(t, err.(*backoff.Error).Timeout(), "the last attempt's own timeout")

		_, err = backoff.Retry(t.Context(), fails, backoff.WithStrategy(backoff.Fixed(0)))
		assert.False(t, err.(*backoff.Error).Timeout(), "exhausted")

		ctx4, cancel4 := context.WithCancelCause(t.Context())
		cancel4(mine)
		_, err = backoff.Retry(ctx4, fails)
		assert.False(t, err.(*backoff.Error).Timeout(), "cancelled")

		assert.False(t, (&backoff.Error{}).Timeout())
		assert.True(t, (&backoff.Error{Reason: backoff.ErrDeadline}).Timeout())
	})
}
