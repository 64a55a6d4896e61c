package sim_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/bench/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallRateLimit is the scenario at a size that runs in a moment inside a
// synctest bubble, where the same real-time code runs on fake time.
func smallRateLimit() sim.RateLimitConfig {
	c := sim.DefaultRateLimit
	c.Clients = 8
	c.Capacity = 200
	c.Phase = 6 * time.Second
	return c
}

// bubblePolicies are the policies that can run in a synctest bubble. The
// AWS SDK's adaptive mode cannot: when its bucket lacks a sliver of a token,
// it sleeps for a wait rounded down to 0ns and tries again, which in real
// time lets a nanosecond pass, and in a bubble, whose time stands still
// while a goroutine can run, loops for ever.
func bubblePolicies() []sim.RateLimitPolicy {
	var ps []sim.RateLimitPolicy
	for _, p := range sim.RateLimitPolicies() {
		if p.Name != "aws-adaptive" {
			ps = append(ps, p)
		}
	}
	return ps
}

func TestRateLimitPolicyNames(t *testing.T) {
	var names []string
	for _, p := range sim.RateLimitPolicies() {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"none", "limiter", "aws-adaptive", "failsafe-adaptive"}, names)
}

// Side by side on the same arrivals: retries alone keep the server at its
// capacity by hammering it (most attempts are 429s); the Limiter keeps it
// near capacity with a small share of 429s.
func TestRateLimitLimiterAgainstRetriesAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := smallRateLimit()
		runs, err := sim.RunRateLimit(t.Context(), cfg, bubblePolicies(), 1)
		require.NoError(t, err)
		require.Len(t, runs, 3)
		none, lim := runs[0], runs[1]
		require.Equal(t, "none", none.Policy)
		require.Equal(t, "limiter", lim.Policy)
		for _, r := range runs {
			t.Logf("%s: goodput %.3f, 429 share %.4f, reconverge %v", r.Policy, r.GoodputRatio(), r.ThrottledShare(), r.Reconverge(cfg))
			assert.Len(t, r.Goodput, int(3*cfg.Phase/cfg.Bin))
		}
		assert.Greater(t, none.ThrottledShare(), 0.5, "retries alone: most attempts are refused")
		assert.Less(t, lim.ThrottledShare(), none.ThrottledShare()/10)
		assert.GreaterOrEqual(t, lim.GoodputRatio(), 0.85)
	})
}

// Shared: the goroutines of one service share one instance of each policy,
// made once per run; per client (the default), every client makes its own.
func TestRateLimitSharedMakesOneInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, shared := range []bool{false, true} {
			cfg := smallRateLimit()
			cfg.Phase = time.Second
			cfg.Window = time.Second
			cfg.Shared = shared
			var made int
			p := sim.RateLimitPolicy{Name: "limiter", New: func() func(context.Context, func(context.Context) error) error {
				made++
				opts := backoff.Options(backoff.Production(), backoff.WithLimiter(backoff.NewLimiter(backoff.LimiterSettings{})))
				return func(ctx context.Context, attempt func(context.Context) error) error {
					return backoff.Do(ctx, attempt, opts)
				}
			}}
			_, err := sim.RunRateLimit(t.Context(), cfg, []sim.RateLimitPolicy{p}, 1)
			require.NoError(t, err)
			if shared {
				assert.Equal(t, 1, made, "shared: one instance for all clients")
			} else {
				assert.Equal(t, cfg.Clients, made, "per client: one instance each")
			}
		}
	})
}

