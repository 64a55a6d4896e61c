package sim_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/bench/sim"
)

func policy(t *testing.T, name string) sim.OutagePolicy {
	t.Helper()
	for _, p := range sim.OutagePolicies() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no policy %q", name)
	return sim.OutagePolicy{}
}

func TestOutagePolicyNames(t *testing.T) {
	var names []string
	for _, p := range sim.OutagePolicies() {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{
		"none", "exponential", "full", "decorrelated",
		"exponential+budget", "full+budget", "decorrelated+budget",
		"full+budget+breaker", "adaptive", "plain retries", "production",
	}, names)
}

// short is the default scenario cut to 6s, long enough to tell recovery
// from metastability and short enough for -race.
func short() sim.OutageConfig {
	cfg := sim.DefaultOutage
	cfg.Duration = 6 * time.Second
	return cfg
}

func TestRunOutageSteadyWithoutStall(t *testing.T) {
	cfg := short()
	cfg.StallEnd = cfg.StallStart // no stall
	r, err := sim.RunOutage(cfg, policy(t, "full"), 1)
	require.NoError(t, err)
	m := r.Metrics(cfg)
	// 100 clients at 10/s for 6s: 6000 requests, give or take Poisson noise.
	assert.InDelta(t, 6000, r.Requests, 300)
	assert.Equal(t, r.Requests, r.Successes)
	assert.Equal(t, r.Requests, r.Attempts, "at 80% load nothing times out")
	assert.Equal(t, 1.0, m.Amplification)
	assert.Equal(t, 1.0, m.SuccessRate)
	assert.True(t, m.Recovered)
	assert.Equal(t, time.Duration(0), m.Recovery)
	assert.Less(t, m.P99, 20*time.Millisecond)
	assert.Equal(t, r.Requests, sum(r.Offered))
	assert.Equal(t, r.Attempts, sum(r.Load))
	assert.Len(t, r.Load, 600)
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func TestRunOutageStallStopsService(t *testing.T) {
	cfg := short()
	r, err := sim.RunOutage(cfg, policy(t, "none"), 2)
	require.NoError(t, err)
	for b := int(cfg.StallStart / cfg.Bin); b < int(cfg.StallEnd/cfg.Bin); b++ {
		require.Zero(t, r.Goodput[b], "bin %d: nothing succeeds during the stall", b)
	}
	// The backlog at the stall's end is what arrived during it: 300ms of
	// requests at 1000/s, 0.8ms each, about 240ms of work.
	atEnd := r.Backlog[int(cfg.StallEnd/cfg.Bin)-1]
	assert.InDelta(t, 240*time.Millisecond, atEnd, float64(40*time.Millisecond))
	assert.Equal(t, r.Requests, r.Attempts)
	assert.Less(t, r.Successes, r.Requests)
}

func TestRunOutageIsDeterministic(t *testing.T) {
	t.Parallel()
	cfg := short()
	for _, p := range sim.OutagePolicies() {
		a, err := sim.RunOutage(cfg, p, 5)
		require.NoError(t, err)
		b, err := sim.RunOutage(cfg, p, 5)
		require.NoError(t, err)
		require.Equal(t, a, b, p.Name)
	}
}

func TestRunOutageFollowsTheCaller(t *testing.T) {
	cfg := short()
	t.Run("attempt limit", func(t *testing.T) {
		var numbers []int
		p := sim.OutagePolicy{Name: "two", New: func(backoff.Clock) sim.Caller {
			return sim.Caller{MaxAttempts: 2, Strategy: backoff.StrategyFunc(func(a backoff.Attempt) (time.Duration, bool) {
				numbers = append(numbers, a.Number)
				return 0, true
			})}
		}}
		r, err := sim.RunOutage(cfg, p, 3)
		require.NoError(t, err)
		require.NotEmpty(t, numbers)
		for _, n := range numbers {
			require.Equal(t, 1, n, "with 2 attempts only the first failure is retried")
		}
		assert.Equal(t, r.Requests+len(numbers), r.Attempts)
	})
	t.Run("strategy stops", func(t *testing.T) {
		p := sim.OutagePolicy{Name: "stop", New: func(backoff.Clock) sim.Caller {
			return sim.Caller{MaxAttempts: 5, Strategy: backoff.StrategyFunc(func(backoff.Attempt) (time.Duration, bool) { return 0, false })}
		}}
		r, err := sim.RunOutage(cfg, p, 3)
		require.NoError(t, err)
		assert.Equal(t, r.Requests, r.Attempts)
	})
	t.Run("budget refuses", func(t *testing.T) {
		p := sim.OutagePolicy{Name: "b", New: func(backoff.Clock) sim.Caller {
			return sim.Caller{MaxAttempts: 3, Strategy: backoff.Fixed(0), Budget: backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.01, Burst: 1})}
		}}
		r, err := sim.RunOutage(cfg, p, 3)
		require.NoError(t, err)
		assert.Positive(t, r.Refused)
		assert.LessOrEqual(t, r.Attempts-r.Requests, 100*1+int(0.01*float64(r.Requests))+100, "retries stay within the budgets")
	})
	t.Run("breaker rejects on the simulated clock", func(t *testing.T) {
		var changes []backoff.State
		var at []time.Duration
		var clock backoff.Clock
		p := sim.OutagePolicy{Name: "br", New: func(c backoff.Clock) sim.Caller {
			clock = c
			return sim.Caller{MaxAttempts: 1, Breaker: backoff.NewBreaker(backoff.BreakerSettings{
				OpenFor: time.Second,
				Clock:   c,
				OnStateChange: func(_, to backoff.State) {
					changes = append(changes, to)
					at = append(at, clock.(*sim.Clock).Elapsed())
				},
			})}
		}}
		c := cfg
		c.Shared = true
		r, err := sim.RunOutage(c, p, 3)
		require.NoError(t, err)
		assert.Positive(t, r.Rejected)
		require.GreaterOrEqual(t, len(changes), 3)
		assert.Equal(t, backoff.Open, changes[0])
		// The first attempts of the stall time out 200ms after it began.
		assert.GreaterOrEqual(t, at[0], c.StallStart+c.Timeout)
		assert.Less(t, at[0], c.StallEnd+c.Timeout)
		assert.Equal(t, backoff.Closed, changes[len(changes)-1], "the breaker closes once the server is back")
	})
	t.Run("bad policy", func(t *testing.T) {
		p := sim.OutagePolicy{Name: "zero", New: func(backoff.Clock) sim.Caller { return sim.Caller{} }}
		_, err := sim.RunOutage(cfg, p, 3)
		require.Error(t, err)
	})
}

func TestRunOutageRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(*sim.OutageConfig)
	}{
		{name: "no clients", change: func(c *sim.OutageConfig) { c.Clients = 0 }},
		{name: "zero rate", change: func(c *sim.OutageConfig) { c.Rate = 0 }},
		{name: "zero bin", change: func(c *sim.OutageConfig) { c.Bin = 0 }},
		{name: "stall backwards", change: func(c *sim.OutageConfig) { c.StallEnd = c.StallStart - 1 }},
		{name: "stall past the end", change: func(c *sim.OutageConfig) { c.Duration = c.StallEnd }},
		{name: "stall in the first bin", change: func(c *sim.OutageConfig) { c.StallStart = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sim.DefaultOutage
			tt.change(&cfg)
			_, err := sim.RunOutage(cfg, policy(t, "none"), 1)
			require.Error(t, err)
		})
	}
}

// TestOutageShowsMetastability checks, on a 6s run with two seeds, what
// RESULTS.md reports from the full run.
func TestOutageShowsMetastability(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := short()
	policies := sim.OutagePolicies()
	perClient, firsts, err := sim.OutageSweep(ctx, cfg, policies, 2, 1, 0)
	require.NoError(t, err)
	shared := cfg
	shared.Shared = true
	together, _, err := sim.OutageSweep(ctx, shared, policies, 2, 1, 0)
	require.NoError(t, err)
	rows := map[string]sim.OutageRow{}
	runs := map[string]sim.OutageRun{}
	sharedRows := map[string]sim.OutageRow{}
	for i, p := range policies {
		rows[p.Name] = perClient[i]
		runs[p.Name] = firsts[i]
		sharedRows[p.Name] = together[i]
		t.Logf("%-24s per client: amp %.2f success %.3f recovered %d/2 in %.2fs | shared: amp %.2f success %.3f recovered %d/2 in %.2fs",
			p.Name, perClient[i].Amplification, perClient[i].SuccessRate, perClient[i].RecoveredSeeds, perClient[i].RecoveryS,
			together[i].Amplification, together[i].SuccessRate, together[i].RecoveredSeeds, together[i].RecoveryS)
	}
	stallEnd := int(cfg.StallEnd/cfg.Bin) - 1
	last := len(runs["none"].Backlog) - 1

	// No retries: the backlog of the stall drains and the service recovers.
	assert.Equal(t, 1.0, rows["none"].Amplification)
	assert.Equal(t, 2, rows["none"].RecoveredSeeds)
	assert.Less(t, rows["none"].RecoveryS, 1.0)

	// Plain retries, whatever the strategy: a metastable failure. Every
	// attempt times out, each request makes three, and the backlog grows
	// long after the stall has ended.
	for _, name := range []string{"exponential", "full", "decorrelated"} {
		for _, r := range []sim.OutageRow{rows[name], sharedRows[name]} {
			assert.Greater(t, r.Amplification, 2.0, name)
			assert.Zero(t, r.RecoveredSeeds, name)
		}
		b := runs[name].Backlog
		assert.Greater(t, b[last], 5*b[stallEnd], "%s: the backlog keeps growing", name)
	}

	// With one budget per service the retries stay near 1x and it recovers.
	// With one budget per client, the clients' bursts add up: the load
	// stays near 1x but the backlog takes seconds to drain.
	for _, name := range []string{"exponential+budget", "full+budget", "decorrelated+budget"} {
		assert.Less(t, sharedRows[name].Amplification, 1.05, name)
		assert.Equal(t, 2, sharedRows[name].RecoveredSeeds, name)
		assert.Less(t, sharedRows[name].RecoveryS, 1.5, name)
		assert.Less(t, rows[name].Amplification, 1.3, name)
		b := runs[name].Backlog
		assert.Less(t, b[last], slices.Max(b), "%s: the backlog drains", name)
	}

	// Production's strategy and attempts without its budget and breaker:
	// metastable, at more than three attempts per request.
	for _, r := range []sim.OutageRow{rows["plain retries"], sharedRows["plain retries"]} {
		assert.Greater(t, r.Amplification, 3.0)
		assert.Zero(t, r.RecoveredSeeds)
	}
	// Production(): its breakers open during the stall for OpenFor, 1s,
	// then close, and the service recovers: within 1s with one breaker and
	// budget for all the clients, within 2s with one per client, whose
	// breakers each open on their own failures. The load stays below 1.3x.
	for _, r := range []sim.OutageRow{rows["production"], sharedRows["production"]} {
		assert.LessOrEqual(t, r.Amplification, 1.3)
		assert.Equal(t, 2, r.RecoveredSeeds)
	}
	assert.Less(t, sharedRows["production"].RecoveryS, 1.0)
	assert.Less(t, rows["production"].RecoveryS, 2.0)
	assert.Less(t, runs["production"].Backlog[last], cfg.Timeout, "the backlog has drained")

	// Adaptive without a budget does not prevent the metastable failure.
	assert.Zero(t, rows["adaptive"].RecoveredSeeds)
}

