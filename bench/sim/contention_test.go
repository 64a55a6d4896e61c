package sim_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/bench/sim"
)

func TestRunContentionEveryClientSucceeds(t *testing.T) {
	for _, s := range sim.ContentionStrategies {
		t.Run(s.Name, func(t *testing.T) {
			const n = 30
			res := sim.RunContention(n, s.Strategy, 42)
			require.Len(t, res.Attempts, n)
			total := 0
			for i, a := range res.Attempts {
				assert.GreaterOrEqual(t, a, 1, "client %d", i)
				total += a
			}
			assert.Equal(t, res.Calls, total)
			// Only one write can succeed per version, and each success
			// needs its own read-write round.
			assert.Greater(t, res.Calls, n)
			assert.Greater(t, res.Time, 4*time.Millisecond)
		})
	}
}

func TestRunContentionOneClient(t *testing.T) {
	res := sim.RunContention(1, backoff.Fixed(0), 7)
	require.Equal(t, 1, res.Calls)
	require.Equal(t, []int{1}, res.Attempts)
	require.Positive(t, res.Time)
}

func TestRunContentionAsksTheStrategy(t *testing.T) {
	// Two clients read the same version; the one that writes second fails
	// once and then succeeds alone.
	var asked []backoff.Attempt
	s := backoff.StrategyFunc(func(a backoff.Attempt) (time.Duration, bool) {
		asked = append(asked, a)
		return 3 * time.Millisecond, true
	})
	res := sim.RunContention(2, s, 3)
	require.Equal(t, 3, res.Calls)
	require.Len(t, asked, 1)
	assert.Equal(t, 1, asked[0].Number)
	assert.Equal(t, time.Duration(0), asked[0].Prev)
	assert.GreaterOrEqual(t, asked[0].Random, 0.0)
	assert.Less(t, asked[0].Random, 1.0)
}

func TestRunContentionPassesPrevAndNumber(t *testing.T) {
	// With many clients and a wait that names its attempt, every Attempt
	// must carry the client's failure count and its previous wait.
	s := backoff.StrategyFunc(func(a backoff.Attempt) (time.Duration, bool) {
		want := time.Duration(0)
		if a.Number > 1 {
			want = time.Duration(a.Number-1) * time.Millisecond
		}
		if a.Prev != want {
			t.Errorf("attempt %d: Prev %v, want %v", a.Number, a.Prev, want)
		}
		return time.Duration(a.Number) * time.Millisecond, true
	})
	res := sim.RunContention(20, s, 5)
	require.Greater(t, res.Calls, 20)
}

func TestRunContentionStrategyStops(t *testing.T) {
	stop := backoff.StrategyFunc(func(backoff.Attempt) (time.Duration, bool) { return 0, false })
	res := sim.RunContention(5, stop, 1)
	// Everyone writes once; the first write wins and the others give up.
	assert.Equal(t, 5, res.Calls)
	assert.Equal(t, []int{1, 1, 1, 1, 1}, res.Attempts)
}

func TestRunContentionIsDeterministic(t *testing.T) {
	for _, s := range sim.ContentionStrategies {
		a := sim.RunContention(40, s.Strategy, 11)
		b := sim.RunContention(40, s.Strategy, 11)
		require.Equal(t, a, b, s.Name)
		c := sim.RunContention(40, s.Strategy, 12)
		require.NotEqual(t, a, c, s.Name)
	}
}

func TestContentionSweepDoesNotDependOnWorkers(t *testing.T) {
	ctx := context.Background()
	clients := []int{10, 30}
	one, err := sim.ContentionSweep(ctx, clients, sim.ContentionStrategies, 5, 99, 1)
	require.NoError(t, err)
	three, err := sim.ContentionSweep(ctx, clients, sim.ContentionStrategies, 5, 99, 3)
	require.NoError(t, err)
	require.Equal(t, one, three)
	require.Len(t, one, len(clients)*len(sim.ContentionStrategies))
	for i, r := range one {
		assert.Equal(t, clients[i/len(sim.ContentionStrategies)], r.Clients)
		assert.Equal(t, sim.ContentionStrategies[i%len(sim.ContentionStrategies)].Name, r.Strategy)
		assert.Equal(t, 5, r.Runs)
	}
}

