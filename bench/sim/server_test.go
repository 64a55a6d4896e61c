package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServer(t *testing.T) {
	const ms = time.Millisecond
	type arrival struct{ at, wantEnd time.Duration }
	tests := []struct {
		name     string
		arrivals []arrival
	}{
		{name: "idle server serves at once", arrivals: []arrival{{10 * ms, 11 * ms}}},
		{name: "queued behind the one before", arrivals: []arrival{{10 * ms, 11 * ms}, {10 * ms, 12 * ms}, {11500 * time.Microsecond, 13 * ms}}},
		{name: "idle again after a gap", arrivals: []arrival{{10 * ms, 11 * ms}, {20 * ms, 21 * ms}}},
		{name: "arrives in the stall, served after it", arrivals: []arrival{{100 * ms, 201 * ms}, {150 * ms, 202 * ms}}},
		{name: "in service when the stall starts, paused by it", arrivals: []arrival{{99500 * time.Microsecond, 200500 * time.Microsecond}}},
		{name: "queued into the stall", arrivals: []arrival{{99 * ms, 100 * ms}, {99 * ms, 201 * ms}}},
		{name: "ends exactly as the stall starts", arrivals: []arrival{{99 * ms, 100 * ms}}},
		{name: "after the stall", arrivals: []arrival{{250 * ms, 251 * ms}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := server{service: ms, stallStart: 100 * ms, stallEnd: 200 * ms}
			for i, a := range tt.arrivals {
				require.Equal(t, a.wantEnd, s.serve(a.at), "arrival %d at %v", i, a.at)
				require.Equal(t, a.wantEnd, s.busyUntil)
			}
		})
	}
}

func TestRecovery(t *testing.T) {
	cfg := OutageConfig{Bin: 10 * time.Millisecond, StallEnd: 30 * time.Millisecond, GoodFraction: 0.9, RecoveryWindow: 30 * time.Millisecond}
	tests := []struct {
		name          string
		offered, good []int
		want          time.Duration
		recovered     bool
	}{
		{
			name:    "good from the stall's end",
			offered: []int{10, 10, 10, 10, 10, 10, 10, 10},
			good:    []int{10, 0, 0, 10, 10, 10, 10, 10},
			want:    0, recovered: true,
		},
		{
			name:    "good from the third bin after the stall",
			offered: []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10},
			good:    []int{10, 0, 0, 0, 0, 10, 10, 10, 10, 10},
			want:    20 * time.Millisecond, recovered: true,
		},
		{
			name:    "a window just at 90% counts",
			offered: []int{10, 10, 10, 10, 10, 10, 10, 10},
			good:    []int{10, 0, 0, 10, 7, 10, 10, 10},
			want:    0, recovered: true,
		},
		{
			name:    "a window below 90% does not",
			offered: []int{10, 10, 10, 10, 10, 10, 10, 10},
			good:    []int{10, 0, 0, 10, 6, 10, 10, 10},
			want:    20 * time.Millisecond, recovered: true,
		},
		{
			name:    "back, then down again: not recovered",
			offered: []int{10, 10, 10, 10, 10, 10, 10, 10, 10},
			good:    []int{10, 0, 0, 10, 10, 10, 0, 0, 0},
		},
		{
			name:    "good only in the last window is too late to tell",
			offered: []int{10, 10, 10, 10, 10, 10},
			good:    []int{10, 0, 0, 0, 10, 10},
		},
		{
			name:    "never",
			offered: []int{10, 10, 10, 10, 10, 10},
			good:    []int{10, 0, 0, 0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := OutageRun{Offered: tt.offered, Goodput: tt.good}
			got, ok := r.recovery(cfg)
			require.Equal(t, tt.recovered, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
