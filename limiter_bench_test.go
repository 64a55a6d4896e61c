package backoff_test

import (
	"context"
	"sync"
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

// BenchmarkLimiterPeers measures, in the same run as BenchmarkLimiter, the
// two simplest fixed concurrency limits, which learn nothing: a buffered
// channel used as a semaphore, and a counter under a sync.Mutex. They are
// the floor against which the Limiter's cost is read, since absolute
// figures on a shared machine swing by a factor of two.
func BenchmarkLimiterPeers(b *testing.B) {
	b.Run("chan", func(b *testing.B) {
		sem := make(chan struct{}, 64)
		b.ReportAllocs()
		for b.Loop() {
			sem <- struct{}{}
			<-sem
		}
	})
	b.Run("chan/parallel", func(b *testing.B) {
		sem := make(chan struct{}, 64)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sem <- struct{}{}
				<-sem
			}
		})
	})
	var m mutexLimit
	b.Run("mutex", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if m.acquire() {
				m.release()
			}
		}
	})
	b.Run("mutex/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if m.acquire() {
					m.release()
				}
			}
		})
	})
}

type mutexLimit struct {
	mu    sync.Mutex
	inUse int
}

func (m *mutexLimit) acquire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inUse >= 64 {
		return false
	}
	m.inUse++
	return true
}

func (m *mutexLimit) release() {
	m.mu.Lock()
	m.inUse--
	m.mu.Unlock()
}
