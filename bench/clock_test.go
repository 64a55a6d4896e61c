package bench_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	bbclock "github.com/benbjohnson/clock"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// The fake clocks (and the clock interfaces) of both libraries satisfy
// backoff.Clock as they are.
var (
	_ backoff.Clock = (*clockwork.FakeClock)(nil)
	_ backoff.Clock = clockwork.Clock(nil)
	_ backoff.Clock = (*bbclock.Mock)(nil)
	_ backoff.Clock = bbclock.Clock(nil)
)

// fakeClock is what the tests need of either library's fake clock.
type fakeClock interface {
	backoff.Clock
	advance(d time.Duration)
	withTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc)
}

type clockworkClock struct{ *clockwork.FakeClock }

func (c clockworkClock) advance(d time.Duration) { c.Advance(d) }
func (c clockworkClock) withTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return clockwork.WithTimeout(parent, c.FakeClock, d)
}

type mockClock struct{ *bbclock.Mock }

func (c mockClock) advance(d time.Duration) { c.Add(d) }
func (c mockClock) withTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return c.WithTimeout(parent, d)
}

var fakeClocks = []struct {
	name string
	make func() fakeClock
}{
	{"clockwork", func() fakeClock { return clockworkClock{clockwork.NewFakeClock()} }},
	{"benbjohnson", func() fakeClock { return mockClock{bbclock.NewMock()} }},
}

var errFlaky = errors.New("flaky")

// run starts Retry on its own goroutine with the fake clock, an op that
// fails until its call number reaches succeedOn (0: never) and records the
// clock's time at each call, and WithNotify recording the waits.
type run struct {
	mu      sync.Mutex
	calls   []time.Duration // fake time since start, at each call
	waits   []time.Duration
	done    chan struct{}
	attempt int
	err     error
}

func startRetry(ctx context.Context, clock fakeClock, succeedOn int, opts ...backoff.Option) *run {
	r := &run{done: make(chan struct{})}
	start := clock.Now()
	opts = append([]backoff.Option{
		backoff.WithClock(clock),
		backoff.WithNotify(func(_ backoff.Attempt, wait time.Duration) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.waits = append(r.waits, wait)
		}),
	}, opts...)
	go func() {
		defer close(r.done)
		n, err := backoff.Retry(ctx, func(context.Context) (int, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.calls = append(r.calls, clock.Now().Sub(start))
			if len(r.calls) == succeedOn {
				return len(r.calls), nil
			}
			return 0, errFlaky
		}, opts...)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.attempt, r.err = n, err
	}()
	return r
}

func (r *run) callTimes() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.calls...)
}

func (r *run) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// TestFakeClockDrivesRetry advances each library's fake clock through the
// waits of an exponential strategy, checking that no attempt starts a
// nanosecond early and that each starts as soon as its wait is over.
func TestFakeClockDrivesRetry(t *testing.T) {
	for _, fc := range fakeClocks {
		t.Run(fc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := fc.make()
				r := startRetry(context.Background(), clock, 5,
					backoff.WithStrategy(backoff.Exponential{Initial: time.Second, Max: 4 * time.Second}),
					backoff.WithMaxAttempts(5))

				wantWaits := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
				var wantCalls []time.Duration
				var at time.Duration
				for _, wait := range wantWaits {
					wantCalls = append(wantCalls, at)
					synctest.Wait() // Retry is now waiting on the fake clock
					require.Equal(t, wantCalls, r.callTimes())
					clock.advance(wait - 1)
					synctest.Wait()
					require.Equal(t, wantCalls, r.callTimes(), "an attempt started 1ns early")
					clock.advance(1)
					at += wait
				}
				<-r.done
				assert.NoError(t, r.err)
				assert.Equal(t, 5, r.attempt)
				assert.Equal(t, append(wantCalls, at), r.callTimes())
				assert.Equal(t, wantWaits, r.waits)
			})
		})
	}
}

// TestFakeClockExhausted checks the attempt count when every attempt fails.
func TestFakeClockExhausted(t *testing.T) {
	for _, fc := range fakeClocks {
		t.Run(fc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := fc.make()
				r := startRetry(context.Background(), clock, 0,
					backoff.WithStrategy(backoff.Linear{Initial: time.Second, Step: time.Second}),
					backoff.WithMaxAttempts(3))
				for _, wait := range []time.Duration{time.Second, 2 * time.Second} {
					synctest.Wait()
					clock.advance(wait)
				}
				<-r.done
				require.ErrorIs(t, r.err, backoff.ErrExhausted)
				require.ErrorIs(t, r.err, errFlaky)
				var rerr *backoff.Error
				require.ErrorAs(t, r.err, &rerr)
				assert.Equal(t, 3, rerr.Attempts)
				assert.Equal(t, []time.Duration{0, time.Second, 3 * time.Second}, r.callTimes())
			})
		})
	}
}

