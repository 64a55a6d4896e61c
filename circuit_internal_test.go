package backoff

import (
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// windowCounts sums the window of b at time t, as ratioReached does.
func windowCounts(b *Breaker, t int64) (calls, failures int64) {
	return b.windowCounts(t / b.width)
}

// bucketCalls is the calls that bucket k holds.
func bucketCalls(b *Breaker, k int) int64 {
	return int64(b.buckets[k].n.Load()>>32) + b.buckets[k].calls.Load()
}

func TestBreakerWindowStress(t *testing.T) {
	const goroutines, rounds, perRound = 10, 10, 1_000 // 10 × 10,000 calls
	errDown := errors.New("service down")
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker(BreakerSettings{
			ConsecutiveFailures: math.MaxInt,
			FailureRatio:        1,
			MinCalls:            math.MaxInt, // never trips
			Window:              10 * time.Second,
		})
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for r := range rounds {
					// All goroutines wake in the same bucket, and race to
					// turn it over.
					time.Sleep(time.Second)
					for i := range perRound {
						p, err := b.Allow()
						if err != nil {
							t.Errorf("refused: %v", err)
							return
						}
						if (g+r+i)%4 == 0 {
							p.Done(errDown)
						} else {
							p.Done(nil)
						}
					}
				}
			})
		}
		wg.Wait()
		// Rounds ran at 1s..10s, in buckets 1..10: every one is in the
		// window at 10s.
		now := b.now()
		if now != int64(10*time.Second) {
			t.Fatalf("now = %v", time.Duration(now))
		}
		calls, failures := windowCounts(b, now)
		wantFailures := int64(0)
		for g := range goroutines {
			for r := range rounds {
				for i := range perRound {
					if (g+r+i)%4 == 0 {
						wantFailures++
					}
				}
			}
		}
		if calls != goroutines*rounds*perRound || failures != wantFailures {
			t.Errorf("window holds %d calls, %d failures; want %d, %d", calls, failures, goroutines*rounds*perRound, wantFailures)
		}
		for k := range b.buckets {
			if c := bucketCalls(b, k); c != goroutines*perRound {
				t.Errorf("bucket %d (epoch %d) holds %d calls, want %d", k, b.buckets[k].epoch.Load(), c, goroutines*perRound)
			}
		}
		// A second later the first round has left the window.
		time.Sleep(time.Second)
		calls, _ = windowCounts(b, b.now())
		if calls != goroutines*(rounds-1)*perRound {
			t.Errorf("after 1s the window holds %d calls, want %d", calls, goroutines*(rounds-1)*perRound)
		}
		if got := b.word.Load() >> stateShift; State(got&3) != Closed || got>>2 != 0 {
			t.Errorf("state %v, generation %d: want closed, 0", State(got&3), got>>2)
		}
	})
}
