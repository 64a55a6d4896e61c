package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pipe makes the demo's embedded server an in-memory one, so that the run
// can go inside a synctest bubble; edit, if not nil, changes its Config.
func pipe(edit func(*glmserver.Config)) func(glmserver.Config) (*glmserver.Server, error) {
	return func(c glmserver.Config) (*glmserver.Server, error) {
		if edit != nil {
			edit(&c)
		}
		return glmserver.StartPipe(c)
	}
}

// TestCompareSameFaults runs the demo as go run does, on fewer requests and
// on the fake clock: both runs meet the same fault on each request's first
// attempt, and each summary agrees with what the server saw.
func TestCompareSameFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := defaultConfig()
		cfg.Requests = 200
		cfg.startServer = pipe(nil)
		var stdout, stderr bytes.Buffer
		sums, err := run(t.Context(), cfg, &stdout, &stderr)
		require.NoError(t, err)
		require.Len(t, sums, 2)
		t.Logf("\n%s", stdout.String())
		none, lib := sums[0], sums[1]
		assert.Equal(t, noRetries, none.Policy)
		assert.Equal(t, library, lib.Policy)
		assert.Equal(t, none.First, lib.First, "the first attempts met the same faults")

		for _, s := range sums {
			assert.Equal(t, cfg.Requests, s.Requests, s.Policy)
			failed := 0
			for _, n := range s.Failures {
				failed += n
			}
			assert.Equal(t, s.Requests, s.Successes+failed, s.Policy)
			assert.Equal(t, int64(s.Attempts), s.Server.Requests, "%v: every attempt reached the server once", s.Policy)
			assert.Equal(t, int64(s.Successes), s.Server.OK, "%v: every complete answer is a success", s.Policy)
			assert.Equal(t, int64(s.Streamed), s.Server.Streams, s.Policy)
			assert.Zero(t, s.RetriedPermanent, s.Policy)
		}
		assert.Equal(t, none.Requests, none.Attempts, "no retries: one attempt each")
		assert.Positive(t, none.Server.RateLimited+none.Server.Unavailable+none.Server.ServerErrors+none.Server.Resets,
			"the faults were on")
		assert.Less(t, none.Successes, none.Requests)

		// Each first attempt adds Ratio tokens to a budget that starts with
		// Burst, and each retry takes one: retries ≤ Ratio·requests + Burst.
		assert.LessOrEqual(t, float64(lib.Retries), budgetRatio*float64(lib.Requests)+budgetBurst)
		assert.LessOrEqual(t, lib.Attempts, 4*lib.Requests, "Production makes at most 4 attempts per request")
		assert.Greater(t, lib.Successes, none.Successes, "the retries bought successes")

		// A script reads the no-retries block first and the library's last.
		out := stdout.String()
		lines := successLines(out)
		require.Len(t, lines, 2)
		assert.Contains(t, lines[0], fmt.Sprintf("successes      %5d  (", none.Successes))
		assert.Contains(t, lines[1], fmt.Sprintf("successes      %5d  (", lib.Successes))
		assert.Less(t, strings.Index(out, "no retries:"), strings.Index(out, "backoff.Production() with llm.Options():"))
		for _, want := range []string{"attempts", "retries", "amplification", "failures", "permanent", "breaker", "p50", "p99", "server saw", "success rate", "points"} {
			assert.Contains(t, out, want)
		}
		assert.Empty(t, stderr.String(), "no progress line unless asked")
	})
}

