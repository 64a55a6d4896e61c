package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestQueueOrdersByTimeThenPush(t *testing.T) {
	type ev struct {
		at    time.Duration
		order int // the push order
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var q queue[ev]
	var want []ev
	for i := range 1000 {
		// Few distinct times, so that ties are common.
		e := ev{at: time.Duration(rng.IntN(20)), order: i}
		q.push(e.at, e)
		want = append(want, e)
	}
	slices.SortStableFunc(want, func(a, b ev) int { return int(a.at - b.at) })
	var got []ev
	for q.len() > 0 {
		at, e := q.pop()
		require.Equal(t, e.at, at)
		got = append(got, e)
	}
	require.Equal(t, want, got)
}

func TestQueueInterleaved(t *testing.T) {
	var q queue[string]
	q.push(5, "b")
	q.push(1, "a")
	at, e := q.pop()
	require.Equal(t, time.Duration(1), at)
	require.Equal(t, "a", e)
	q.push(5, "c")
	q.push(3, "x")
	var got []string
	for q.len() > 0 {
		_, e := q.pop()
		got = append(got, e)
	}
	require.Equal(t, []string{"x", "b", "c"}, got)
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []int
		p      float64
		want   int
	}{
		{name: "single", sorted: []int{7}, p: 0.5, want: 7},
		{name: "median of four", sorted: []int{1, 2, 3, 4}, p: 0.5, want: 2},
		{name: "median of five", sorted: []int{1, 2, 3, 4, 5}, p: 0.5, want: 3},
		{name: "p99 of 100", sorted: seq(100), p: 0.99, want: 99},
		{name: "p99 of 1000", sorted: seq(1000), p: 0.99, want: 990},
		{name: "p0 is the least", sorted: []int{3, 4}, p: 0, want: 3},
		{name: "p1 is the most", sorted: []int{3, 4}, p: 1, want: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, percentile(tt.sorted, tt.p))
		})
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestRunSeedSpreads(t *testing.T) {
	seen := map[uint64]bool{}
	for c := range uint64(50) {
		for r := range uint64(50) {
			s := runSeed(1, c, r)
			require.False(t, seen[s], "seed collision at (%d, %d)", c, r)
			seen[s] = true
		}
	}
	require.Equal(t, runSeed(9, 3, 4), runSeed(9, 3, 4))
	require.NotEqual(t, runSeed(9, 3, 4), runSeed(9, 4, 3))
	require.NotEqual(t, runSeed(9, 3, 4), runSeed(10, 3, 4))
}
