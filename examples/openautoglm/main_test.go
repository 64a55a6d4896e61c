package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/backoff-go/backoff/internal/glmserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRunWithFaults runs the demo as go run does, on fewer requests, and
// checks its summary against the budget's bound and the server's counts.
func TestRunWithFaults(t *testing.T) {
	cfg := defaultConfig()
	cfg.Requests = 300
	cfg.Rate = 300
	var stdout, stderr bytes.Buffer
	s, err := run(t.Context(), cfg, &stdout, &stderr)
	require.NoError(t, err)
	t.Logf("\n%s", stdout.String())

	// Every request ended, and the outcomes add up.
	assert.Equal(t, cfg.Requests, s.Requests)
	assert.Zero(t, s.NotStarted)
	failed := 0
	for _, n := range s.Failures {
		failed += n
	}
	assert.Equal(t, s.Requests, s.Successes+failed)
	assert.Positive(t, s.Successes)
	assert.Positive(t, s.Streamed)
	assert.Less(t, s.Streamed, s.Successes)

	// Each first attempt adds Ratio tokens to a budget that starts with
	// Burst, and each retry takes one: retries ≤ Ratio·requests + Burst.
	assert.LessOrEqual(t, float64(s.Retries), budgetRatio*float64(s.Requests)+budgetBurst)
	assert.LessOrEqual(t, s.Amplification(), 1+budgetRatio+float64(budgetBurst)/float64(s.Requests))
	// Only a request that the open breaker refused makes no attempt.
	assert.LessOrEqual(t, s.Unsent, s.Failures["circuit open"])
	// Production makes at most 4 attempts per request.
	assert.LessOrEqual(t, s.Attempts, 4*s.Requests)

	// What the client counted is what the server saw.
	assert.Equal(t, int64(s.Attempts), s.Server.Requests, "every attempt reached the server once")
	assert.Equal(t, int64(s.Successes), s.Server.OK, "every complete answer is a success")
	assert.Equal(t, int64(s.Streamed), s.Server.Streams)
	assert.Positive(t, s.Server.RateLimited+s.Server.Unavailable+s.Server.ServerErrors+s.Server.Resets,
		"the faults were on")
	assert.Equal(t, s.Server.Requests, s.Server.OK+s.Server.RateLimited+s.Server.Unavailable+
		s.Server.ServerErrors+s.Server.Resets+s.Server.MidBodyResets+s.Server.Aborted)
	// A body cut after its 200 is never retried, so each is one failure.
	cut := 0
	for reason, n := range s.Failures {
		if strings.HasPrefix(reason, "body cut") || strings.HasPrefix(reason, "stream cut") {
			cut += n
		}
	}
	assert.Equal(t, int(s.Server.MidBodyResets), cut)

	out := stdout.String()
	for _, want := range []string{"successes", "attempts", "retries", "amplification", "failures", "breaker", "p50", "p99", "server saw"} {
		assert.Contains(t, out, want)
	}
	assert.Empty(t, stderr.String(), "no progress line unless asked")
}

func TestRunWithoutFaults(t *testing.T) {
	cfg := defaultConfig()
	cfg.Faults = glmserver.Faults{}
	cfg.Requests = 50
	cfg.Rate = 0
	cfg.Workers = 4
	var stdout, stderr bytes.Buffer
	s, err := run(t.Context(), cfg, &stdout, &stderr)
	require.NoError(t, err)
	assert.Equal(t, 50, s.Requests)
	assert.Equal(t, 50, s.Successes)
	assert.Equal(t, 15, s.Streamed, "30% of 50")
	assert.Equal(t, 50, s.Attempts)
	assert.Zero(t, s.Retries)
	assert.Zero(t, s.Unsent)
	assert.Empty(t, s.Failures)
	assert.Empty(t, s.Breaker)
	assert.InDelta(t, 1.0, s.Amplification(), 1e-12)
	assert.Equal(t, glmserver.Stats{Requests: 50, OK: 50, Streams: 15}, s.Server)
	assert.Contains(t, stdout.String(), "embedded server, no faults")
}

// TestRunExternalServer points the demo at a server of the test's own, as
// -base-url does, once with the right API key and once with a wrong one.
func TestRunExternalServer(t *testing.T) {
	tests := []struct {
		name      string
		key       string
		successes int
		failures  map[string]int
	}{
		{"right key", "sk-right", 20, map[string]int{}},
		// 401 is Permanent: returned at once, never retried.
		{"wrong key", "sk-wrong", 0, map[string]int{"HTTP 401": 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := glmserver.Start(glmserver.Config{APIKey: "sk-right"})
			require.NoError(t, err)
			defer srv.Close()
			cfg := defaultConfig()
			cfg.BaseURL = srv.URL + "/v1/"
			cfg.APIKey = tt.key
			cfg.Requests = 20
			cfg.Rate = 0
			var stdout bytes.Buffer
			s, err := run(t.Context(), cfg, &stdout, &bytes.Buffer{})
			require.NoError(t, err)
			assert.False(t, s.Embedded)
			assert.Equal(t, srv.URL+"/v1/chat/completions", s.Target)
			assert.Equal(t, tt.successes, s.Successes)
			assert.Equal(t, tt.failures, s.Failures)
			assert.Equal(t, 20, s.Attempts)
			assert.Contains(t, stdout.String(), s.Target)
			srv.Close()
			st := srv.Stats()
			assert.Equal(t, int64(20), st.Requests)
			assert.Equal(t, int64(tt.successes), st.OK)
		})
	}
}

