package sim

import (
	"sync"
	"time"
)

// Clock is a backoff.Clock whose time moves only when the simulation sets it:
// Now is the epoch plus the simulated time, and a channel from After receives
// once Set has moved the time to or past its deadline. It is safe for
// concurrent use by multiple goroutines, though a simulation drives it from
// one.
type Clock struct {
	epoch time.Time

	mu      sync.Mutex // protects now and waiters
	now     time.Duration
	waiters []waiter
}

type waiter struct {
	at time.Duration
	ch chan time.Time
}

// NewClock returns a Clock at simulated time 0, which Now reports as epoch.
func NewClock(epoch time.Time) *Clock {
	return &Clock{epoch: epoch}
}

// Now returns the epoch plus the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch.Add(c.now)
}

// Elapsed returns the simulated time.
func (c *Clock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the clock's time once Set has moved
// it d or more past now; at once when d ≤ 0.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		ch <- c.epoch.Add(c.now)
		return ch
	}
	at := c.now + d
	if at < c.now { // saturate rather than wrap into the past
		at = 1<<63 - 1
	}
	c.waiters = append(c.waiters, waiter{at: at, ch: ch})
	return ch
}

// Set moves the simulated time to t, which must not be earlier than the
// current time, and fires every After whose deadline has come.
func (c *Clock) Set(t time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t < c.now {
		panic("sim: Clock.Set: time moved backwards")
	}
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at <= t {
			w.ch <- c.epoch.Add(t) // buffered, and sent once: never blocks
			continue
		}
		kept = append(kept, w)
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}
