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
// Max: 30s})}, whose Temporary waits are paced by the server (what it asked
// for, plus up to 20%), a new service breaker (see below) and a new
// Budget{Ratio: 0.2, Burst: 10}.
//
// The budget's ratio is Finagle's: a service where one call in five meets a
// fault needs about 0.2 retries per call, which a 10% budget cannot cover,
// while retries still cannot more than add a fifth to the load of a service
// that is failing.
//
// The service breaker is BreakerSettings{FailureRatio: 0.5, MinCalls: 20,
// Window: 10s, ConsecutiveFailures: 10, OpenFor: 1s, MaxOpenFor: 30s}. It
// trips on a failure ratio, the rule of resilience4j and Polly, which
// independent faults do not reach; a run of 10 failures is the backstop for
// low traffic (faults that hit one call in five make such a run about once
// in ten million calls). It comes back one second after a short stall, and
// each failed probe doubles the next Open period up to 30s, so a long outage
// is probed rarely. Its default IsFailure does not count a 429, or an error
// with a server-requested wait: the service is up and said when to come
// back.
//
// Each call of Production builds a new breaker and budget, and one Option
// value shares them among all the calls it is given to: build it once per
// service, and pass that value to every call to the service.
func Production() Option {
	return Options(
		WithMaxAttempts(4),
		WithStrategy(Classified{Transient: FullJitter(Exponential{Initial: 200 * time.Millisecond, Max: 30 * time.Second})}),
		WithBreaker(serviceBreaker()),
		WithBudget(NewBudget(BudgetSettings{Ratio: 0.2, Burst: 10})),
	)
}

// Edge is a policy for calls on a user's critical path, where a slow answer
// is as bad as none: 2 attempts with FullJitter(Exponential{Initial: 500ms,
// Max: 30s}), a new service breaker, as in [Production], and no budget (it
// turns off one that an earlier option set): with one retry at most, retries
// can at most double the load, and the breaker stops them when the service
// fails.
//
// Each call of Edge builds a new breaker, and one Option value shares it
// among all the calls it is given to: build it once per service.
func Edge() Option {
	return Options(
		WithMaxAttempts(2),
		WithStrategy(FullJitter(Exponential{Initial: 500 * time.Millisecond, Max: 30 * time.Second})),
		WithBreaker(serviceBreaker()),
		WithBudget(nil),
	)
}

// serviceBreaker is the breaker of Production and Edge.
func serviceBreaker() *Breaker {
	return NewBreaker(BreakerSettings{
		FailureRatio:        0.5,
		MinCalls:            20,
		Window:              10 * time.Second,
		ConsecutiveFailures: 10,
		OpenFor:             time.Second,
		MaxOpenFor:          30 * time.Second,
	})
}
