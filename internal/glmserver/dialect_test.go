package glmserver_test

import (
	"encoding/json"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
	"github.com/backoff-go/backoff/llm"
)

// TestDialects checks each injected error in each dialect: its status, the
// body's code (and OpenAI's type), the headers that say when to come back,
// and what llm.Classify and llm.Delay make of the answer. synctest's clock
// starts at 2000-01-01 00:00:00 UTC, 08:00:00 in Beijing.
func TestDialects(t *testing.T) {
	type want struct {
		status      int
		code, typ   string            // typ "": none
		header      map[string]string // each must be there with that value
		absent      []string          // each must be missing
		message     string            // "": any
		class       backoff.Class
		delay       time.Duration
		stats       glmserver.Stats
		requestID   bool
		nullOpenAIc bool // OpenAI's code is null
	}
	retry := map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500"}
	tests := []struct {
		name    string
		dialect glmserver.Dialect
		fault   glmserver.Fault
		want    want
	}{
		{"zai 429", glmserver.ZAI, glmserver.RateLimit, want{status: 429, code: "1302", header: retry,
			absent: []string{"X-Should-Retry", "X-Ratelimit-Remaining-Requests"}, class: backoff.Temporary, delay: 1500 * time.Millisecond,
			stats: glmserver.Stats{Requests: 1, RateLimited: 1}, requestID: true}},
		{"zai 503", glmserver.ZAI, glmserver.Unavailable, want{status: 503, code: "1305", header: retry,
			class: backoff.Temporary, delay: 1500 * time.Millisecond, stats: glmserver.Stats{Requests: 1, Unavailable: 1}, requestID: true}},
		{"zai 500", glmserver.ZAI, glmserver.ServerError, want{status: 500, code: "500", absent: []string{"Retry-After"},
			class: backoff.Transient, stats: glmserver.Stats{Requests: 1, ServerErrors: 1}, requestID: true}},
		{"zai account", glmserver.ZAI, glmserver.AccountError, want{status: 429, code: "1113", absent: []string{"Retry-After"},
			class: backoff.Permanent, stats: glmserver.Stats{Requests: 1, AccountErrors: 1}, requestID: true}},
		{"zai usage limit", glmserver.ZAI, glmserver.UsageLimit, want{status: 429, code: "1308", absent: []string{"Retry-After"},
			message: "Usage limit reached for 5 hour. Your limit will reset at 2000-01-01 08:20:00",
			class:   backoff.Temporary, delay: 20 * time.Minute, stats: glmserver.Stats{Requests: 1, UsageLimited: 1}, requestID: true}},
		{"openai 429", glmserver.OpenAI, glmserver.RateLimit, want{status: 429, code: "rate_limit_exceeded", typ: "requests",
			header: map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500", "X-Should-Retry": "true",
				"X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "1.5s"},
			class: backoff.Temporary, delay: 1500 * time.Millisecond, stats: glmserver.Stats{Requests: 1, RateLimited: 1}}},
		{"openai 503", glmserver.OpenAI, glmserver.Unavailable, want{status: 503, typ: "server_error", nullOpenAIc: true,
			header: map[string]string{"Retry-After-Ms": "1500", "X-Should-Retry": "true"},
			class:  backoff.Temporary, delay: 1500 * time.Millisecond, stats: glmserver.Stats{Requests: 1, Unavailable: 1}}},
		{"openai 500", glmserver.OpenAI, glmserver.ServerError, want{status: 500, typ: "server_error", nullOpenAIc: true,
			header: map[string]string{"X-Should-Retry": "true"}, class: backoff.Transient, stats: glmserver.Stats{Requests: 1, ServerErrors: 1}}},
		{"openai account", glmserver.OpenAI, glmserver.AccountError, want{status: 429, code: "insufficient_quota", typ: "insufficient_quota",
			header: map[string]string{"X-Should-Retry": "false"}, absent: []string{"Retry-After"},
			class: backoff.Permanent, stats: glmserver.Stats{Requests: 1, AccountErrors: 1}}},
		{"openai usage limit", glmserver.OpenAI, glmserver.UsageLimit, want{status: 429, code: "rate_limit_exceeded", typ: "tokens",
			header: map[string]string{"X-Should-Retry": "true", "X-Ratelimit-Remaining-Tokens": "0", "X-Ratelimit-Reset-Tokens": "20m0s"},
			class:  backoff.Temporary, delay: 20 * time.Minute, stats: glmserver.Stats{Requests: 1, UsageLimited: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, c := startPipe(t, glmserver.Config{
					Dialect: tt.dialect,
					Script:  []glmserver.Fault{tt.fault},
					Faults:  glmserver.Faults{RetryAfter: 1500 * time.Millisecond, UsageReset: 20 * time.Minute},
				})
				resp, err := post(t, c, s.URL, chatBody("hi", false))
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.NoError(t, err)
				w := tt.want
				assert.Equal(t, w.status, resp.StatusCode)
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				for k, v := range w.header {
					assert.Equal(t, v, resp.Header.Get(k), k)
				}
				for _, k := range w.absent {
					assert.Empty(t, resp.Header.Values(k), k)
				}
				var e struct {
					Error struct {
						Code    *string `json:"code"`
						Type    *string `json:"type"`
						Message string  `json:"message"`
					} `json:"error"`
					RequestID string `json:"request_id"`
				}
				require.NoError(t, json.Unmarshal(body, &e), "%s", body)
				if w.nullOpenAIc {
					assert.Nil(t, e.Error.Code)
				} else {
					require.NotNil(t, e.Error.Code)
					assert.Equal(t, w.code, *e.Error.Code)
				}
				if w.typ == "" {
					assert.Nil(t, e.Error.Type)
				} else {
					require.NotNil(t, e.Error.Type)
					assert.Equal(t, w.typ, *e.Error.Type)
				}
				if w.message != "" {
					assert.Equal(t, w.message, e.Error.Message)
				}
				assert.Equal(t, w.requestID, e.RequestID != "")

				se := &backoff.StatusError{Code: resp.StatusCode, Header: resp.Header, Body: body}
				se.RetryAfter, _ = backoff.ParseRetryAfter(resp.Header, time.Now())
				assert.Equal(t, w.class, llm.Classify(se))
				assert.Equal(t, w.delay, llm.Delay(se, time.Now()))
				s.Close()
				assert.Equal(t, w.stats, s.Stats())
			})
		})
	}
}