func successLines(out string) []string {
	var lines []string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "  successes ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestLibraryScripted plays one fault sequence, in arrival order, to one
// request at a time, and checks each request's attempts exactly: the
// library retries a 500, a 429 after its wait, a body cut mid-way (read
// whole by BufferBody) and a reset, and the run without retries loses each
// of them.
func TestLibraryScripted(t *testing.T) {
	script := []glmserver.Fault{
		glmserver.ServerError, glmserver.None, // request 0: a 500, then the answer
		glmserver.RateLimit, glmserver.ResetMidBody, glmserver.Reset, glmserver.None, // request 1: four attempts
		glmserver.AccountError, // request 2: a 429 that says the account is in arrears: no retry
	}
	const permanent = "HTTP 429, permanent"
	tests := []struct {
		name      string
		compare   bool
		successes []int // per run
		attempts  []int
		failures  []map[string]int
	}{
		{"library only", false, []int{6}, []int{11}, []map[string]int{{permanent: 1}}},
		{"compared", true, []int{2, 6}, []int{7, 11}, []map[string]int{
			{"HTTP 500": 1, "HTTP 429": 1, "body cut: connection closed": 1, "connection closed": 1, permanent: 1},
			{permanent: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := defaultConfig()
				cfg.Requests = 7
				cfg.Workers = 1
				cfg.Rate = 0
				cfg.StreamShare = 0
				cfg.Compare = tt.compare
				cfg.startServer = pipe(func(c *glmserver.Config) {
					c.KeyedFaults = false
					c.Script = script
					c.Faults = glmserver.Faults{RetryAfter: 300 * time.Millisecond}
				})
				sums, err := run(t.Context(), cfg, &bytes.Buffer{}, &bytes.Buffer{})
				require.NoError(t, err)
				require.Len(t, sums, len(tt.successes))
				for i, s := range sums {
					assert.Equal(t, tt.successes[i], s.Successes, s.Policy)
					assert.Equal(t, tt.attempts[i], s.Attempts, s.Policy)
					assert.Equal(t, tt.failures[i], s.Failures, s.Policy)
					assert.Equal(t, int64(tt.attempts[i]), s.Server.Requests, s.Policy)
					assert.Zero(t, s.Refused, s.Policy)
					assert.Equal(t, 1, s.Permanent, s.Policy)
					assert.Zero(t, s.RetriedPermanent, s.Policy)
					assert.Equal(t, int64(1), s.Server.AccountErrors, s.Policy)
				}
				lib := sums[len(sums)-1]
				assert.Equal(t, []string{"500", "429", "429", "200", "200", "200", "200"}, lib.First)
				assert.Equal(t, 4, lib.Retries)
			})
		})
	}
}

func TestRunWithoutFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := defaultConfig()
		cfg.Faults = glmserver.Faults{}
		cfg.Requests = 50
		cfg.Rate = 0
		cfg.Workers = 4
		cfg.startServer = pipe(nil)
		var stdout bytes.Buffer
		sums, err := run(t.Context(), cfg, &stdout, &bytes.Buffer{})
		require.NoError(t, err)
		require.Len(t, sums, 2)
		for _, s := range sums {
			assert.Equal(t, 50, s.Requests)
			assert.Equal(t, 50, s.Successes)
			assert.Equal(t, 15, s.Streamed, "30% of 50")
			assert.Equal(t, 50, s.Attempts)
			assert.Zero(t, s.Retries)
			assert.Zero(t, s.Unsent)
			assert.Zero(t, s.Permanent)
			assert.Empty(t, s.Failures)
			assert.InDelta(t, 1.0, s.Amplification(), 1e-12)
			assert.Equal(t, glmserver.Stats{Requests: 50, OK: 50, Streams: 15}, s.Server)
		}
		assert.Contains(t, stdout.String(), "embedded server, no faults")
		assert.Contains(t, stdout.String(), "success rate    +0.0  points (100.0% → 100.0%)")
	})
}

