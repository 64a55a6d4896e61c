package backoff

import (
	"math"
	"time"
)

// LimiterStats is what a [Limiter] has seen so far, for state shared beyond
// one process (module github.com/backoff-go/backoff/redis). The counters
// only grow, modulo 2³²: a reader keeps the last value and takes differences.
type LimiterStats struct {
	Cuts        uint32  // throttles that cut the concurrency and the rate (at most one per round)
	Finished    uint32  // calls finished (Slot.Done, and slots given back)
	InUse       int     // slots held now
	Concurrency int     // as Concurrency
	Rate        float64 // as Rate: requests/s, +Inf while unpaced
}

// Stats returns what the Limiter has seen so far. It takes the Limiter's
// lock only for the rate, and reads every slot's counter: call it now and
// then (once a period), not per call.
func (l *Limiter) Stats() LimiterStats {
	var finished uint32
	for i := range l.slots {
		finished += l.slots[i].gen()
	}
	_, inUse, _ := unpackHead(l.head.Load())
	return LimiterStats{
		Cuts:        l.epoch.Load(),
		Finished:    finished,
		InUse:       int(inUse),
		Concurrency: l.Concurrency(),
		Rate:        l.Rate(),
	}
}

// Impose sets the learned concurrency and rate from outside: a fleet's
// share, learned from every replica's throttles (module
// github.com/backoff-go/backoff/redis). The Limiter goes on learning from
// there: a throttle cuts what was imposed, successes raise it. The
// concurrency is kept within [MinConcurrency, MaxConcurrency]; a rate of 0,
// NaN or +Inf leaves the rate as it is, and any other is kept at or above
// MinRate. The rate is put on the plateau of the CUBIC curve, as
// InitialRate is: it holds there, then probes upwards while calls succeed.
// Waiters that a higher concurrency lets go are woken.
func (l *Limiter) Impose(rate float64, concurrency int) {
	t := l.now()
	l.mu.Lock()
	c := min(max(concurrency, l.s.MinConcurrency), l.s.MaxConcurrency)
	raised := int64(c) > l.limit.Load()
	l.conc = float64(c)
	l.limit.Store(int64(c))
	if rate > 0 && !math.IsInf(rate, 0) {
		wasPaced := l.rate > 0
		rate = max(rate, l.s.MinRate)
		l.wmax = rate
		l.k = l.cubicK(rate)
		l.cut = t - int64(l.k*float64(time.Second))
		l.setRate(rate)
		if !wasPaced {
			l.tat.Store(t) // pacing starts now: nothing is owed from before
		}
		l.update.Store(t + int64(updateEvery))
	}
	l.mu.Unlock()
	if raised {
		l.wake()
	}
}
