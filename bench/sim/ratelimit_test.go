package sim_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/backoff-go/backoff/bench/sim"
	"github.com/stretchr/testify/require"
)

// smallRateLimit is the scenario at a size that runs in a moment inside a
// synctest bubble.
func smallRateLimit() sim.RateLimitConfig {
	c := sim.DefaultRateLimit
	c.Clients = 8
	c.Capacity = 40
	c.Phase = 6 * time.Second
	return c
}

func TestRateLimitSideBySide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := smallRateLimit()
		runs, err := sim.RunRateLimit(t.Context(), cfg, bubblePolicies(), 1)
		require.NoError(t, err)
		require.Len(t, runs, 3)
		for _, r := range runs {
			t.Logf("%s: goodput %.3f, 429 share %.4f, reconverge %v attempts %d thr %d succ %d", r.Policy, r.GoodputRatio(), r.ThrottledShare(), r.Reconverge(cfg), r.Attempts, r.Throttled, len(r.Latencies))
		}
	})
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
