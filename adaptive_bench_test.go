package backoff_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
)

var (
	sinkDuration       time.Duration
	sinkSharedDuration atomic.Int64 // written by the RunParallel goroutines
)

// adaptiveOutcomes mixes what a busy service returns, so that the base keeps
// moving and every branch of Observe runs.
var adaptiveOutcomes = [...]backoff.Outcome{
	{Err: errUnavail, Latency: 30 * time.Millisecond},
	{Latency: 20 * time.Millisecond},  // fast
	{Latency: 150 * time.Millisecond}, // ordinary
	{Err: errBadRequest},              // teaches nothing
	{Latency: 2 * time.Second},        // slow
	{Err: errBoom, Latency: time.Second},
	{Latency: 5 * time.Millisecond}, // fast
	{Latency: 120 * time.Millisecond},
}

// BenchmarkAdaptive is one Observe and one Delay, as Retry makes them for a
// failed attempt.
func BenchmarkAdaptive(b *testing.B) {
	ad := backoff.NewAdaptive(backoff.AdaptiveSettings{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		o := adaptiveOutcomes[i%len(adaptiveOutcomes)]
		ad.Observe(o)
		sinkDuration, _ = ad.Delay(backoff.Attempt{Number: i%5 + 1, Err: o.Err})
		i++
	}
}

// BenchmarkAdaptiveParallel is BenchmarkAdaptive from every P at once on one
// shared Adaptive, as the callers of one service use it.
func BenchmarkAdaptiveParallel(b *testing.B) {
	ad := backoff.NewAdaptive(backoff.AdaptiveSettings{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var d time.Duration
		i := 0
		for pb.Next() {
			o := adaptiveOutcomes[i%len(adaptiveOutcomes)]
			ad.Observe(o)
			d, _ = ad.Delay(backoff.Attempt{Number: i%5 + 1, Err: o.Err})
			i++
		}
		sinkSharedDuration.Store(int64(d))
	})
}

// BenchmarkAdaptiveDelayParallel is Delay alone from every P, the lock-free
// read that a retrying caller makes.
func BenchmarkAdaptiveDelayParallel(b *testing.B) {
	ad := backoff.NewAdaptive(backoff.AdaptiveSettings{})
	ad.Observe(backoff.Outcome{Err: errBoom})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var d time.Duration
		n := 0
		for pb.Next() {
			d, _ = ad.Delay(backoff.Attempt{Number: n%5 + 1})
			n++
		}
		sinkSharedDuration.Store(int64(d))
	})
}
