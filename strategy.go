package backoff

import "time"

// Attempt is what a [Strategy] sees when [Retry] plans the next wait.
// It describes one call's progress; the strategy itself keeps no per-call state.
// Retry waits at least After whatever the strategy returns; a strategy reads
// it to pace itself by the server, as [Classified]'s default Temporary does.
// An Attempt is a plain value, safe to share between goroutines.
type Attempt struct {
	Number int           // attempts that have failed so far: 1 when planning the first retry
	Err    error         // what the last attempt returned
	Class  Class         // Err's class, as the Retry's classifier saw it
	Prev   time.Duration // the wait before the last attempt; 0 when planning the first retry
	Random float64       // uniform in [0,1), drawn by Retry for this attempt
	After  time.Duration // the least wait the server asked for (RetryAfter, StatusError); 0: none
}

// Strategy decides how long to wait before the next attempt.
//
// A Strategy is a pure function of the [Attempt]: it keeps no per-call state,
// so one value serves any number of concurrent calls, and its randomness comes
// from [Attempt.Random], which makes it deterministic under test. Every
// strategy in this package is safe for concurrent use by multiple goroutines.
type Strategy interface {
	// Delay returns the wait before the next attempt, and false to stop retrying.
	Delay(a Attempt) (time.Duration, bool)
}

// StrategyFunc adapts an ordinary function to [Strategy].
// It is as safe for concurrent use as the function it wraps.
type StrategyFunc func(a Attempt) (time.Duration, bool)

// Delay calls f(a).
func (f StrategyFunc) Delay(a Attempt) (time.Duration, bool) { return f(a) }

// Observer is implemented by strategies that learn from outcomes, such as
// [Adaptive]. [Retry] tells an Observer strategy the outcome of every attempt,
// successes included.
// An Observer is told outcomes from many calls at once, so it must be safe
// for concurrent use by multiple goroutines.
type Observer interface {
	Observe(o Outcome)
}

// Outcome is the result of one attempt, as reported to an [Observer].
// An Outcome is a plain value, safe to share between goroutines.
type Outcome struct {
	Err     error         // nil for a success
	Latency time.Duration // how long the attempt took
}
