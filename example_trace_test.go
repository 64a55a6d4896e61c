package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/backoff-go/backoff"
)

// withoutTime drops the time from slog's records, so that the output can be
// compared.
func withoutTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

// SlogTrace logs each retry and each give-up as one structured record.
func ExampleSlogTrace() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: withoutTime}))
	trace := backoff.SlogTrace(logger)

	attempts := 0
	_, err := backoff.Retry(context.Background(), func(context.Context) (string, error) {
		attempts++
		if attempts == 1 {
			return "", &backoff.StatusError{Code: 503}
		}
		return "", errors.New("connection reset")
	}, backoff.WithStrategy(backoff.Fixed(time.Millisecond)), backoff.WithMaxAttempts(2), backoff.WithTrace(trace))
	fmt.Println(err != nil)
	// Output:
	// level=INFO msg="backoff: retrying" attempt=1 wait=1ms class=temporary status=503 error="backoff: HTTP status 503 Service Unavailable"
	// level=WARN msg="backoff: giving up" attempts=2 reason=exhausted error="connection reset"
	// true
}

// ContextWithTrace traces one call, wherever its options come from: here
// only the attempts are counted.
func ExampleContextWithTrace() {
	started := 0
	ctx := backoff.ContextWithTrace(context.Background(), &backoff.Trace{
		AttemptStart: func(a backoff.TraceAttempt) { started++ },
		Done: func(attempts int, err error) {
			fmt.Println("attempts:", attempts, "error:", err)
		},
	})
	n := 0
	err := backoff.Do(ctx, func(context.Context) error {
		n++
		if n < 3 {
			return errors.New("flaky")
		}
		return nil
	}, backoff.WithStrategy(backoff.Fixed(0)))
	fmt.Println(started, err)
	// Output:
	// attempts: 3 error: <nil>
	// 3 <nil>
}