// TestRunDuration starts no request once -duration has passed: here at
// once, so the run ends without a request, and says so.
func TestRunDuration(t *testing.T) {
	cfg := defaultConfig()
	cfg.Requests = 30
	cfg.Duration = time.Nanosecond
	cfg.Rate = 0
	var stdout bytes.Buffer
	s, err := run(t.Context(), cfg, &stdout, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 30, s.NotStarted)
	assert.Zero(t, s.Requests)
	assert.Zero(t, s.Attempts)
	assert.Empty(t, s.Failures)
	assert.Zero(t, s.Server.Requests)
	assert.Contains(t, stdout.String(), "not started       30")
}

func TestProgressLine(t *testing.T) {
	cfg := defaultConfig()
	cfg.Faults = glmserver.Faults{}
	cfg.Requests = 10
	cfg.Rate = 0
	cfg.Progress = true
	var stdout, stderr bytes.Buffer
	_, err := run(t.Context(), cfg, &stdout, &stderr)
	require.NoError(t, err)
	// However few ticks there were, the last line shows the final counts
	// and ends the line, so the summary starts on a line of its own.
	lines := strings.Split(stderr.String(), "\r")
	last := lines[len(lines)-1]
	assert.Contains(t, last, "10/10 done  10 ok  0 failed  10 attempts  breaker closed")
	assert.True(t, strings.HasSuffix(last, "\n"), "%q", last)
	assert.NotContains(t, stdout.String(), "\r")
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-env"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c config)
		bad   bool
	}{
		{name: "env", args: nil, check: func(t *testing.T, c config) {
			assert.Equal(t, "http://127.0.0.1:9/v1", c.BaseURL)
			assert.Equal(t, "sk-env", c.APIKey)
			assert.Equal(t, defaultConfig().Faults, c.Faults)
		}},
		{name: "flags override env", args: []string{"-base-url", "", "-api-key", "sk-flag"}, check: func(t *testing.T, c config) {
			assert.Empty(t, c.BaseURL)
			assert.Equal(t, "sk-flag", c.APIKey)
		}},
		{name: "fault rates", args: []string{"-base-url=", "-429", "0.5", "-reset", "0.1", "-slow-delay", "2s"}, check: func(t *testing.T, c config) {
			assert.Equal(t, 0.5, c.Faults.RateLimit)
			assert.Equal(t, 0.1, c.Faults.Reset)
			assert.Equal(t, 2*time.Second, c.Faults.SlowDelay)
		}},
		{name: "no faults", args: []string{"-base-url=", "-no-faults"}, check: func(t *testing.T, c config) {
			assert.Equal(t, glmserver.Faults{}, c.Faults)
		}},
		{name: "sizes", args: []string{"-workers", "3", "-requests", "7", "-duration", "1s", "-stream", "1"}, check: func(t *testing.T, c config) {
			assert.Equal(t, 3, c.Workers)
			assert.Equal(t, 7, c.Requests)
			assert.Equal(t, time.Second, c.Duration)
			assert.Equal(t, 1.0, c.StreamShare)
		}},
		{name: "rates above one", args: []string{"-base-url=", "-429", "0.7", "-503", "0.7"}, bad: true},
		{name: "no workers", args: []string{"-workers", "0"}, bad: true},
		{name: "stream share", args: []string{"-stream", "1.5"}, bad: true},
		{name: "stray argument", args: []string{"now"}, bad: true},
		{name: "unknown flag", args: []string{"-fast"}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, getenv, &bytes.Buffer{})
			if tt.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestStreamedSpread(t *testing.T) {
	tests := []struct {
		name  string
		share float64
		n     int
		want  int
	}{
		{"none", 0, 100, 0},
		{"all", 1, 100, 100},
		{"30%", 0.3, 100, 30},
		{"a third", 1.0 / 3, 99, 33},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := 0
			for i := range tt.n {
				if streamed(i, tt.share) {
					got++
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{7}, 0.99, 7},
		{"p50 of 100", ds, 0.5, 50 * time.Millisecond},
		{"p99 of 100", ds, 0.99, 99 * time.Millisecond},
		{"p100", ds, 1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, percentile(tt.sorted, tt.p))
		})
	}
}

// TestRunInterrupted cancels the run's context once each worker's first
// request has had a 429 that asks for an hour: the requests end at once as
// interrupted, and the rest never start.
func TestRunInterrupted(t *testing.T) {
	glm, err := glmserver.New(glmserver.Config{Faults: glmserver.Faults{
		RateLimit: 1, RetryAfter: time.Hour, RetryAfterForm: glmserver.RetryAfterMillis,
	}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		glm.ServeHTTP(w, r)
		if seen.Add(1) == 4 {
			cancel()
		}
	}))
	defer srv.Close()
	defer glm.Close()

	cfg := defaultConfig()
	cfg.BaseURL = srv.URL + "/v1"
	cfg.Requests = 40
	cfg.Workers = 4
	cfg.Rate = 0
	cfg.Timeout = 2 * time.Hour
	var stdout bytes.Buffer
	s, err := run(ctx, cfg, &stdout, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 40, s.Requests+s.NotStarted)
	assert.GreaterOrEqual(t, s.Requests, 4)
	assert.Zero(t, s.Successes)
	assert.Equal(t, map[string]int{"interrupted": s.Requests}, s.Failures)
	assert.Contains(t, stdout.String(), "not started")
}
