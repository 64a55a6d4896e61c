package backoff

import "time"

// WithServerDelay adds f to what [Retry] reads of the wait a server asked
// for. Retry always reads [RetryAfter] marks and [StatusError.RetryAfter];
// f can read more, such as a vendor's rate-limit headers or the reset time
// in an error body (llm.Delay does both), and Retry then waits at least the
// larger of the two. As with any server-requested wait, a wait that would
// end past the context's deadline or past [WithMaxElapsed] stops Retry at
// once with [ErrDeadline], before sleeping.
//
// Retry calls f once per failed attempt that it will retry, with the
// attempt's error and the time on the Retry's clock; a negative result
// counts as 0. A classifier returns only a class, which is why the wait has
// a hook of its own. f must be safe for concurrent use. nil means none (the
// default), and turns off one set by an earlier option.
func WithServerDelay(f func(err error, now time.Time) time.Duration) Option {
	return Option{kind: optServerDelay, val: f}
}
