package backoff

import "time"

// Development is a policy for local runs and tests against a development
// service: 3 attempts with Exponential{Initial: 100ms} (waits of 100ms, then
// 200ms, without jitter, so that runs repeat), and no breaker or budget:
// it turns off any that an earlier option set.
func Development() Option {
	return Options(
		WithMaxAttempts(3),
		WithStrategy(Exponential{Initial: 100 * time.Millisecond}),
		WithBreaker(nil),
		WithBudget(nil),
	)
}

// Production is a policy for a service's calls to another service: 4
// attempts with Classified{Transient: FullJitter(Exponential{Initial: 200ms,
// Max: 30s})} (so a rate limit gets steady 1s waits, or what the server
// asks for), a new Breaker with default settings and a new Budget with
// default settings.
//
// Each call of Production builds a new breaker and budget, and one Option
// value shares them among all the calls it is given to: build it once per
// service, and pass that value to every call to the service.
func Production() Option {
	return Options(
		WithMaxAttempts(4),
		WithStrategy(Classified{Transient: FullJitter(Exponential{Initial: 200 * time.Millisecond, Max: 30 * time.Second})}),
		WithBreaker(NewBreaker(BreakerSettings{})),
		WithBudget(NewBudget(BudgetSettings{})),
	)
}

// Edge is a policy for calls on a user's critical path, where a slow answer
// is as bad as none: 2 attempts with FullJitter(Exponential{Initial: 500ms,
// Max: 30s}), a new Breaker with default settings, and no budget (it turns
// off one that an earlier option set).
//
// Each call of Edge builds a new breaker, and one Option value shares it
// among all the calls it is given to: build it once per service.
func Edge() Option {
	return Options(
		WithMaxAttempts(2),
		WithStrategy(FullJitter(Exponential{Initial: 500 * time.Millisecond, Max: 30 * time.Second})),
		WithBreaker(NewBreaker(BreakerSettings{})),
		WithBudget(nil),
	)
}
