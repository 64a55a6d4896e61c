package redis

import (
	"context"
	"time"

	"github.com/backoff-go/backoff"
)

// Breaker is a [backoff.Breaker] whose state is the fleet's. A replica
// whose breaker opens publishes the open state, with its deadline, and
// becomes the fleet's prober; every other replica opens within one Period,
// until that deadline, and stays Open past it while the prober's probes
// run, so that the fleet sends no more than HalfOpenProbes probes per Open
// period, as one breaker would. When the prober's probes close its breaker,
// the close spreads the same way; when one fails, its new Open period
// spreads. A prober that goes silent loses its turn to another replica
// after its Open period, OpenFor and two Periods.
//
// The hold on a replica that is not the prober is a lease: it lasts one
// Period past its Open deadline and is renewed at every round, so that
// while Redis is away the replica falls back, within one Period, to its own
// breaker, which then probes on its own.
//
// Allow and Permit.Done are the local Breaker's: no round trip, and in the
// Closed state no lock and no allocation. The local breaker's
// OnStateChange (and a Trace's BreakerState) sees the changes the fleet
// makes, as any other.
//
// Pass Breaker.Breaker to [backoff.WithBreaker]. Close stops its goroutine.
// A Breaker is safe for concurrent use by multiple goroutines.
type Breaker struct {
	*backoff.Breaker
	loop *loop
	seen backoff.BreakerStatus // the local status after the last round; the loop's own
	gen  int64                 // the fleet's generation at the last round; -1 before any
}

// NewBreaker returns the Breaker named key of the fleet that s describes,
// with settings bs. It panics, as [backoff.NewBreaker] does, on bad
// settings, and when s has no Client. It does not wait for Redis.
func NewBreaker(key string, bs backoff.BreakerSettings, s Settings) *Breaker {
	s = s.filled("NewBreaker")
	b := &Breaker{Breaker: backoff.NewBreaker(bs), gen: -1}
	b.seen = b.Status()
	keys := s.keys("breaker", key)
	b.loop = startLoop(s, key, func(ctx context.Context) error {
		return b.round(ctx, s, keys)
	})
	return b
}

// The events a round publishes.
const (
	evNone   = 0
	evOpened = 1
	evClosed = 2
)

func (b *Breaker) round(ctx context.Context, s Settings, keys []string) error {
	st := b.Status()
	ev := evNone
	if st.Gen != b.seen.Gen {
		switch {
		case st.State == backoff.Open:
			ev = evOpened
		case st.State == backoff.Closed && b.seen.State != backoff.Closed:
			ev = evClosed
		}
	}
	args := s.args(ev, st.OpenLeft.Milliseconds(), b.OpenFor().Milliseconds())
	v, err := breakerScript.Run(ctx, s.Client, keys, args...).Result()
	if err != nil {
		// The event is published at the next round that succeeds; the
		// hold lapses on its own.
		return err
	}
	r, err := ints(v, 4)
	if err != nil {
		return err
	}
	gen, open, left, prober := int64(r[0]), r[1] == 1, time.Duration(r[2])*time.Millisecond, r[3] == 1
	changed := gen != b.gen
	b.gen = gen
	switch {
	case open && prober:
		// The prober runs on its own breaker: it opened it itself, or it
		// takes over from a silent prober, whose Open period has passed.
		if st.State == backoff.Closed || (st.State == backoff.Open && left <= 0 && st.OpenLeft > 0) {
			st, _ = b.Hold(st.Gen, backoff.Open, max(left, 0))
		}
	case open:
		// Renewed at every round, two a Period: the lease never lapses
		// while rounds succeed.
		st, _ = b.Hold(st.Gen, backoff.Open, max(left, 0)+s.Period)
	case changed && st.State != backoff.Closed:
		st, _ = b.Hold(st.Gen, backoff.Closed, 0)
	}
	b.seen = st
	return nil
}

// Close stops the Breaker's goroutine and waits for it to end. The Breaker
// goes on working on its local state.
func (b *Breaker) Close() { b.loop.close() }
