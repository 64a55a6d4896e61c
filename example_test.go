package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/backoff-go/backoff"
)

// A call that fails twice and then succeeds. Fixed(0) makes the example run
// at once; a real service would use the default jittered exponential waits.
func ExampleRetry() {
	calls := 0
	reply, err := backoff.Retry(context.Background(), func(ctx context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", fmt.Errorf("call %d: %w", calls, errors.New("connection reset by peer"))
		}
		return "Hello from the model", nil
	},
		backoff.WithStrategy(backoff.Fixed(0)),
		backoff.WithNotify(func(a backoff.Attempt, wait time.Duration) {
			fmt.Printf("attempt %d failed (%v, %v); retrying in %v\n", a.Number, a.Err, a.Class, wait)
		}),
	)
	fmt.Println(reply, err)
	// Output:
	// attempt 1 failed (call 1: connection reset by peer, transient); retrying in 0s
	// attempt 2 failed (call 2: connection reset by peer, transient); retrying in 0s
	// Hello from the model <nil>
}

// When every attempt fails, the error says why Retry stopped and keeps the
// last attempt's error reachable.
func ExampleDo_exhausted() {
	errBusy := errors.New("backend busy")
	err := backoff.Do(context.Background(), func(context.Context) error { return errBusy },
		backoff.WithStrategy(backoff.Fixed(0)), backoff.WithMaxAttempts(3))

	fmt.Println(err)
	fmt.Println(errors.Is(err, backoff.ErrExhausted), errors.Is(err, errBusy))
	var rerr *backoff.Error
	if errors.As(err, &rerr) {
		fmt.Println("attempts:", rerr.Attempts)
	}
	// Output:
	// backoff: retries exhausted after 3 attempts: backend busy
	// true true
	// attempts: 3
}

// An error marked Permanent stops Retry after the attempt that returned it.
func ExampleMark() {
	errBadKey := errors.New("invalid API key")
	calls := 0
	err := backoff.Do(context.Background(), func(context.Context) error {
		calls++
		return backoff.Mark(fmt.Errorf("POST /chat/completions: %w", errBadKey), backoff.Permanent)
	})

	fmt.Println("calls:", calls)
	fmt.Println(err)
	fmt.Println(errors.Is(err, backoff.ErrPermanent), errors.Is(err, errBadKey))
	// Output:
	// calls: 1
	// backoff: permanent error after 1 attempt: POST /chat/completions: invalid API key
	// true true
}

// Classify knows the errors of net/http, context and io; marks override it.
func ExampleClassify() {
	for _, err := range []error{
		errors.New("connection reset by peer"),
		context.Canceled,
		context.DeadlineExceeded,
		&backoff.StatusError{Code: http.StatusTooManyRequests},
		&backoff.StatusError{Code: http.StatusBadGateway},
		&backoff.StatusError{Code: http.StatusUnauthorized},
		backoff.RetryAfter(2*time.Second, errors.New("slow down")),
		fmt.Errorf("wrapped: %w", backoff.Mark(errors.New("quota gone"), backoff.Permanent)),
	} {
		fmt.Printf("%-58v %v\n", err, backoff.Classify(err))
	}
	// Output:
	// connection reset by peer                                   transient
	// context canceled                                           permanent
	// context deadline exceeded                                  transient
	// backoff: HTTP status 429 Too Many Requests                 temporary
	// backoff: HTTP status 502 Bad Gateway                       transient
	// backoff: HTTP status 401 Unauthorized                      permanent
	// slow down                                                  temporary
	// wrapped: quota gone                                        permanent
}