func TestContentionSweepRejects(t *testing.T) {
	ctx := context.Background()
	_, err := sim.ContentionSweep(ctx, []int{10}, sim.ContentionStrategies, 0, 1, 1)
	require.Error(t, err)
	_, err = sim.ContentionSweep(ctx, []int{10, 0}, sim.ContentionStrategies, 1, 1, 1)
	require.Error(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = sim.ContentionSweep(cancelled, []int{10, 20, 30}, sim.ContentionStrategies, 1, 1, 1)
	require.ErrorIs(t, err, context.Canceled)
}

// TestContentionReproducesTheBlog checks, on a reduced sweep, the findings of
// "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015) as this
// model shows them. In calls: full ≈ equal < decorrelated < exponential ≤
// none. The model shows the strict order full < equal < decorrelated from
// about 40 clients (full and equal meet again within 1% from about 150); at
// 20 clients the three jittered strategies lie within 10% of one another
// (equal the highest), and exponential without jitter is no better than
// none. In time: exponential far above every jittered strategy, and equal
// above full.
func TestContentionReproducesTheBlog(t *testing.T) {
	t.Parallel()
	clients := []int{20, 50, 100}
	rows, err := sim.ContentionSweep(context.Background(), clients, sim.ContentionStrategies, 40, 1, 0)
	require.NoError(t, err)
	cells := map[int]map[string]sim.ContentionRow{}
	for _, r := range rows {
		if cells[r.Clients] == nil {
			cells[r.Clients] = map[string]sim.ContentionRow{}
		}
		cells[r.Clients][r.Strategy] = r
	}
	within := func(a, b, frac float64) bool { return a <= b*(1+frac) && b <= a*(1+frac) }
	for _, n := range clients {
		c := cells[n]
		calls := func(s string) float64 { return c[s].CallsMean }
		ms := func(s string) float64 { return c[s].TimeMSMean }
		t.Logf("%3d clients: calls none %.0f exp %.0f equal %.0f full %.0f decorr %.0f; ms exp %.0f equal %.0f full %.0f decorr %.0f",
			n, calls("none"), calls("exponential"), calls("equal"), calls("full"), calls("decorrelated"),
			ms("exponential"), ms("equal"), ms("full"), ms("decorrelated"))

		assert.True(t, within(calls("full"), calls("equal"), 0.10), "%d clients: full ≈ equal", n)
		for _, j := range []string{"full", "equal", "decorrelated"} {
			assert.Less(t, calls(j), 0.8*calls("exponential"), "%d clients: %s well below exponential in calls", n, j)
			assert.Greater(t, ms("exponential"), 5*ms(j), "%d clients: exponential's time far above %s's", n, j)
		}
		assert.Greater(t, ms("equal"), ms("full"), "%d clients: equal's time above full's", n)
		if n >= 40 {
			assert.Less(t, calls("full"), calls("equal"), "%d clients: full < equal", n)
			assert.Less(t, calls("equal"), calls("decorrelated"), "%d clients: equal < decorrelated", n)
			assert.Less(t, calls("exponential"), calls("none"), "%d clients: exponential < none", n)
		} else {
			assert.True(t, within(calls("full"), calls("decorrelated"), 0.10), "%d clients: full ≈ decorrelated", n)
			assert.True(t, within(calls("exponential"), calls("none"), 0.05), "%d clients: exponential ≈ none", n)
		}
	}
}

func TestWriteContentionCSV(t *testing.T) {
	rows := []sim.ContentionRow{
		{Clients: 10, Strategy: "full", Runs: 100, CallsMean: 39.25, TimeMSMean: 457.349, AttemptsP50: 4, AttemptsP99: 7},
	}
	var buf bytes.Buffer
	require.NoError(t, sim.WriteContentionCSV(&buf, rows))
	require.Equal(t,
		"clients,strategy,runs,calls_mean,time_ms_mean,attempts_p50,attempts_p99\n"+
			"10,full,100,39.2,457.3,4,7\n", buf.String())
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 2)
}

func TestPlotContention(t *testing.T) {
	t.Parallel()
	rows, err := sim.ContentionSweep(context.Background(), []int{5, 10}, sim.ContentionStrategies, 2, 1, 1)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "plots")
	require.NoError(t, sim.PlotContention(rows, dir))
	for _, f := range []string{"contention_calls.png", "contention_time.png"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")), "%s is a PNG", f)
	}
}
