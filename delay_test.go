package backoff_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

func TestWithServerDelay(t *testing.T) {
	errBusy := errors.New("busy")
	tests := []struct {
		name      string
		delay     func(error, time.Time) time.Duration
		err       error
		deadline  time.Duration // 0: none
		wantWaits []time.Duration
		reason    error
		calls     int // of delay
	}{
		{"floor over the strategy", func(error, time.Time) time.Duration { return 5 * time.Second }, errBusy, 0,
			[]time.Duration{5 * time.Second, 5 * time.Second}, backoff.ErrExhausted, 2},
		{"shorter than the strategy", func(error, time.Time) time.Duration { return time.Millisecond }, errBusy, 0,
			[]time.Duration{time.Second, time.Second}, backoff.ErrExhausted, 2},
		{"negative counts as 0", func(error, time.Time) time.Duration { return -time.Hour }, errBusy, 0,
			[]time.Duration{time.Second, time.Second}, backoff.ErrExhausted, 2},
		{"larger of it and RetryAfter", func(error, time.Time) time.Duration { return 2 * time.Second },
			backoff.RetryAfter(3*time.Second, errBusy), 0,
			[]time.Duration{3 * time.Second, 3 * time.Second}, backoff.ErrExhausted, 2},
		{"past the deadline stops at once", func(error, time.Time) time.Duration { return time.Hour }, errBusy, time.Minute,
			nil, backoff.ErrDeadline, 1},
		{"not asked about a permanent error", func(error, time.Time) time.Duration { return time.Hour },
			backoff.Mark(errBusy, backoff.Permanent), 0, nil, backoff.ErrPermanent, 0},
		{"nil turns it off", nil, errBusy, 0, []time.Duration{time.Second, time.Second}, backoff.ErrExhausted, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				calls := 0
				var f func(error, time.Time) time.Duration
				if tt.delay != nil {
					f = func(err error, now time.Time) time.Duration {
						calls++
						assert.ErrorIs(t, err, errBusy)
						assert.Equal(t, time.Now(), now, "now is the Retry clock's")
						return tt.delay(err, now)
					}
				}
				var waits []time.Duration
				start := time.Now()
				err := backoff.Do(ctx, func(context.Context) error { return tt.err },
					backoff.WithMaxAttempts(3),
					backoff.WithStrategy(backoff.Fixed(time.Second)),
					backoff.WithServerDelay(func(error, time.Time) time.Duration { return time.Hour }), // overridden below
					backoff.WithServerDelay(f),
					backoff.WithNotify(func(_ backoff.Attempt, d time.Duration) { waits = append(waits, d) }),
				)
				require.ErrorIs(t, err, tt.reason)
				assert.Equal(t, tt.wantWaits, waits)
				assert.Equal(t, tt.calls, calls)
				var total time.Duration
				for _, w := range waits {
					total += w
				}
				assert.Equal(t, total, time.Since(start), "Retry slept exactly the waits")
			})
		})
	}
}
