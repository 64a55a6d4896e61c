package llm_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
	"github.com/backoff-go/backoff/llm"
)

// TestTransport runs llm.Options through backoff's Transport against
// glmserver: an account error is returned after one attempt with its body
// whole, a usage limit waits exactly until its reset or is refused at once
// when the reset comes after the deadline, and OpenAI's x-ratelimit-reset
// paces the retry that Transport alone would not.
func TestTransport(t *testing.T) {
	tests := []struct {
		name     string
		cfg      glmserver.Config
		deadline time.Duration
		status   int
		code     string // the body's error.code; "" for a 200
		attempts int64
		elapsed  time.Duration
	}{
		{"zai account error", glmserver.Config{Script: []glmserver.Fault{glmserver.AccountError}},
			time.Hour, 429, "1113", 1, 0},
		{"openai account error", glmserver.Config{Dialect: glmserver.OpenAI, Script: []glmserver.Fault{glmserver.AccountError}},
			time.Hour, 429, "insufficient_quota", 1, 0},
		{"zai usage limit past the deadline", glmserver.Config{Script: []glmserver.Fault{glmserver.UsageLimit},
			Faults: glmserver.Faults{UsageReset: 20 * time.Minute}}, time.Minute, 429, "1308", 1, 0},
		{"zai usage limit before the deadline", glmserver.Config{Script: []glmserver.Fault{glmserver.UsageLimit},
			Faults: glmserver.Faults{UsageReset: 20 * time.Minute}}, time.Hour, 200, "", 2, 20 * time.Minute},
		{"openai x-ratelimit-reset-tokens alone, before the deadline", glmserver.Config{Dialect: glmserver.OpenAI, Script: []glmserver.Fault{glmserver.UsageLimit},
			Faults: glmserver.Faults{UsageReset: 6 * time.Minute}}, time.Hour, 200, "", 2, 6 * time.Minute},
		{"openai rate limit without any wait header", glmserver.Config{Dialect: glmserver.OpenAI, Script: []glmserver.Fault{glmserver.RateLimit},
			Faults: glmserver.Faults{RetryAfter: 3 * time.Second, RetryAfterForm: glmserver.RetryAfterNone}}, time.Hour, 200, "", 2, 0},
		{"openai rate limit with retry-after-ms and x-ratelimit-reset", glmserver.Config{Dialect: glmserver.OpenAI, Script: []glmserver.Fault{glmserver.RateLimit},
			Faults: glmserver.Faults{RetryAfter: 3 * time.Second, RetryAfterForm: glmserver.RetryAfterMillis}}, time.Hour, 200, "", 2, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, err := glmserver.StartPipe(tt.cfg)
				require.NoError(t, err)
				defer srv.Close()
				base := &http.Transport{DialContext: srv.DialContext}
				defer base.CloseIdleConnections()
				// A fixed, short strategy makes the server's wait the
				// whole wait, so that the elapsed time is exact.
				client := &http.Client{Transport: &backoff.Transport{Base: base, Options: []backoff.Option{
					backoff.Production(), llm.Options(), backoff.WithStrategy(backoff.Fixed(0)),
				}}}
				ctx, cancel := context.WithTimeout(t.Context(), tt.deadline)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+glmserver.Path,
					strings.NewReader(`{"model":"glm-4.5","messages":[{"role":"user","content":"hi"}]}`))
				require.NoError(t, err)
				start := time.Now()
				resp, err := client.Do(req)
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.NoError(t, err)
				assert.Equal(t, tt.elapsed, time.Since(start))
				assert.Equal(t, tt.status, resp.StatusCode)
				if tt.code != "" {
					var e struct {
						Error struct{ Code, Message string } `json:"error"`
					}
					require.NoError(t, json.Unmarshal(body, &e), "the body whole: %s", body)
					assert.Equal(t, tt.code, e.Error.Code)
					assert.NotEmpty(t, e.Error.Message)
				}
				srv.Close()
				assert.Equal(t, tt.attempts, srv.Stats().Requests)
			})
		})
	}
}
