package backoff_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
)

var sinkErr error

// succeed is called through a variable so that neither Retry nor the
// hand-written loop can inline it away.
var succeed = func(context.Context) (int, error) { return 1, nil }

func BenchmarkRetrySuccess(b *testing.B) {
	ctx := context.Background()
	op := succeed
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = backoff.Retry(ctx, op)
	}
}

var errFlaky = errors.New("flaky")

func BenchmarkRetryFailTwice(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_, sinkErr = backoff.Retry(ctx, func(context.Context) (int, error) {
			n++
			if n < 3 {
				return 0, errFlaky
			}
			return n, nil
		}, backoff.WithStrategy(backoff.Fixed(0)), backoff.WithMaxAttempts(3))
	}
}

// handRetry is the loop a careful programmer would write by hand for the
// default policy: up to 4 attempts, a classifier, a jittered exponential wait
// and a timer that stops on cancellation.
//
//go:noinline
func handRetry(ctx context.Context, op func(context.Context) (int, error), wait backoff.Strategy) (int, error) {
	var err error
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		var v int
		v, err = op(ctx)
		if err == nil {
			return v, nil
		}
		if backoff.Classify(err) == backoff.Permanent || n == 4 {
			return 0, err
		}
		d, _ := wait.Delay(backoff.Attempt{Number: n, Err: err, Random: rand.Float64()})
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			}
		}
	}
}

func BenchmarkHandLoopSuccess(b *testing.B) {
	ctx := context.Background()
	s := backoff.FullJitter(backoff.Exponential{Initial: 200 * time.Millisecond, Max: 30 * time.Second})
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = handRetry(ctx, succeed, s)
	}
}

func BenchmarkHandLoopFailTwice(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_, sinkErr = handRetry(ctx, func(context.Context) (int, error) {
			n++
			if n < 3 {
				return 0, errFlaky
			}
			return n, nil
		}, backoff.Fixed(0))
	}
}
