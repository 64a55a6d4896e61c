package backoff_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/backoff-go/backoff"
)

// stepClock is a fake Clock whose waits end at once: After moves its time
// forward. It keeps the example instant and its output exact.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// One Adaptive per service, shared by every call to it: an outage that one
// caller meets makes the other wait longer too, and quick successes bring
// the waits back down for both.
func ExampleAdaptive_shared() {
	service := backoff.NewAdaptive(backoff.AdaptiveSettings{}) // Min 10ms, Max 5s, Initial 100ms
	policy := backoff.Options(
		backoff.WithStrategy(service),
		backoff.WithMaxAttempts(3),
		backoff.WithClock(&stepClock{}),
	)
	notify := func(caller string) backoff.Option {
		return backoff.WithNotify(func(a backoff.Attempt, wait time.Duration) {
			fmt.Printf("%s: attempt %d failed, waiting %v\n", caller, a.Number, wait)
		})
	}
	ctx := context.Background()
	overloaded := &backoff.StatusError{Code: 503}

	// Caller A meets an outage.
	err := backoff.Do(ctx, func(context.Context) error { return overloaded }, policy, notify("A"))
	fmt.Println("A:", err)
	fmt.Printf("base %v, error rate %.2f\n", service.Base(), service.ErrorRate())

	// Caller B fails once and then gets through; its first wait is long
	// because of what A saw.
	calls := 0
	err = backoff.Do(ctx, func(context.Context) error {
		if calls++; calls == 1 {
			return overloaded
		}
		return nil
	}, policy, notify("B"))
	fmt.Println("B:", err)
	fmt.Printf("base %v, error rate %.2f\n", service.Base(), service.ErrorRate())

	// The service has recovered: quick successes halve the base each time.
	for range 5 {
		_ = backoff.Do(ctx, func(context.Context) error { return nil }, policy)
	}
	fmt.Printf("base %v, error rate %.2f\n", service.Base(), service.ErrorRate())

	// Output:
	// A: attempt 1 failed, waiting 400ms
	// A: attempt 2 failed, waiting 1.6s
	// A: backoff: retries exhausted after 3 attempts: HTTP status 503 Service Unavailable
	// base 800ms, error rate 1.00
	// B: attempt 1 failed, waiting 3.2s
	// B: <nil>
	// base 800ms, error rate 0.80
	// base 25ms, error rate 0.40
}