// TestRunExternalServer points the demo at a server of the test's own, as
// -base-url does, once with the right API key and once with a wrong one.
func TestRunExternalServer(t *testing.T) {
	tests := []struct {
		name      string
		key       string
		successes int
		permanent int
		failures  map[string]int
	}{
		{"right key", "sk-right", 20, 0, map[string]int{}},
		// 401 is Permanent: returned at once, never retried.
		{"wrong key", "sk-wrong", 0, 20, map[string]int{"HTTP 401, permanent": 20}},
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
			cfg.Compare = false
			var stdout bytes.Buffer
			sums, err := run(t.Context(), cfg, &stdout, &bytes.Buffer{})
			require.NoError(t, err)
			require.Len(t, sums, 1)
			s := sums[0]
			assert.Equal(t, library, s.Policy)
			assert.False(t, s.Embedded)
			assert.Equal(t, srv.URL+"/v1/chat/completions", s.Target)
			assert.Equal(t, tt.successes, s.Successes)
			assert.Equal(t, tt.failures, s.Failures)
			assert.Equal(t, tt.permanent, s.Permanent)
			assert.Zero(t, s.RetriedPermanent)
			assert.Equal(t, 20, s.Attempts)
			assert.Contains(t, stdout.String(), s.Target)
			assert.Contains(t, stdout.String(), fmt.Sprintf("permanent      %5d  requests", tt.permanent))
			assert.NotContains(t, stdout.String(), "no retries")
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
	sums, err := run(t.Context(), cfg, &stdout, &bytes.Buffer{})
	require.NoError(t, err)
	require.Len(t, sums, 2)
	for _, s := range sums {
		assert.Equal(t, 30, s.NotStarted)
		assert.Zero(t, s.Requests)
		assert.Zero(t, s.Attempts)
		assert.Empty(t, s.Failures)
		assert.Zero(t, s.Server.Requests)
	}
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
	// However few ticks there were, each run's last line shows its final
	// counts and ends the line, so the summary starts on a line of its own.
	runs := strings.SplitAfter(stderr.String(), "\n")
	require.Len(t, runs, 3, "two runs and the empty rest")
	for i, name := range []string{"no retries", "backoff.Production() with llm.Options()"} {
		lines := strings.Split(runs[i], "\r")
		last := lines[len(lines)-1]
		assert.Contains(t, last, name+": 10/10 done  10 ok  0 failed  10 attempts  0 refused by the breaker")
		assert.True(t, strings.HasSuffix(last, "\n"), "%q", last)
	}
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
			assert.True(t, c.Compare)
			assert.Equal(t, int64(1<<20), c.BufferBody)
		}},
		{name: "library only, no buffering", args: []string{"-compare=false", "-buffer-body", "0"}, check: func(t *testing.T, c config) {
			assert.False(t, c.Compare)
			assert.Zero(t, c.BufferBody)
		}},
		{name: "trace", args: []string{"-trace"}, check: func(t *testing.T, c config) {
			assert.True(t, c.Trace)
			assert.False(t, c.RateLimit)
		}},
		{name: "rate limit", args: []string{"-base-url=", "-rate-limit", "-cap-rate", "40"}, check: func(t *testing.T, c config) {
			assert.True(t, c.RateLimit)
			assert.Equal(t, glmserver.Limits{Concurrency: 8, Rate: 40, Burst: 10}, c.Limits)
			assert.Zero(t, c.Faults.RateLimit, "the caps' 429s only")
			assert.Zero(t, c.Faults.Unavailable)
			assert.Equal(t, defaultConfig().Faults.ServerError, c.Faults.ServerError)
		}},
		{name: "rate limit with random 429s", args: []string{"-base-url=", "-rate-limit", "-429", "0.06"}, check: func(t *testing.T, c config) {
			assert.Equal(t, 0.06, c.Faults.RateLimit)
			assert.Zero(t, c.Faults.Unavailable)
		}},
		{name: "rate limit on a real server", args: []string{"-rate-limit"}, bad: true},
		{name: "negative cap", args: []string{"-base-url=", "-rate-limit", "-cap-rate", "-1"}, bad: true},
		{name: "negative buffer", args: []string{"-buffer-body", "-1"}, bad: true},
		{name: "open-for is gone", args: []string{"-open-for", "1s"}, bad: true},
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
	cfg.Compare = false
	var stdout bytes.Buffer
	sums, err := run(ctx, cfg, &stdout, &bytes.Buffer{})
	require.NoError(t, err)
	require.Len(t, sums, 1)
	s := sums[0]
	assert.Equal(t, 40, s.Requests+s.NotStarted)
	assert.GreaterOrEqual(t, s.Requests, 4)
	assert.Zero(t, s.Successes)
	assert.Equal(t, map[string]int{"interrupted": s.Requests}, s.Failures)
	assert.Contains(t, stdout.String(), "not started")
}

