package backoff

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
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

func TestFractionOf(t *testing.T) {
	tests := []struct {
		r        float64
		num, den uint64
	}{
		{0.28, 7, 25},
		{0.5, 1, 2},
		{1, 1, 1},
		{0.1, 1, 10},
		{0.3, 3, 10},
		{1.0 / 3, 1, 3},
		{2.0 / 3, 2, 3},
		{0.57, 57, 100},
		// Simpler than 123456789/10^9, and no ratio of fewer than 10^8
		// calls lies between the two.
		{0.123456789, 13566680, 109890109},
		{1e-9, 1, 1_000_000_000},
		// Too fine for a denominator of 2^62: the least fraction above.
		{5e-324, 1, maxDen},
		{1e-300, 1, maxDen},
	}
	for _, tt := range tests {
		num, den := fractionOf(tt.r)
		if num != tt.num || den != tt.den {
			t.Errorf("fractionOf(%v) = %d/%d, want %d/%d", tt.r, num, den, tt.num, tt.den)
		}
	}
}

func TestFractionOfRoundsBack(t *testing.T) {
	// The fraction rounds to the ratio, and none with a smaller
	// denominator does.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		r := rng.Float64()
		if r == 0 {
			continue
		}
		if rng.IntN(2) == 0 {
			r = float64(rng.IntN(1000)+1) / float64(rng.IntN(1000)+1000)
		}
		num, den := fractionOf(r)
		if den > maxDen || num > den {
			t.Fatalf("fractionOf(%v) = %d/%d", r, num, den)
		}
		if f, _ := new(big.Rat).SetFrac(new(big.Int).SetUint64(num), new(big.Int).SetUint64(den)).Float64(); f != r {
			t.Fatalf("fractionOf(%v) = %d/%d, which is %v", r, num, den, f)
		}
		if den < 1e6 {
			for q := uint64(1); q < den; q++ {
				for _, p := range []uint64{uint64(r * float64(q)), uint64(r*float64(q)) + 1} {
					if float64(p)/float64(q) == r && new(big.Rat).SetFrac64(int64(p), int64(q)).Cmp(new(big.Rat).SetFrac64(int64(num), int64(den))) != 0 {
						t.Fatalf("fractionOf(%v) = %d/%d, but %d/%d is simpler", r, num, den, p, q)
					}
				}
			}
		}
	}
}

func TestCeilFraction(t *testing.T) {
	// Against a search over every denominator up to a small limit.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		x := new(big.Rat).SetFrac64(rng.Int64N(1000)+1, rng.Int64N(100_000)+1001)
		const limit = 200
		got := ceilFraction(x, limit)
		var want *big.Rat
		for q := int64(1); q <= limit; q++ {
			// the least p/q ≥ x: p = ceil(x·q)
			xq := new(big.Rat).Mul(x, new(big.Rat).SetInt64(q))
			p := new(big.Int).Quo(xq.Num(), xq.Denom())
			if new(big.Rat).SetInt(p).Cmp(xq) < 0 {
				p.Add(p, big.NewInt(1))
			}
			c := new(big.Rat).SetFrac(p, big.NewInt(q))
			if want == nil || c.Cmp(want) < 0 {
				want = c
			}
		}
		if got.Cmp(want) != 0 {
			t.Fatalf("ceilFraction(%v, %d) = %v, want %v", x, limit, got, want)
		}
	}
}

func TestBreakerBucketSpill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A bucket whose packed word nears its capacity moves its counts to
		// wider ones, and the ratio still reads them all.
		b := NewBreaker(BreakerSettings{ConsecutiveFailures: math.MaxInt, FailureRatio: 0.5, MinCalls: 1})
		p, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		p.Done(nil) // starts bucket 0
		k := &b.buckets[0]
		k.n.Store((spillAfter-2)<<32 | 5)
		errFail := errors.New("fail")
		for range 3 {
			p, err := b.Allow()
			if err != nil {
				t.Fatal(err)
			}
			p.Done(errFail)
		}
		// The second failure made n spill.
		if k.n.Load() != oneCall|1 || k.calls.Load() != spillAfter || k.failures.Load() != 7 {
			t.Fatalf("packed %#x, spilled %d calls, %d failures", k.n.Load(), k.calls.Load(), k.failures.Load())
		}
		calls, failures := windowCounts(b, b.now())
		if calls != spillAfter+1 || failures != 8 {
			t.Fatalf("window holds %d calls, %d failures; want %d, 8", calls, failures, spillAfter+1)
		}
		if b.State() != Closed {
			t.Fatalf("state %v: 8 failures of 2^31+1 calls are below 0.5", b.State())
		}
		b.Reset()
		if calls, _ := windowCounts(b, b.now()); calls != 0 || k.calls.Load() != 0 {
			t.Fatalf("after Reset the window holds %d calls", calls)
		}
	})
}

func TestBreakerBucketSpillOnSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A success in the Closed state, which Done adds to its bucket by
		// the short way, spills a full bucket too.
		b := NewBreaker(BreakerSettings{ConsecutiveFailures: math.MaxInt, FailureRatio: 0.5, MinCalls: 1})
		done := func(err error) {
			t.Helper()
			p, e := b.Allow()
			if e != nil {
				t.Fatal(e)
			}
			p.Done(err)
		}
		done(nil) // starts bucket 0
		k := &b.buckets[0]
		k.n.Store((spillAfter-2)<<32 | 5)
		done(nil)
		if k.n.Load() != (spillAfter-1)<<32|5 || k.calls.Load() != 0 {
			t.Fatalf("packed %#x, spilled %d calls, before the bucket is full", k.n.Load(), k.calls.Load())
		}
		done(nil)
		if k.n.Load() != 0 || k.calls.Load() != spillAfter || k.failures.Load() != 5 {
			t.Fatalf("packed %#x, spilled %d calls, %d failures", k.n.Load(), k.calls.Load(), k.failures.Load())
		}
		done(nil)
		calls, failures := windowCounts(b, b.now())
		if calls != spillAfter+1 || failures != 5 {
			t.Fatalf("window holds %d calls, %d failures; want %d, 5", calls, failures, spillAfter+1)
		}
	})
}

func TestBreakerRefusesFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// What is left of the Open period in force, as it grows; 0 once a
		// probe could go, and in HalfOpen and Closed.
		b := NewBreaker(BreakerSettings{ConsecutiveFailures: 1, OpenFor: time.Second, MaxOpenFor: 3 * time.Second})
		errFail := errors.New("fail")
		check := func(want time.Duration) {
			t.Helper()
			if got := b.refusesFor(); got != want {
				t.Fatalf("refusesFor %v, want %v", got, want)
			}
		}
		check(0)
		b.Trip()
		check(time.Second)
		time.Sleep(400 * time.Millisecond)
		check(600 * time.Millisecond)
		time.Sleep(600 * time.Millisecond)
		check(0) // Open still, until a call or State moves it on
		for _, period := range []time.Duration{2 * time.Second, 3 * time.Second, 3 * time.Second} {
			p, err := b.Allow()
			if err != nil {
				t.Fatal(err)
			}
			check(0)
			p.Done(errFail)
			check(period)
			time.Sleep(period)
		}
		p, _ := b.Allow()
		p.Done(nil)
		check(0)
		b.Trip()
		check(time.Second)
	})
}
