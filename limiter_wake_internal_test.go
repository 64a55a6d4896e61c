package backoff

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// checkNoStuckWaiter fails t if, while every goroutine of the bubble is
// durably blocked, a caller waits for something that is there: a slot
// waiter while the concurrency has room and the stack a free slot, or a
// rate queue whose next token is already due (its head should be awake and
// taking it, not asleep or unwoken).
func checkNoStuckWaiter(t *testing.T, l *Limiter) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	top, inUse, _ := unpackHead(l.head.Load())
	if l.queue.first != nil && int64(inUse) < l.limit.Load() && top != 0 {
		t.Fatalf("a waiter is blocked for a slot while %d of %d slots are in use", inUse, l.limit.Load())
	}
	if l.rateQueue.first != nil && l.tat.Load() <= l.now() {
		t.Fatalf("the rate queue holds %d callers while its next token was due %v ago",
			l.rateWaiting.Load(), time.Duration(l.now()-l.tat.Load()))
	}
}

// TestLimiterNoStuckWaiter runs many goroutines through a small Limiter,
// with instant calls and calls that hold their slot a while, throttles now
// and then (which cut the concurrency and start the pacing), and contexts
// that end while their callers wait. Inside the bubble a waiter that missed
// its wake-up shows exactly: either as a waiter still blocked, once every
// goroutine is, while what it waits for is there, or as a deadlock of the
// bubble once the other goroutines are through.
func TestLimiterNoStuckWaiter(t *testing.T) {
	for _, tc := range []struct{ goroutines, slots, calls int }{{64, 8, 60}, {128, 64, 40}, {256, 16, 25}} {
		t.Run(fmt.Sprintf("%d goroutines %d slots", tc.goroutines, tc.slots), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := NewLimiter(LimiterSettings{MaxConcurrency: tc.slots})
				var wg sync.WaitGroup
				var finished, acquired atomic.Int64
				for g := range tc.goroutines {
					wg.Go(func() {
						defer finished.Add(1)
						for i := range tc.calls {
							ctx, cancel := context.Background(), context.CancelFunc(func() {})
							if (g+i)%13 == 0 {
								ctx, cancel = context.WithTimeout(ctx, 3*time.Millisecond)
							}
							s, err := l.Acquire(ctx)
							cancel()
							if err != nil {
								if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrDeadline) {
									t.Errorf("Acquire: %v", err)
								}
								continue
							}
							acquired.Add(1)
							if (g+i)%5 == 0 {
								time.Sleep(time.Duration(1+g%3) * time.Millisecond) // a call that holds its slot
							}
							var res error
							if (g+i)%50 == 0 {
								res = &StatusError{Code: 429}
							}
							s.Done(res, 0)
						}
					})
				}
				for finished.Load() < int64(tc.goroutines) {
					synctest.Wait()
					checkNoStuckWaiter(t, l)
					time.Sleep(500 * time.Microsecond)
				}
				wg.Wait()
				_, inUse, _ := unpackHead(l.head.Load())
				if inUse != 0 || l.waiting.Load() != 0 || l.rateWaiting.Load() != 0 {
					t.Fatalf("after the run: %d slots in use, %d slot waiters, %d rate waiters", inUse, l.waiting.Load(), l.rateWaiting.Load())
				}
				if acquired.Load() == 0 {
					t.Fatal("no call acquired a slot")
				}
			})
		})
	}
}
