package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/bench/sim"
)

var _ backoff.Clock = (*sim.Clock)(nil)

func TestClock(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := sim.NewClock(epoch)
	require.Equal(t, epoch, c.Now())

	now := c.After(0)
	late := c.After(30 * time.Millisecond)
	early := c.After(10 * time.Millisecond)
	require.Equal(t, epoch, <-now)

	c.Set(10 * time.Millisecond)
	require.Equal(t, epoch.Add(10*time.Millisecond), c.Now())
	require.Equal(t, 10*time.Millisecond, c.Elapsed())
	require.Equal(t, epoch.Add(10*time.Millisecond), <-early)
	select {
	case <-late:
		t.Fatal("After(30ms) fired at 10ms")
	default:
	}

	c.Set(45 * time.Millisecond)
	require.Equal(t, epoch.Add(45*time.Millisecond), <-late)
	require.Panics(t, func() { c.Set(44 * time.Millisecond) })
}
