package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
)

// BenchmarkLimiter measures Acquire and Done with a free slot: unpaced (the
// state until the first throttle) and paced at a rate that never makes a
// call wait, so that only the bucket's own cost shows.
func BenchmarkLimiter(b *testing.B) {
	cases := []struct {
		name string
		s    backoff.LimiterSettings
	}{
		{"unpaced", backoff.LimiterSettings{}},
		{"paced", backoff.LimiterSettings{InitialRate: 1e12, MinRate: 1e12, Burst: 1 << 20}},
	}
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			l := backoff.NewLimiter(c.s)
			b.ReportAllocs()
			for b.Loop() {
				s, err := l.Acquire(ctx)
				if err != nil {
					b.Fatal(err)
				}
				s.Done(nil, time.Millisecond)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			l := backoff.NewLimiter(c.s)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s, err := l.Acquire(ctx)
					if err != nil {
						b.Fatal(err)
					}
					s.Done(nil, time.Millisecond)
				}
			})
		})
	}
}
