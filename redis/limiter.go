package redis

import (
	"context"
	"math"

	"github.com/backoff-go/backoff"
)

// Limiter is a [backoff.Limiter] whose rate and concurrency are the
// fleet's: MaxConcurrency, MinConcurrency and InitialRate count for the
// whole fleet, which learns one rate and one concurrency from the outcomes
// of every replica, with the same rules as a local Limiter (CUBIC for the
// rate, AIMD for the concurrency). A throttle seen by any replica cuts the
// fleet's rate, at most once a Period.
//
// Each replica holds a lease on a share of them, the fleet's values
// divided among the replicas seen lately, renewed twice a Period; between
// renewals its local Limiter reacts at once to its own throttles, as a local
// one does. Acquire and Slot.Done are the local Limiter's: no round trip,
// and no allocation with a free slot.
//
// Until its first round (at once, in the background) a replica runs on the
// fleet's settings alone, as a local Limiter would. While Redis is away the
// local Limiter goes on learning alone, from the share it last held.
//
// Pass Limiter.Limiter to [backoff.WithLimiter]. Close stops its goroutine.
// A Limiter is safe for concurrent use by multiple goroutines.
type Limiter struct {
	*backoff.Limiter
	loop *loop
	// The loop's own: the local stats at the last round that succeeded,
	// and the fleet's cuts then.
	last backoff.LimiterStats
	cuts int64
}

// NewLimiter returns the Limiter named key of the fleet that s describes,
// with the fleet's settings ls (its Clock, if any, is the local Limiter's:
// the fleet's time is Redis's). It panics, as [backoff.NewLimiter] does, on
// bad settings, and when s has no Client. It does not wait for Redis.
func NewLimiter(key string, ls backoff.LimiterSettings, s Settings) *Limiter {
	s = s.filled("NewLimiter")
	l := &Limiter{Limiter: backoff.NewLimiter(ls)}
	l.last = l.Stats()
	// The fleet's constants, with the local Limiter's defaults.
	def := func(v, d float64) float64 {
		if v == 0 {
			return d
		}
		return v
	}
	maxC := ls.MaxConcurrency
	if maxC == 0 {
		maxC = l.Concurrency()
	}
	minC := max(ls.MinConcurrency, 1)
	consts := []any{
		def(ls.Beta, 0.7), def(ls.Scale, 0.02), def(ls.MinRate, 0.5),
		maxC, minC, def(ls.Increase, 1), ls.InitialRate, def(ls.Smooth, 0.8),
	}
	keys := s.keys("limiter", key)
	l.loop = startLoop(s, key, func(ctx context.Context) error {
		return l.round(ctx, s, keys, consts)
	})
	return l
}

func (l *Limiter) round(ctx context.Context, s Settings, keys []string, consts []any) error {
	st := l.Stats()
	saturated := 0
	if 2*st.InUse >= st.Concurrency {
		saturated = 1
	}
	args := s.args(st.Cuts-l.last.Cuts, st.Finished-l.last.Finished, saturated)
	own := st.Rate
	if math.IsInf(own, 1) {
		own = 0
	}
	args = append(append(args, consts...), l.cuts, own)
	v, err := limiterScript.Run(ctx, s.Client, keys, args...).Result()
	if err != nil {
		return err // the counts since l.last are handed over next time
	}
	r, err := ints(v, 4)
	if err != nil {
		return err
	}
	l.last, l.cuts = st, int64(r[3])
	n := max(r[2], 1)
	rate := r[0] / n
	if r[0] == 0 {
		rate = 0 // the fleet is unpaced: the local rate stays as it is
	}
	l.Impose(rate, max(int(math.Floor(r[1]/n)), 1))
	return nil
}

// Close stops the Limiter's goroutine and waits for it to end. The Limiter
// goes on working on its local state.
func (l *Limiter) Close() { l.loop.close() }
