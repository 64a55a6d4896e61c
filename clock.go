package backoff

import "time"

// Clock is the source of time for everything in this package that waits or
// measures: [Retry] (through [WithClock]) and [Breaker] (through
// [BreakerSettings].Clock). A nil Clock means the real clock.
//
// The fake clocks that Go services already use in tests,
// github.com/jonboulle/clockwork's and github.com/benbjohnson/clock's,
// satisfy Clock as they are. With the real clock, everything also runs inside
// testing/synctest bubbles, whose fake time drives the time package: the
// package keeps no package-level timers, channels or goroutines, and holds no
// lock across a wait.
//
// A Clock must be safe for concurrent use by multiple goroutines.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// now reads c, or the real clock when c is nil.
func now(c Clock) time.Time {
	if c == nil {
		return time.Now()
	}
	return c.Now()
}

// since is the time elapsed on c since t, never negative.
func since(c Clock, t time.Time) time.Duration {
	if c == nil {
		// time.Since uses the monotonic reading when t has one.
		return nonNegative(time.Since(t))
	}
	return nonNegative(c.Now().Sub(t))
}

func nonNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
