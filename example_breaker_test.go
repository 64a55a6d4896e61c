package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backoff-go/backoff"
)

// A breaker around calls to a service: each call takes a permit and
// reports its result.
func ExampleBreaker() {
	b := backoff.NewBreaker(backoff.BreakerSettings{
		ConsecutiveFailures: 2,
		OnStateChange: func(from, to backoff.State) {
			fmt.Println("breaker:", from, "->", to)
		},
	})
	callService := func(healthy bool) error {
		if !healthy {
			return errors.New("service down")
		}
		return nil
	}
	for i, healthy := range []bool{true, false, false, true} {
		p, err := b.Allow()
		if err != nil {
			fmt.Println("call", i, "refused:", errors.Is(err, backoff.ErrCircuitOpen))
			continue
		}
		err = callService(healthy)
		p.Done(err)
		fmt.Println("call", i, "error:", err)
	}
	// Output:
	// call 0 error: <nil>
	// call 1 error: service down
	// breaker: closed -> open
	// call 2 error: service down
	// call 3 refused: true
}

// With MaxOpenFor, each probe that fails doubles the next Open period, so a
// long outage is probed rarely; a probe that succeeds closes the breaker and
// brings the period back to OpenFor.
func ExampleBreakerSettings_maxOpenFor() {
	clock := &stepClock{} // its After moves its time on: a wait passes at once
	b := backoff.NewBreaker(backoff.BreakerSettings{
		ConsecutiveFailures: 1,
		OpenFor:             time.Second,
		MaxOpenFor:          4 * time.Second,
		Clock:               clock,
	})
	p, _ := b.Allow()
	p.Done(errors.New("service down"))
	for _, healthy := range []bool{false, false, false, true} {
		_, err := b.Allow()
		var oe *backoff.OpenError
		if errors.As(err, &oe) {
			fmt.Println("refused, retry after", oe.RetryAfter)
			<-clock.After(oe.RetryAfter)
		}
		probe, _ := b.Allow()
		if healthy {
			probe.Done(nil)
		} else {
			probe.Done(errors.New("still down"))
		}
	}
	fmt.Println(b.State())
	// Output:
	// refused, retry after 1s
	// refused, retry after 2s
	// refused, retry after 4s
	// refused, retry after 4s
	// closed
}

// The zero Breaker is ready to use, with the default settings: a field of
// a struct needs no constructor.
func ExampleBreaker_zero() {
	var client struct {
		breaker backoff.Breaker
	}
	for range 5 {
		p, _ := client.breaker.Allow()
		p.Done(errors.New("service down"))
	}
	_, err := client.breaker.Allow()
	var oe *backoff.OpenError
	if errors.As(err, &oe) {
		fmt.Println(client.breaker.State(), "for", oe.RetryAfter.Round(time.Second))
	}
	// Output:
	// open for 30s
}

// Retry stops at once when the breaker opens.
func ExampleWithBreaker() {
	b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 3})
	err := backoff.Do(context.Background(), func(context.Context) error {
		return errors.New("service down")
	}, backoff.WithBreaker(b), backoff.WithMaxAttempts(10), backoff.WithStrategy(backoff.Fixed(0)))

	var e *backoff.Error
	if errors.As(err, &e) {
		fmt.Println("attempts:", e.Attempts)
	}
	fmt.Println("circuit open:", errors.Is(err, backoff.ErrCircuitOpen))
	fmt.Println("last error:", e.Err)
	// Output:
	// attempts: 3
	// circuit open: true
	// last error: service down
}

// A budget keeps retries under a share of the first attempts, across calls.
func ExampleBudget() {
	budget := backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.1, Burst: 2})
	for range 3 {
		err := backoff.Do(context.Background(), func(context.Context) error {
			return errors.New("service down")
		}, backoff.WithBudget(budget), backoff.WithMaxAttempts(3), backoff.WithStrategy(backoff.Fixed(0)))
		var e *backoff.Error
		errors.As(err, &e)
		fmt.Printf("%d attempts, stopped by %q, %.1f tokens left\n", e.Attempts, e.Reason, budget.Tokens())
	}
	// Output:
	// 3 attempts, stopped by "backoff: retries exhausted", 0.0 tokens left
	// 1 attempts, stopped by "backoff: retry budget exhausted", 0.1 tokens left
	// 1 attempts, stopped by "backoff: retry budget exhausted", 0.2 tokens left
}

// Build a preset once per service and pass the same value to every call, so
// that the calls share its breaker and budget.
func ExampleProduction() {
	policy := backoff.Production() // once, for the service

	get := func(path string) (string, error) {
		return backoff.Retry(context.Background(), func(context.Context) (string, error) {
			if path == "/missing" {
				return "", &backoff.StatusError{Code: 404}
			}
			return "hello", nil
		}, policy)
	}
	v, err := get("/greeting")
	fmt.Printf("%q %v\n", v, err)
	v, err = get("/missing")
	fmt.Printf("%q %v\n", v, err)
	// Output:
	// "hello" <nil>
	// "" backoff: permanent error after 1 attempt: HTTP status 404 Not Found
}