// A custom classifier that knows the service's own errors, and leaves the
// rest to Classify.
func ExampleWithClassifier() {
	errContextTooLong := errors.New("model: context length exceeded")
	classify := func(err error) backoff.Class {
		if errors.Is(err, errContextTooLong) {
			return backoff.Permanent // the same prompt will never fit
		}
		if strings.Contains(err.Error(), "overloaded") {
			return backoff.Temporary
		}
		return backoff.Classify(err)
	}

	replies := []error{errors.New("model overloaded"), errors.New("connection reset"), errContextTooLong}
	calls := 0
	err := backoff.Do(context.Background(), func(context.Context) error {
		err := replies[calls]
		calls++
		return err
	},
		backoff.WithClassifier(classify),
		backoff.WithStrategy(backoff.Fixed(0)),
		backoff.WithMaxAttempts(10),
		backoff.WithNotify(func(a backoff.Attempt, _ time.Duration) {
			fmt.Printf("attempt %d: %v (%v)\n", a.Number, a.Err, a.Class)
		}),
	)
	fmt.Println(err)
	// Output:
	// attempt 1: model overloaded (temporary)
	// attempt 2: connection reset (transient)
	// backoff: permanent error after 3 attempts: model: context length exceeded
}

// Retry draws Attempt.Random itself; fixing it shows what each jitter does
// to the exponential waits 1s, 2s, 4s, 8s.
func ExampleFullJitter() {
	exp := backoff.Exponential{Initial: time.Second, Max: time.Minute}
	full := backoff.FullJitter(exp)
	equal := backoff.EqualJitter(exp)
	prop := backoff.ProportionalJitter(exp, 0.5)
	for _, r := range []float64{0, 0.25, 0.5, 0.75} {
		fmt.Printf("Random %.2f:", r)
		for n := 1; n <= 4; n++ {
			a := backoff.Attempt{Number: n, Random: r}
			f, _ := full.Delay(a)
			e, _ := equal.Delay(a)
			p, _ := prop.Delay(a)
			fmt.Printf("  %v/%v/%v", f, e, p)
		}
		fmt.Println()
	}
	// Output:
	// Random 0.00:  0s/500ms/500ms  0s/1s/1s  0s/2s/2s  0s/4s/4s
	// Random 0.25:  250ms/625ms/750ms  500ms/1.25s/1.5s  1s/2.5s/3s  2s/5s/6s
	// Random 0.50:  500ms/750ms/1s  1s/1.5s/2s  2s/3s/4s  4s/6s/8s
	// Random 0.75:  750ms/875ms/1.25s  1.5s/1.75s/2.5s  3s/3.5s/5s  6s/7s/10s
}

// Decorrelated grows each wait from the previous one: with Random 0.5 every
// wait is halfway between Initial and three times the last wait, under Max.
func ExampleDecorrelated() {
	d := backoff.Decorrelated{Initial: time.Second, Max: 20 * time.Second}
	var prev time.Duration
	for n := 1; n <= 6; n++ {
		wait, _ := d.Delay(backoff.Attempt{Number: n, Prev: prev, Random: 0.5})
		fmt.Println(wait)
		prev = wait
	}
	// Output:
	// 2s
	// 3.5s
	// 5.75s
	// 9.125s
	// 10.5s
	// 10.5s
}

// Classified picks the waits by the class of the error.
func ExampleClassified() {
	s := backoff.Classified{
		Transient: backoff.Exponential{Initial: 100 * time.Millisecond},
		Temporary: backoff.Fixed(5 * time.Second),
	}
	for _, c := range []backoff.Class{backoff.Transient, backoff.Temporary, backoff.Permanent} {
		wait, ok := s.Delay(backoff.Attempt{Number: 3, Class: c})
		fmt.Println(c, wait, ok)
	}
	// Output:
	// transient 400ms true
	// temporary 5s true
	// permanent 0s false
}

func ExampleParseRetryAfter() {
	now := time.Date(2026, time.November, 28, 13, 0, 0, 0, time.UTC)
	for _, h := range []http.Header{
		{"Retry-After": {"120"}},
		{"Retry-After": {"Sat, 28 Nov 2026 13:00:30 GMT"}},
		{"Retry-After": {"Sat, 28 Nov 2026 12:00:00 GMT"}}, // in the past
		{"Retry-After": {"120"}, "Retry-After-Ms": {"1500.5"}},
		{"Retry-After": {"1.5"}},    // junk
		{"Retry-After": {"999999"}}, // over 24 hours
		{},
	} {
		d, ok := backoff.ParseRetryAfter(h, now)
		fmt.Println(d, ok)
	}
	// Output:
	// 2m0s true
	// 30s true
	// 0s true
	// 1.5005s true
	// 0s false
	// 0s false
	// 0s false
}
