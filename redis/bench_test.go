package redis_test

import (
	"context"
	"testing"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/redis"
)

// The hot paths of the shared objects against the local ones they wrap,
// in the same run, with Redis live and the rounds going on: interleave
// with -count and compare medians (the shared path is the local one, so
// the ratio is what the background rounds cost the callers).

func benchSettings(b *testing.B) redis.Settings {
	if addr == "" {
		b.Skip(noRedis)
	}
	c := client(b, addr)
	return redis.Settings{Client: c, Prefix: "bench:" + b.Name() + ":"}
}

func benchLimiter(b *testing.B, l *backoff.Limiter) {
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := l.Acquire(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			s.Done(nil, 0)
		}
	})
}

func BenchmarkAcquireDone(b *testing.B) {
	ls := backoff.LimiterSettings{MaxConcurrency: 1024}
	b.Run("local", func(b *testing.B) { benchLimiter(b, backoff.NewLimiter(ls)) })
	b.Run("shared", func(b *testing.B) {
		l := redis.NewLimiter("api", ls, benchSettings(b))
		defer l.Close()
		benchLimiter(b, l.Limiter)
	})
}

func benchBreaker(b *testing.B, br *backoff.Breaker) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := br.Allow()
			if err != nil {
				b.Error(err)
				return
			}
			p.Done(nil)
		}
	})
}

func BenchmarkAllowDone(b *testing.B) {
	bs := backoff.BreakerSettings{}
	b.Run("local", func(b *testing.B) { benchBreaker(b, backoff.NewBreaker(bs)) })
	b.Run("shared", func(b *testing.B) {
		br := redis.NewBreaker("api", bs, benchSettings(b))
		defer br.Close()
		benchBreaker(b, br.Breaker)
	})
}

func benchBudget(b *testing.B, bu *backoff.Budget) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bu.Deposit()
			bu.TryWithdraw()
		}
	})
}

func BenchmarkTryWithdraw(b *testing.B) {
	// Ratio 1: every first attempt pays for a retry, so TryWithdraw
	// mostly succeeds and the token count keeps moving.
	bs := backoff.BudgetSettings{Ratio: 1, Burst: 1000}
	b.Run("local", func(b *testing.B) { benchBudget(b, backoff.NewBudget(bs)) })
	b.Run("shared", func(b *testing.B) {
		bu := redis.NewBudget("api", bs, benchSettings(b))
		defer bu.Close()
		benchBudget(b, bu.Budget)
	})
}