// TestTrace runs the scripted faults of TestLibraryScripted with -trace: one
// SlogTrace record per retry (four: request 0 retries once, request 1 three
// times) and one per give-up (request 2's account error), and nothing for
// the requests that succeed.
func TestTrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := defaultConfig()
		cfg.Requests = 7
		cfg.Workers = 1
		cfg.Rate = 0
		cfg.StreamShare = 0
		cfg.Compare = false
		cfg.Trace = true
		cfg.startServer = pipe(func(c *glmserver.Config) {
			c.KeyedFaults = false
			c.Script = []glmserver.Fault{
				glmserver.ServerError, glmserver.None,
				glmserver.RateLimit, glmserver.ResetMidBody, glmserver.Reset, glmserver.None,
				glmserver.AccountError,
			}
			c.Faults = glmserver.Faults{RetryAfter: 300 * time.Millisecond}
		})
		var stdout, stderr bytes.Buffer
		sums, err := run(t.Context(), cfg, &stdout, &stderr)
		require.NoError(t, err)
		require.Len(t, sums, 1)
		var retries, giveUps []string
		for l := range strings.Lines(stderr.String()) {
			switch {
			case strings.Contains(l, `msg="backoff: retrying"`):
				retries = append(retries, l)
			case strings.Contains(l, `msg="backoff: giving up"`):
				giveUps = append(giveUps, l)
			default:
				t.Errorf("unexpected line on stderr: %q", l)
			}
		}
		require.Len(t, retries, 4)
		assert.Contains(t, retries[0], "level=INFO")
		assert.Contains(t, retries[0], "attempt=1 ")
		assert.Contains(t, retries[0], "class=transient status=500")
		m := regexp.MustCompile(`attempt=1 wait=(\S+) class=temporary status=429 `).FindStringSubmatch(retries[1])
		require.NotNil(t, m, retries[1])
		wait, err := time.ParseDuration(m[1])
		require.NoError(t, err)
		assert.GreaterOrEqual(t, wait, 300*time.Millisecond, "the server's wait, at least")
		assert.Less(t, wait, 360*time.Millisecond, "at most a fifth more")
		assert.Contains(t, retries[2], "attempt=2 ")
		assert.Contains(t, retries[3], "attempt=3 ")
		require.Len(t, giveUps, 1)
		assert.Contains(t, giveUps[0], "level=WARN")
		assert.Contains(t, giveUps[0], "attempts=1 reason=permanent status=429")
		assert.Empty(t, sums[0].Breaker)
		assert.Contains(t, stdout.String(), "requests refused by the open breaker; 0 state changes\n")
	})
}

