// Package llm classifies and paces the failures of OpenAI-compatible model
// APIs (OpenAI, z.ai and Zhipu BigModel, and servers that copy their error
// bodies), for [backoff.Retry] and [backoff.Transport].
//
// Such an API answers 429 for opposite reasons: a rate limit, which a wait
// fixes, and an exhausted balance or a locked account, which no wait fixes.
// backoff.Classify sees only the status; [Classify] reads the body and the
// headers, so that an account error costs one attempt, and [Delay] reads
// when a limit resets, so that a retry waits for it, or gives up at once
// when the reset comes after the deadline.
package llm

import "github.com/backoff-go/backoff"

// Options returns the options that make Retry and Transport understand an
// OpenAI-compatible API: [backoff.WithClassifier]([Classify]) and
// [backoff.WithServerDelay]([Delay]). Give it after a preset, as in
// backoff.NewClient(backoff.Production(), llm.Options()).
//
// It sets no strategy, attempts, breaker or budget: those are the preset's
// (or the caller's) choice, and an option here would silently replace them.
// The server's waits need none of those: Delay makes them a floor under
// whatever the strategy chooses, as Retry-After is. As a usage limit can
// reset hours away, give requests a deadline (a context or
// http.Client.Timeout): Retry then stops at once with backoff.ErrDeadline,
// rather than waiting, when the reset comes after it. Without a deadline
// Retry waits until the reset (at most 24 hours).
//
// The Option is an immutable value, safe for concurrent use and reuse.
func Options() backoff.Option {
	return backoff.Options(
		backoff.WithClassifier(Classify),
		backoff.WithServerDelay(Delay),
	)
}
