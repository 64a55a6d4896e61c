package backoff_test

import (
	"context"
	"fmt"
	"time"

	"github.com/backoff-go/backoff"
)

// A Limiter learns a service's limit from its throttles: until the first
// one nothing is paced; a 429 starts pacing, and cuts the concurrency too
// when at least half of it was in use (else it was not what the server
// limits); successes win them back.
func ExampleLimiter() {
	l := backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: 4})
	fmt.Println("concurrency", l.Concurrency(), "rate", l.Rate())

	a, _ := l.Acquire(context.Background())
	b, _ := l.Acquire(context.Background())
	a.Done(&backoff.StatusError{Code: 429, RetryAfter: time.Second}, 20*time.Millisecond)
	b.Done(nil, 30*time.Millisecond)
	fmt.Println("after a 429 with 2 of 4 in use: concurrency", l.Concurrency(), "paced:", l.Rate() < 1e9)
	// Output:
	// concurrency 4 rate +Inf
	// after a 429 with 2 of 4 in use: concurrency 3 paced: true
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

// WithLimiter paces every attempt of Retry (and of Transport): here the
// limiter starts at 2 requests/s, so the second call waits half a second on
// its clock.
func ExampleWithLimiter() {
	clock := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := backoff.NewLimiter(backoff.LimiterSettings{InitialRate: 2, Clock: clock})
	for i := range 2 {
		err := backoff.Do(context.Background(), func(context.Context) error {
			fmt.Println("call", i, "at", clock.Now().Format("15:04:05.000"))
			return nil
		}, backoff.WithLimiter(l), backoff.WithClock(clock))
		if err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// call 0 at 00:00:00.000
	// call 1 at 00:00:00.500
}