// TestBreakerChanges fails every attempt until the service breaker opens on
// ten failures in a row, then answers every one: the summary lists the
// breaker's open, half-open and close, in order, with the times they came.
func TestBreakerChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := defaultConfig()
		cfg.Requests = 100
		cfg.Workers = 1
		cfg.Rate = 20
		cfg.StreamShare = 0
		cfg.Compare = false
		script := make([]glmserver.Fault, 10)
		for i := range script {
			script[i] = glmserver.ServerError
		}
		cfg.startServer = pipe(func(c *glmserver.Config) {
			c.KeyedFaults = false
			c.Script = script
			c.Faults = glmserver.Faults{}
		})
		var stdout bytes.Buffer
		sums, err := run(t.Context(), cfg, &stdout, &bytes.Buffer{})
		require.NoError(t, err)
		s := sums[0]
		require.Len(t, s.Breaker, 3, "%+v", s.Breaker)
		want := [][2]backoff.State{{backoff.Closed, backoff.Open}, {backoff.Open, backoff.HalfOpen}, {backoff.HalfOpen, backoff.Closed}}
		for i, c := range s.Breaker {
			assert.Equal(t, want[i], [2]backoff.State{c.From, c.To})
			if i > 0 {
				assert.GreaterOrEqual(t, c.At, s.Breaker[i-1].At)
			}
		}
		assert.GreaterOrEqual(t, s.Breaker[1].At-s.Breaker[0].At, time.Second, "open for OpenFor at least")
		assert.Positive(t, s.Refused)
		assert.Equal(t, int64(10), s.Server.ServerErrors)
		out := stdout.String()
		assert.Contains(t, out, "requests refused by the open breaker")
		assert.Contains(t, out, "; 3 state changes\n")
		assert.Contains(t, out, "s  closed → open\n")
		assert.Contains(t, out, "s  open → half-open\n")
		assert.Contains(t, out, "s  half-open → closed\n")
	})
}

// TestRateLimit runs the library under the server's caps, without and with
// a shared Limiter, on no other faults, so that every 429 is a cap's: the
// Limiter cuts the share of attempts answered 429, and each block says what
// the caps refused and, for the Limiter, what it learned.
func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := defaultConfig()
		cfg.Requests = 300
		cfg.Compare = false
		cfg.RateLimit = true
		cfg.Faults = glmserver.Faults{}
		cfg.startServer = pipe(nil)
		var stdout bytes.Buffer
		sums, err := run(t.Context(), cfg, &stdout, &bytes.Buffer{})
		require.NoError(t, err)
		require.Len(t, sums, 2)
		t.Logf("\n%s", stdout.String())
		without, with := sums[0], sums[1]
		assert.Equal(t, library, without.Policy)
		assert.Equal(t, limited, with.Policy)
		for _, s := range sums {
			assert.True(t, s.RateLimited, s.Policy)
			assert.Equal(t, s.Server.RateLimited, s.Capped.Concurrency+s.Capped.Rate, "%v: every 429 is a cap's", s.Policy)
			assert.Equal(t, int64(s.Attempts), s.Server.Requests, s.Policy)
			assert.LessOrEqual(t, s.Capped.Peak, cfg.Limits.Concurrency, s.Policy)
		}
		assert.Greater(t, without.ThrottledShare(), 0.3, "the load is twice the rate cap")
		assert.Less(t, with.ThrottledShare(), without.ThrottledShare()/4, "the Limiter paces the workers")
		assert.Greater(t, with.Successes, without.Successes)
		assert.Zero(t, without.Concurrency, "no Limiter, nothing learned")
		assert.GreaterOrEqual(t, with.Concurrency, 1)
		assert.LessOrEqual(t, with.Concurrency, cfg.Workers)
		assert.Less(t, with.Rate, 2*cfg.Limits.Rate, "it learned a rate near the cap")
		assert.Positive(t, with.Rate)

		out := stdout.String()
		lines := successLines(out)
		require.Len(t, lines, 2)
		assert.Contains(t, lines[0], fmt.Sprintf("successes      %5d  (", without.Successes))
		assert.Contains(t, lines[1], fmt.Sprintf("successes      %5d  (", with.Successes))
		assert.Contains(t, out, fmt.Sprintf("429 share      %5.1f%%  of attempts (%d of %d); the caps refused %d over concurrency, %d over rate\n",
			100*with.ThrottledShare(), with.Server.RateLimited, with.Server.Requests, with.Capped.Concurrency, with.Capped.Rate))
		assert.Contains(t, out, fmt.Sprintf("limiter        %5d  concurrency at the end, rate ", with.Concurrency))
		assert.Contains(t, out, "with a Limiter against without:\n  429 share")
	})
}