// TestLongOutage checks, on 20 clients and one seed, what RESULTS.md
// reports from the full run of the long outage: the server is down for
// 60s. Production's breaker opens after its run of failures, and probes
// after Open periods of 1, 2, 4, 8 and 16s (at about 1, 3, 7, 15 and 31s),
// then 30s (61s, after the outage): five probes during it. The probe after
// the outage finds the server up, so goodput is back within 31s. Plain
// retries hammer the dead server all along (at 20 clients the server, 20%
// busy, then takes their burst; at 100 it does not, see RESULTS.md).
func TestLongOutage(t *testing.T) {
	t.Parallel()
	cfg := sim.DefaultLongOutage
	cfg.Clients = 20
	policies := []sim.OutagePolicy{policy(t, "none"), policy(t, "plain retries"), policy(t, "production")}
	rows, runs, err := sim.OutageSweep(context.Background(), cfg, policies, 1, 1, 0)
	require.NoError(t, err)
	for i, r := range rows {
		t.Logf("%-14s amp %.2f success %.3f recovered %d in %.2fs; per caller during the outage: ≤%d attempts, ≤%d probes",
			r.Policy, r.Amplification, r.SuccessRate, r.RecoveredSeeds, r.RecoveryS, r.StallAttempts, r.StallProbes)
		require.Len(t, runs[i].StallProbes, cfg.Clients)
	}
	none, plain, prod := rows[0], rows[1], rows[2]

	for c, probes := range runs[2].StallProbes {
		assert.Equal(t, 5, probes, "caller %d", c)
		assert.LessOrEqual(t, runs[2].StallAttempts[c], 10+5, "caller %d: its run of failures, then the probes", c)
	}
	assert.Equal(t, 1, prod.RecoveredSeeds)
	assert.Less(t, prod.RecoveryS, 31.0)
	assert.Equal(t, 1, none.RecoveredSeeds)
	assert.Zero(t, none.StallProbes)

	assert.Greater(t, plain.StallAttempts, 100*prod.StallAttempts, "plain retries keep calling the dead server")
	assert.Greater(t, plain.Amplification, 2.5)
}