// Shared, on the same arrivals: one Limiter for the key sees every
// client's throttles and successes, so it keeps the 429s under 1% and well
// below both retries alone and a Limiter per client, at the server's
// capacity.
func TestRateLimitSharedLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := smallRateLimit()
		cfg.Shared = true
		runs, err := sim.RunRateLimit(t.Context(), cfg, bubblePolicies(), 1)
		require.NoError(t, err)
		require.Len(t, runs, 3)
		none, lim := runs[0], runs[1]
		require.Equal(t, "none", none.Policy)
		require.Equal(t, "limiter", lim.Policy)
		for _, r := range runs {
			t.Logf("shared %s: goodput %.3f, 429 share %.4f, reconverge %v", r.Policy, r.GoodputRatio(), r.ThrottledShare(), r.Reconverge(cfg))
		}
		cfg.Shared = false
		alone, err := sim.RunRateLimit(t.Context(), cfg, bubblePolicies()[1:2], 1)
		require.NoError(t, err)
		t.Logf("per client limiter: goodput %.3f, 429 share %.4f", alone[0].GoodputRatio(), alone[0].ThrottledShare())

		assert.Greater(t, none.ThrottledShare(), 0.5, "retries alone: most attempts are refused")
		assert.LessOrEqual(t, lim.ThrottledShare(), 0.01)
		assert.Less(t, lim.ThrottledShare(), alone[0].ThrottledShare()/2, "one Limiter for the key throttles less than one per client")
		assert.GreaterOrEqual(t, lim.GoodputRatio(), 0.9)
	})
}

func TestRateLimitRejectsBadConfig(t *testing.T) {
	for _, mod := range []func(*sim.RateLimitConfig){
		func(c *sim.RateLimitConfig) { c.Clients = 0 },
		func(c *sim.RateLimitConfig) { c.Capacity = 0 },
		func(c *sim.RateLimitConfig) { c.Service = 0 },
		func(c *sim.RateLimitConfig) { c.Window = c.Bin / 2 },
		func(c *sim.RateLimitConfig) { c.Phase = c.Bin*3 + 1 },
	} {
		c := sim.DefaultRateLimit
		mod(&c)
		_, err := sim.RunRateLimit(t.Context(), c, sim.RateLimitPolicies(), 1)
		assert.Error(t, err)
	}
}

func TestRateLimitMetrics(t *testing.T) {
	cfg := sim.RateLimitConfig{Phase: 4 * time.Second, Bin: time.Second, Window: time.Second}
	full, half := 10.0, 5.0
	r := sim.RateLimitRun{
		Attempts: 100, Throttled: 5,
		Capacity:    []float64{full, full, full, full, half, half, half, half, full, full, full, full},
		Goodput:     []float64{10, 10, 10, 10, 9, 5, 5, 5, 5, 5, 10, 10},
		Throttles:   []float64{0, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0},
		AttemptRate: []float64{10, 10, 10, 10, 18, 6, 5, 5, 5, 5, 10, 10},
	}
	assert.InDelta(t, 94.0/100, r.GoodputRatio(), 1e-12)
	assert.InDelta(t, 0.05, r.ThrottledShare(), 1e-12)
	// After the halving: bin 4 has 50% 429s, bin 5 1 in 6, bin 6 is the
	// first good one, and ends 3s after the change. After the doubling:
	// goodput is back at bin 10, which ends 3s after it.
	assert.Equal(t, 3*time.Second, r.Reconverge(cfg))
	r.Goodput[10], r.Goodput[11] = 5, 5
	assert.Equal(t, 4*time.Second, r.Reconverge(cfg), "never: the whole phase")
}

func TestWriteRateLimitCSV(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sim.WriteRateLimitCSV(&b, []sim.RateLimitRow{
		{Clients: 8, Policy: "limiter", Seeds: 3, GoodputRatio: 0.95, ThrottledShare: 0.012, P50MS: 101, P99MS: 2300, ReconvergeS: 2.5},
	}))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.Equal(t, []string{
		"clients,policy,goodput_ratio,throttled_share,p50_ms,p99_ms,reconverge_s",
		"8,limiter,0.950,0.0120,101,2300,2.50",
	}, lines)
}

func TestPlotRateLimit(t *testing.T) {
	cfg := sim.RateLimitConfig{Clients: 2, Bin: time.Second}
	dir := t.TempDir()
	runs := []sim.RateLimitRun{{Policy: "limiter", Capacity: []float64{1, 1}, Goodput: []float64{1, 0.5}, Throttles: []float64{0, 1}}}
	require.NoError(t, sim.PlotRateLimit(cfg, runs, dir))
	assert.FileExists(t, dir+"/ratelimit.png")
	cfg.Shared = true
	require.NoError(t, sim.PlotRateLimit(cfg, runs, dir))
	assert.FileExists(t, dir+"/ratelimit_shared.png")
}
