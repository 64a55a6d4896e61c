package backoff_test

import (
	"context"
	"fmt"
	"time"

	"github.com/backoff-go/backoff"
)

// A Limiter learns a service's limit from its throttles: until the first
// one nothing is paced; a 429 cuts the concurrency and starts pacing, and
// successes win them back.
func ExampleLimiter() {
	l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 10})
	fmt.Println("concurrency", l.Concurrency(), "rate", l.Rate())

	s, err := l.Acquire(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Done(&backoff.StatusError{Code: 429, RetryAfter: time.Second}, 20*time.Millisecond)
	fmt.Println("after a 429: concurrency", l.Concurrency(), "paced:", l.Rate() < 1e9)
	// Output:
	// concurrency 10 rate +Inf
	// after a 429: concurrency 7 paced: true
}

// Acquire waits on the Limiter's clock, and gives up when the context ends.
func ExampleLimiter_Acquire() {
	l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 1})
	held, _ := l.Acquire(context.Background())

	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(fmt.Errorf("shutting down"))
	_, err := l.Acquire(ctx)
	fmt.Println(err)
	held.Done(nil, time.Millisecond)
	// Output:
	// shutting down
}