func TestOutageSweepDoesNotDependOnWorkers(t *testing.T) {
	cfg := short()
	cfg.Duration = 3 * time.Second
	ps := sim.OutagePolicies()[:3]
	a, ra, err := sim.OutageSweep(context.Background(), cfg, ps, 2, 9, 1)
	require.NoError(t, err)
	b, rb, err := sim.OutageSweep(context.Background(), cfg, ps, 2, 9, 3)
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Equal(t, ra, rb)
	_, _, err = sim.OutageSweep(context.Background(), cfg, ps, 0, 9, 1)
	require.Error(t, err)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = sim.OutageSweep(cancelled, cfg, ps, 2, 9, 1)
	require.ErrorIs(t, err, context.Canceled)
}

func TestOutageMetrics(t *testing.T) {
	cfg := sim.OutageConfig{
		Bin: 10 * time.Millisecond, StallStart: 20 * time.Millisecond, StallEnd: 30 * time.Millisecond,
		GoodFraction: 0.9, RecoveryWindow: 20 * time.Millisecond,
	}
	r := sim.OutageRun{
		Requests: 40, Attempts: 50, Successes: 30,
		Latencies: []time.Duration{4, 1, 3, 2},
		Load:      []int{10, 10, 15, 5, 10},
		Offered:   []int{10, 10, 10, 5, 5},
		Goodput:   []int{10, 10, 0, 5, 5},
	}
	m := r.Metrics(cfg)
	assert.Equal(t, 1.25, m.Amplification)
	assert.Equal(t, 1.5, m.PeakRatio)
	assert.Equal(t, 0.75, m.SuccessRate)
	assert.Equal(t, time.Duration(2), m.P50)
	assert.Equal(t, time.Duration(4), m.P99)
	assert.True(t, m.Recovered)
	assert.Equal(t, time.Duration(0), m.Recovery)
}

func TestWriteOutageCSV(t *testing.T) {
	rows := []sim.OutageRow{
		{Policy: "full+budget", Seeds: 5, Amplification: 1.0149, PeakRatio: 2.16, SuccessRate: 0.92849, P50MS: 2.06, P99MS: 191.24, RecoveredSeeds: 5, RecoveryS: 0.6},
		{Policy: "full", Seeds: 5, Amplification: 2.6, PeakRatio: 4.9, SuccessRate: 0.199, P50MS: 1.8, P99MS: 8.3, RecoveredSeeds: 4, RecoveryS: 1.2},
	}
	var buf bytes.Buffer
	require.NoError(t, sim.WriteOutageCSV(&buf, rows))
	require.Equal(t,
		"policy,amplification,peak_ratio,success_rate,p50_ms,p99_ms,recovery_s,stall_attempts_per_caller,stall_probes_per_caller\n"+
			"full+budget,1.01,2.2,0.928,2.1,191.2,0.60,0,0\n"+
			"full,2.60,4.9,0.199,1.8,8.3,never,0,0\n", buf.String())
}

func TestPlotOutage(t *testing.T) {
	t.Parallel()
	cfg := short()
	cfg.Duration = 3 * time.Second
	ps := sim.OutagePolicies()[:3]
	dir := filepath.Join(t.TempDir(), "plots")
	for _, c := range []struct{ shared, down bool }{{false, false}, {true, false}, {false, true}} {
		cfg.Shared, cfg.Down = c.shared, c.down
		rows, runs, err := sim.OutageSweep(context.Background(), cfg, ps, 1, 1, 0)
		require.NoError(t, err)
		require.NoError(t, sim.PlotOutage(cfg, rows, runs, dir))
		require.Error(t, sim.PlotOutage(cfg, rows, runs[:1], dir))
	}
	for _, f := range []string{"outage_load.png", "outage_backlog.png", "outage_shared_load.png", "outage_shared_backlog.png",
		"longoutage_load.png", "longoutage_backlog.png"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")), "%s is a PNG", f)
	}
}