func TestDialectNames(t *testing.T) {
	for _, d := range []glmserver.Dialect{glmserver.ZAI, glmserver.OpenAI} {
		got, ok := glmserver.ParseDialect(d.String())
		assert.True(t, ok)
		assert.Equal(t, d, got)
	}
	_, ok := glmserver.ParseDialect("anthropic")
	assert.False(t, ok)
	assert.Equal(t, "dialect(7)", glmserver.Dialect(7).String())
	_, err := glmserver.New(glmserver.Config{Dialect: 7})
	require.Error(t, err)
	assert.Equal(t, "account-error", glmserver.AccountError.String())
	assert.Equal(t, "usage-limit", glmserver.UsageLimit.String())
}

// TestAccountErrorShare checks that the random draws give the new faults
// their share, and that zero rates leave the old sequence alone.
func TestAccountErrorShare(t *testing.T) {
	s, c := start(t, glmserver.Config{Seed: 3, Faults: glmserver.Faults{AccountError: 0.25, UsageLimit: 0.25}})
	for range 200 {
		resp, err := post(t, c, s.URL, chatBody("hi", false))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	s.Close()
	st := s.Stats()
	assert.Equal(t, int64(200), st.Requests)
	assert.Equal(t, st.Requests, st.OK+st.AccountErrors+st.UsageLimited)
	assert.InDelta(t, 50, st.AccountErrors, 20)
	assert.InDelta(t, 50, st.UsageLimited, 20)
}
