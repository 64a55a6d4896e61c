// Quickstart retries an in-process flaky operation with each strategy of
// backoff, and prints for each the attempts and the waits it chose.
//
//	go run ./examples/quickstart
//
// The waits run on a virtual clock, so the whole tour takes milliseconds,
// and the jitter is drawn from a seeded generator, so the output is the same
// on every run.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/backoff-go/backoff"
)

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// strategies are the strategies of the tour, in order, with their names.
func strategies() []struct {
	name string
	s    backoff.Strategy
} {
	exp := backoff.Exponential{Initial: 200 * time.Millisecond, Multiplier: 2, Max: 30 * time.Second}
	return []struct {
		name string
		s    backoff.Strategy
	}{
		{"Fixed(1s)", backoff.Fixed(time.Second)},
		{"Linear{Initial: 500ms, Step: 500ms}", backoff.Linear{Initial: 500 * time.Millisecond, Step: 500 * time.Millisecond}},
		{"Exponential{Initial: 200ms}", exp},
		{"FullJitter(Exponential)", backoff.FullJitter(exp)},
		{"EqualJitter(Exponential)", backoff.EqualJitter(exp)},
		{"ProportionalJitter(Exponential, 0.2)", backoff.ProportionalJitter(exp, 0.2)},
		{"Decorrelated{Initial: 200ms, Max: 30s}", backoff.Decorrelated{Initial: 200 * time.Millisecond, Max: 30 * time.Second}},
		{"Classified{}", backoff.Classified{}},
	}
}

// run takes every strategy through the same flaky operation and writes what
// happened to w.
func run(w io.Writer) error {
	for i, st := range strategies() {
		clock := &virtualClock{now: time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)}
		start := clock.Now()
		op := &flakyOp{}
		// Retry draws Attempt.Random from math/rand/v2; drawing it from a
		// seeded generator instead makes every run print the same waits.
		rng := rand.New(rand.NewPCG(42, uint64(i)))
		seeded := backoff.StrategyFunc(func(a backoff.Attempt) (time.Duration, bool) {
			a.Random = rng.Float64()
			return st.s.Delay(a)
		})

		fmt.Fprintf(w, "%s\n", st.name)
		reply, err := backoff.Retry(context.Background(), op.call,
			backoff.WithStrategy(seeded),
			backoff.WithMaxAttempts(5),
			backoff.WithClock(clock),
			backoff.WithNotify(func(a backoff.Attempt, wait time.Duration) {
				fmt.Fprintf(w, "  attempt %d failed, %-9s  wait %-14v  (%v)\n", a.Number, a.Class, wait, a.Err)
			}),
		)
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		fmt.Fprintf(w, "  attempt %d succeeded after %v: %q\n\n", op.calls, clock.Now().Sub(start), reply)
	}
	return nil
}

// flakyOp is a model API that fails three times, each way a service can
// fail, before it answers.
type flakyOp struct {
	calls int
}

func (f *flakyOp) call(context.Context) (string, error) {
	f.calls++
	switch f.calls {
	case 1:
		return "", fmt.Errorf("read response: %w", io.ErrUnexpectedEOF) // Transient
	case 2:
		return "", &backoff.StatusError{Code: http.StatusTooManyRequests} // Temporary
	case 3:
		return "", fmt.Errorf("dial: %w", syscall.ECONNRESET) // Transient
	}
	return "Hello! How can I help?", nil
}

// virtualClock is a backoff.Clock on which every wait ends at once: After
// moves the clock on by d and returns a channel that already holds the new
// time. It is safe for concurrent use by multiple goroutines.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(max(d, 0))
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

var _ backoff.Clock = (*virtualClock)(nil)
