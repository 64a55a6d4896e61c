package llm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/llm"
)

// TestDelay has one case per header and reset form that Delay reads: the
// rate-limit headers of OpenAI's rate-limit guide
// (https://developers.openai.com/api/docs/guides/rate-limits), Retry-After,
// and z.ai's reset times.
func TestDelay(t *testing.T) {
	now := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC) // 2026-12-02 07:00:00 in Beijing
	rl := openAI("Rate limit reached", "requests", "rate_limit_exceeded")
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"no status", errors.New("reset"), 0},
		{"requests exhausted, 1s", status(429, rl, "X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "1s"), time.Second},
		{"tokens exhausted, 6m0s", status(429, rl, "X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "6m0s"), 6 * time.Minute},
		{"requests exhausted, 20ms", status(429, rl, "X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "20ms"), 20 * time.Millisecond},
		{"both exhausted: the longer", status(429, rl,
			"X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "2s",
			"X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "1m30.5s"), 90*time.Second + 500*time.Millisecond},
		{"not exhausted: no wait", status(429, rl, "X-Ratelimit-Remaining-Requests", "3", "X-Ratelimit-Reset-Requests", "2s"), 0},
		{"only the exhausted one counts", status(429, rl,
			"X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "2s",
			"X-Ratelimit-Remaining-Tokens", "10", "X-Ratelimit-Reset-Tokens", "5m"), 2 * time.Second},
		{"negative reset", status(429, rl, "X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "-1s"), 0},
		{"reset over 24h", status(429, rl, "X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "25h"), 0},
		{"junk reset", status(429, rl, "X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "soon"), 0},
		{"retry-after-ms on a 500", status(500, "", "Retry-After-Ms", "250"), 250 * time.Millisecond},
		{"Retry-After and rate limit: the longer", status(429, rl, "Retry-After", "3",
			"X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "2s"), 3 * time.Second},
		{"1308, Date header", status(429, zai("1308", "Usage limit reached for 5 hour. Your limit will reset at 2026-12-02 08:00:00"),
			"Date", date), time.Hour},
		{"1308, Chinese", status(429, zai("1308", "已达到 5 小时的使用上限。您的限额将在 2026-12-02 09:30:00 重置。"), "Date", date), 150 * time.Minute},
		{"1308, no Date: from now", status(429, zai("1308", "Your limit will reset at 2026-12-02 07:00:10")), 10 * time.Second},
		{"1308, Date beats a skewed now", status(429, zai("1308", "Your limit will reset at 2026-12-02 07:00:10"),
			"Date", "Tue, 01 Dec 2026 22:59:50 GMT"), 20 * time.Second},
		{"1308, RFC 850 Date", status(429, zai("1308", "Your limit will reset at 2026-12-02 07:00:10"),
			"Date", "Tuesday, 01-Dec-26 23:00:00 GMT"), 10 * time.Second},
		{"1308, junk Date: from now", status(429, zai("1308", "Your limit will reset at 2026-12-02 07:00:10"),
			"Date", "yesterday"), 10 * time.Second},
		{"1310, UTC", status(429, zai("1310", "Your limit will reset at 2026-12-01T23:30:00Z"), "Date", date), 30 * time.Minute},
		{"1310, +09:00", status(429, zai("1310", "Your limit will reset at 2026-12-02T09:00:00+09:00"), "Date", date), time.Hour},
		{"1310, -0500 and a fraction", status(429, zai("1310", "reset at 2026-12-01 18:00:00.5-0500"), "Date", date), 500 * time.Millisecond},
		{"1308, reset passed", status(429, zai("1308", "Your limit will reset at 2026-12-02 06:00:00"), "Date", date), 0},
		{"1308, reset over 24h", status(429, zai("1308", "Your limit will reset at 2026-12-04 08:00:00"), "Date", date), 0},
		{"1308, impossible date", status(429, zai("1308", "Your limit will reset at 2026-02-30 08:00:00"), "Date", date), 0},
		{"1302 carries no reset", status(429, zai("1302", "reset at 2026-12-02 08:00:00"), "Date", date), 0},
		{"wrapped", fmt.Errorf("chat: %w", status(429, zai("1308", "reset at 2026-12-02 08:00:00"), "Date", date)), time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, llm.Delay(tt.err, now))
		})
	}
}

// TestOptionsPaceRetry shows the wait of a usage limit reaching Retry: it
// waits until the reset when that comes before the deadline, and stops at
// once with ErrDeadline when it does not; an account error costs one attempt.
func TestOptionsPaceRetry(t *testing.T) {
	tests := []struct {
		name     string
		err      func(now time.Time) error
		deadline time.Duration
		attempts int
		reason   error // nil: the second attempt succeeds
		elapsed  time.Duration
	}{
		{"1308, reset before the deadline", func(now time.Time) error {
			return status(429, zai("1308", "Your limit will reset at "+beijingTime(now.Add(time.Hour))), "Date", now.UTC().Format(http.TimeFormat))
		}, 2 * time.Hour, 2, nil, time.Hour},
		{"1308, reset past the deadline", func(now time.Time) error {
			return status(429, zai("1308", "Your limit will reset at "+beijingTime(now.Add(time.Hour))), "Date", now.UTC().Format(http.TimeFormat))
		}, time.Minute, 1, backoff.ErrDeadline, 0},
		{"OpenAI tokens exhausted", func(time.Time) error {
			return status(429, openAI("Rate limit reached", "tokens", "rate_limit_exceeded"),
				"X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "6m0s")
		}, time.Hour, 2, nil, 6 * time.Minute},
		{"1113 balance exhausted", func(time.Time) error {
			return status(429, zai("1113", "Your account is in arrears, please recharge and try again"))
		}, time.Hour, 1, backoff.ErrPermanent, 0},
		{"insufficient_quota", func(time.Time) error {
			return status(429, openAI("You exceeded your current quota.", "insufficient_quota", "insufficient_quota"))
		}, time.Hour, 1, backoff.ErrPermanent, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), tt.deadline)
				defer cancel()
				start := time.Now()
				n := 0
				err := backoff.Do(ctx, func(context.Context) error {
					n++
					if n == 1 {
						return tt.err(time.Now())
					}
					return nil
				}, backoff.WithStrategy(backoff.Fixed(time.Millisecond)), llm.Options())
				if tt.reason == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tt.reason)
					var be *backoff.Error
					require.ErrorAs(t, err, &be)
					assert.Equal(t, tt.attempts, be.Attempts)
				}
				assert.Equal(t, tt.attempts, n)
				assert.Equal(t, tt.elapsed, time.Since(start))
			})
		})
	}
}

// beijingTime prints t as z.ai does, in Beijing time without a zone.
func beijingTime(t time.Time) string {
	return t.UTC().Add(8 * time.Hour).Format("2006-01-02 15:04:05")
}