// TestFakeClockMaxElapsed: with waits of 1s, 2s and 4s and MaxElapsed 5s,
// the third wait would end at 7s, so Retry returns ErrDeadline at 3s
// instead of sleeping in vain.
func TestFakeClockMaxElapsed(t *testing.T) {
	for _, fc := range fakeClocks {
		t.Run(fc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := fc.make()
				start := clock.Now()
				r := startRetry(context.Background(), clock, 0,
					backoff.WithStrategy(backoff.Exponential{Initial: time.Second}),
					backoff.WithMaxAttempts(0),
					backoff.WithMaxElapsed(5*time.Second))
				for _, wait := range []time.Duration{time.Second, 2 * time.Second} {
					synctest.Wait()
					clock.advance(wait)
				}
				synctest.Wait()
				require.True(t, r.finished(), "Retry waits for a wait that would end past MaxElapsed")
				require.ErrorIs(t, r.err, backoff.ErrDeadline)
				require.ErrorIs(t, r.err, errFlaky)
				var rerr *backoff.Error
				require.ErrorAs(t, r.err, &rerr)
				assert.Equal(t, 3, rerr.Attempts)
				assert.Equal(t, []time.Duration{0, time.Second, 3 * time.Second}, r.callTimes())
				assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, r.waits, "no notify for the wait not taken")
				assert.Equal(t, 3*time.Second, clock.Now().Sub(start))
			})
		})
	}
}

// TestFakeClockContextDeadline: a context from the library's own WithTimeout
// ends at 5s on the fake clock, so Retry fails fast as with MaxElapsed. The
// deadline is compared with the fake clock's Now.
func TestFakeClockContextDeadline(t *testing.T) {
	for _, fc := range fakeClocks {
		t.Run(fc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := fc.make()
				start := clock.Now()
				ctx, cancel := clock.withTimeout(context.Background(), 5*time.Second)
				defer cancel()
				r := startRetry(ctx, clock, 0,
					backoff.WithStrategy(backoff.Exponential{Initial: time.Second}),
					backoff.WithMaxAttempts(0))
				synctest.Wait()
				// clockwork v0.5.0's context blocks in Err until it ends,
				// against the context.Context contract, so a Retry that
				// asks ctx.Err() before the first attempt makes no call.
				require.NotEmpty(t, r.callTimes(), "Retry made no call: it is blocked in ctx.Err(); it must test ctx.Done() instead")
				for _, wait := range []time.Duration{time.Second, 2 * time.Second} {
					synctest.Wait()
					require.False(t, r.finished(), "Retry stopped early: %v", r.err)
					clock.advance(wait)
				}
				synctest.Wait()
				require.True(t, r.finished(), "Retry did not return at once at 3s; it made %d calls", len(r.callTimes()))
				require.ErrorIs(t, r.err, backoff.ErrDeadline)
				var rerr *backoff.Error
				require.ErrorAs(t, r.err, &rerr)
				assert.Equal(t, 3, rerr.Attempts)
				assert.Equal(t, []time.Duration{0, time.Second, 3 * time.Second}, r.callTimes())
				assert.Equal(t, 3*time.Second, clock.Now().Sub(start))
				select {
				case <-ctx.Done():
					t.Fatal("the context ended: Retry should have returned before its deadline")
				default:
				}
			})
		})
	}
}

// TestFakeClockAttemptTimeout: on a fake clock, WithAttemptTimeout ends an
// attempt's context when the clock passes the timeout, and that attempt is
// retried while the caller's context lives.
func TestFakeClockAttemptTimeout(t *testing.T) {
	for _, fc := range fakeClocks {
		t.Run(fc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := fc.make()
				start := clock.Now()
				var mu sync.Mutex
				var calls []time.Duration
				done := make(chan error)
				go func() {
					done <- backoff.Do(context.Background(), func(ctx context.Context) error {
						mu.Lock()
						calls = append(calls, clock.Now().Sub(start))
						n := len(calls)
						mu.Unlock()
						if n == 3 {
							return nil
						}
						<-ctx.Done() // a hung call
						return ctx.Err()
					},
						backoff.WithClock(clock),
						backoff.WithAttemptTimeout(2*time.Second),
						backoff.WithStrategy(backoff.Fixed(time.Second)))
				}()
				for _, d := range []time.Duration{2 * time.Second, time.Second, 2 * time.Second, time.Second} {
					synctest.Wait()
					clock.advance(d)
				}
				require.NoError(t, <-done)
				assert.Equal(t, []time.Duration{0, 3 * time.Second, 6 * time.Second}, calls)
			})
		})
	}
}
