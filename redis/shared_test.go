package redis_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/redis"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// period is the tests' Period, the default one: shorter ones made the tests flaky on a
// loaded 2-core machine under -race, where a round can be late by tens of
// milliseconds and a replica's lease, renewed twice a Period, then lapses.
const period = 200 * time.Millisecond

func settings(t *testing.T, c goredis.Scripter, pfx string) redis.Settings {
	return redis.Settings{Client: c, Prefix: pfx, Period: period, Trace: &backoff.Trace{
		Shared: func(key string, err error) {
			if err != nil {
				t.Logf("%s falls back: %v", key, err)
				return
			}
			t.Logf("%s recovers", key)
		},
	}}
}

var throttle = &backoff.StatusError{Code: http.StatusTooManyRequests}

func TestFleetLimiter(t *testing.T) {
	c := client(t, needRedis(t))
	s := settings(t, c, prefix(t))
	var fleet []*redis.Limiter
	for range 4 {
		l := redis.NewLimiter("api", backoff.LimiterSettings{MaxConcurrency: 40}, s)
		defer l.Close()
		fleet = append(fleet, l)
	}
	// The fleet's 40 slots are divided among its 4 replicas.
	eventually(t, "each replica holds a quarter of the concurrency", func() bool {
		for _, l := range fleet {
			if l.Concurrency() != 10 {
				return false
			}
		}
		return true
	})
	for _, l := range fleet {
		assert.True(t, math.IsInf(l.Rate(), 1), "nothing throttled yet: unpaced")
	}
	// A throttle on one replica paces them all, and cuts the fleet's
	// concurrency (40·0.7 = 28, 7 each).
	ctx := context.Background()
	for range 5 {
		sl, err := fleet[0].Acquire(ctx)
		require.NoError(t, err)
		sl.Done(nil, time.Millisecond)
	}
	sl, err := fleet[0].Acquire(ctx)
	require.NoError(t, err)
	sl.Done(throttle, time.Millisecond)
	eventually(t, "every replica is paced, with 7 slots", func() bool {
		for _, l := range fleet {
			if math.IsInf(l.Rate(), 1) || l.Concurrency() != 7 {
				return false
			}
		}
		return true
	})
}

func TestFleetLimiterInitialRateIsShared(t *testing.T) {
	c := client(t, needRedis(t))
	s := settings(t, c, prefix(t))
	var fleet []*redis.Limiter
	for range 4 {
		l := redis.NewLimiter("api", backoff.LimiterSettings{InitialRate: 100}, s)
		defer l.Close()
		fleet = append(fleet, l)
	}
	// The fleet's 100/s, a quarter each, near the curve's plateau.
	eventually(t, "each replica paced at a quarter of the rate", func() bool {
		for _, l := range fleet {
			if r := l.Rate(); !(r > 20 && r < 30) {
				return false
			}
		}
		return true
	})
}

func states(fleet []*redis.Breaker) (open, closed int) {
	for _, b := range fleet {
		switch b.State() {
		case backoff.Open:
			open++
		case backoff.Closed:
			closed++
		}
	}
	return open, closed
}

func TestBreakerSpread(t *testing.T) {
	c := client(t, needRedis(t))
	s := settings(t, c, prefix(t))
	const openFor = time.Second
	var fleet []*redis.Breaker
	for range 4 {
		b := redis.NewBreaker("api", backoff.BreakerSettings{OpenFor: openFor, ConsecutiveFailures: 2}, s)
		defer b.Close()
		fleet = append(fleet, b)
	}
	time.Sleep(3 * period) // every replica is a member
	// Two failures open replica 0 on its own ...
	for range 2 {
		p, err := fleet[0].Allow()
		require.NoError(t, err)
		p.Done(errors.New("down"))
	}
	require.Equal(t, backoff.Open, fleet[0].State())
	// ... and the others follow.
	eventually(t, "every replica open", func() bool { o, _ := states(fleet); return o == 4 })

	// Past the Open period, the fleet admits one probe (HalfOpenProbes
	// 1), however hard every replica is asked, while that probe runs (for
	// less than OpenFor: after that, its breaker lets another go).
	// The asking goes on for half an OpenFor after the first probe is
	// admitted, however late that is on a loaded machine, so that the probe
	// is still running when it stops.
	var probe backoff.Permit
	admitted := 0
	var prober *redis.Breaker
	giveUp := time.Now().Add(10 * time.Second)
	var until time.Time
	for admitted == 0 || time.Now().Before(until) {
		for _, b := range fleet {
			if p, err := b.Allow(); err == nil {
				if admitted == 0 {
					until = time.Now().Add(openFor / 2)
				}
				admitted++
				probe, prober = p, b
			}
		}
		require.True(t, time.Now().Before(giveUp), "no probe admitted")
		time.Sleep(time.Millisecond)
	}
	assert.Equal(t, 1, admitted, "probes admitted fleet-wide")
	assert.Same(t, fleet[0], prober, "the replica that opened probes")

	// The probe succeeds: the close spreads.
	probe.Done(nil)
	eventually(t, "every replica closed", func() bool {
		_, c := states(fleet)
		return c == 4
	})
}

func TestBreakerFailedProbeReopensTheFleet(t *testing.T) {
	c := client(t, needRedis(t))
	s := settings(t, c, prefix(t))
	var fleet []*redis.Breaker
	for range 3 {
		b := redis.NewBreaker("api", backoff.BreakerSettings{OpenFor: time.Second}, s)
		defer b.Close()
		fleet = append(fleet, b)
	}
	time.Sleep(3 * period)
	fleet[1].Trip()
	eventually(t, "every replica open", func() bool { o, _ := states(fleet); return o == 3 })
	var p backoff.Permit
	eventually(t, "the prober admits its probe", func() bool {
		var err error
		p, err = fleet[1].Allow()
		return err == nil
	})
	p.Done(errors.New("still down"))
	require.Equal(t, backoff.Open, fleet[1].State())
	// The others stay open through the new Open period, past the old
	// one's hold, and the fleet still closes after a good probe.
	// Past the old hold (the old Open period and a Period), well within
	// the new Open period of a second, with room for a loaded machine.
	time.Sleep(period + 300*time.Millisecond)
	o, _ := states(fleet)
	assert.Equal(t, 3, o, "open after the failed probe")
	eventually(t, "the prober admits a second probe", func() bool {
		var err error
		p, err = fleet[1].Allow()
		return err == nil
	})
	p.Done(nil)
	eventually(t, "every replica closed", func() bool { _, c := states(fleet); return c == 3 })
}

func TestSharedBudget(t *testing.T) {
	c := client(t, needRedis(t))
	s := settings(t, c, prefix(t))
	var fleet []*redis.Budget
	for range 4 {
		b := redis.NewBudget("api", backoff.BudgetSettings{Burst: 20, Ratio: 0.5}, s)
		defer b.Close()
		fleet = append(fleet, b)
	}
	eventually(t, "each replica holds a quarter of the fleet's 20 tokens", func() bool {
		for _, b := range fleet {
			if b.Tokens() != 5 {
				return false
			}
		}
		return true
	})
	// The fleet's tokens, not 4 × 20: every retry of the fleet comes out
	// of one count.
	taken := 0
	for _, b := range fleet[:2] {
		for b.TryWithdraw() {
			taken++
		}
	}
	assert.Equal(t, 10, taken)
	eventually(t, "the withdrawals lower every share", func() bool {
		for _, b := range fleet {
			if b.Tokens() != 2.5 {
				return false
			}
		}
		return true
	})
	// Deposits on one replica raise every share: 8 first attempts × 0.5.
	for range 8 {
		fleet[3].Deposit()
	}
	eventually(t, "the deposits raise every share", func() bool {
		for _, b := range fleet {
			if b.Tokens() != 3.5 {
				return false
			}
		}
		return true
	})
}

func TestPrefixesDoNotMeet(t *testing.T) {
	c := client(t, needRedis(t))
	pa, pb := prefix(t)+"a:", prefix(t)+"b:"
	ba := redis.NewBreaker("api", backoff.BreakerSettings{}, settings(t, c, pa))
	defer ba.Close()
	bb := redis.NewBreaker("api", backoff.BreakerSettings{}, settings(t, c, pb))
	defer bb.Close()
	ua := redis.NewBudget("api", backoff.BudgetSettings{Burst: 4}, settings(t, c, pa))
	defer ua.Close()
	ub := redis.NewBudget("api", backoff.BudgetSettings{Burst: 4}, settings(t, c, pb))
	defer ub.Close()
	eventually(t, "both budgets hold their fleet's tokens", func() bool { return ua.Tokens() == 4 && ub.Tokens() == 4 })
	for ua.TryWithdraw() {
	}
	ba.Trip()
	// A witness in fleet a sees the open; fleet b's breaker must not.
	wa := redis.NewBreaker("api", backoff.BreakerSettings{}, settings(t, c, pa))
	defer wa.Close()
	eventually(t, "fleet a's other replica opens", func() bool { return wa.State() == backoff.Open })
	time.Sleep(5 * period)
	assert.Equal(t, backoff.Closed, bb.State(), "fleet b's breaker")
	assert.Equal(t, 4.0, ub.Tokens(), "fleet b's budget")
	assert.Equal(t, 0.0, ua.Tokens(), "fleet a's budget")
	keys, err := c.Keys(context.Background(), pb+"*").Result()
	require.NoError(t, err)
	assert.NotEmpty(t, keys)
	for _, k := range keys {
		assert.NotContains(t, k, pa)
	}
}

// events counts a Trace's calls per key.
type events struct {
	mu                  sync.Mutex
	fallbacks, recovers map[string]int
	down                map[string]bool // by replica/key: the last event was a fallback
	ups                 map[string]int  // by replica/key: recovers
	first               map[string]error
}

func newEvents() *events {
	return &events{fallbacks: map[string]int{}, recovers: map[string]int{}, down: map[string]bool{},
		ups: map[string]int{}, first: map[string]error{}}
}

func (e *events) trace() *backoff.Trace { return e.replicaTrace("") }

// replicaTrace is the trace of one replica, whose state down records.
func (e *events) replicaTrace(replica string) *backoff.Trace {
	return &backoff.Trace{Shared: func(key string, err error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if err != nil {
			e.fallbacks[key]++
			e.down[replica+"/"+key] = true
			if _, ok := e.first[key]; !ok {
				e.first[key] = err
			}
			return
		}
		e.recovers[key]++
		e.down[replica+"/"+key] = false
		e.ups[replica+"/"+key]++
	}}
}

// upsOf returns the recovers of every object of every replica.
func (e *events) upsOf(replicas int, keys ...string) map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := map[string]int{}
	for i := range replicas {
		for _, k := range keys {
			n := string(rune('a'+i)) + "/" + k
			m[n] = e.ups[n]
		}
	}
	return m
}

// all reports whether every object of every replica is down (or up).
func (e *events) all(down bool, replicas int, keys ...string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range replicas {
		for _, k := range keys {
			if e.down[string(rune('a'+i))+"/"+k] != down {
				return false
			}
		}
	}
	return true
}

func (e *events) counts(key string) (fallbacks, recovers int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fallbacks[key], e.recovers[key]
}

func TestGarbageUnderTheKeys(t *testing.T) {
	c := client(t, needRedis(t))
	pfx := prefix(t)
	ctx := context.Background()
	// A string where a hash belongs, and a hash with words for numbers.
	require.NoError(t, c.Set(ctx, pfx+"breaker:{br}", "junk", 0).Err())
	require.NoError(t, c.HSet(ctx, pfx+"budget:{bu}", "t", "many").Err())
	require.NoError(t, c.Set(ctx, pfx+"limiter:{li}:members", "junk", 0).Err())
	ev := newEvents()
	s := settings(t, c, pfx)
	s.Trace = ev.trace()
	br := redis.NewBreaker("br", backoff.BreakerSettings{}, s)
	defer br.Close()
	bu := redis.NewBudget("bu", backoff.BudgetSettings{Burst: 3}, s)
	defer bu.Close()
	li := redis.NewLimiter("li", backoff.LimiterSettings{}, s)
	defer li.Close()
	for _, k := range []string{"br", "bu", "li"} {
		eventually(t, k+" falls back, then recovers", func() bool {
			f, r := ev.counts(k)
			return f >= 1 && r >= 1
		})
		ev.mu.Lock()
		assert.ErrorIs(t, ev.first[k], redis.ErrGarbage, k)
		ev.mu.Unlock()
	}
	// And the state is the fleet's again.
	eventually(t, "the budget holds the fleet's tokens", func() bool { return bu.Tokens() == 3 })
	other := redis.NewBreaker("br", backoff.BreakerSettings{}, s)
	defer other.Close()
	time.Sleep(3 * period)
	br.Trip()
	eventually(t, "the open spreads", func() bool { return other.State() == backoff.Open })
}

func TestDebugSleep(t *testing.T) {
	a := needRedis(t)
	c := client(t, a)
	ctx := context.Background()
	ev := newEvents()
	s := settings(t, c, prefix(t))
	s.Trace = ev.trace()
	bu := redis.NewBudget("bu", backoff.BudgetSettings{}, s)
	defer bu.Close()
	br := redis.NewBreaker("br", backoff.BreakerSettings{}, s)
	defer br.Close()
	time.Sleep(3 * period)
	admin := goredis.NewClient(&goredis.Options{Addr: a, ReadTimeout: 5 * time.Second})
	defer admin.Close()
	sleeping := make(chan error, 1)
	go func() { sleeping <- admin.Do(ctx, "DEBUG", "SLEEP", "0.4").Err() }()
	eventually(t, "both fall back while Redis sleeps", func() bool {
		f1, _ := ev.counts("bu")
		f2, _ := ev.counts("br")
		return f1 >= 1 && f2 >= 1
	})
	// The hot paths are untouched by the sleep.
	for range 5 {
		assert.True(t, bu.TryWithdraw())
		p, err := br.Allow()
		require.NoError(t, err)
		p.Done(nil)
	}
	require.NoError(t, <-sleeping, "DEBUG SLEEP (enable-debug-command)")
	eventually(t, "both recover", func() bool {
		_, r1 := ev.counts("bu")
		_, r2 := ev.counts("br")
		return r1 >= 1 && r2 >= 1
	})
}

func TestRedisKilledMidRun(t *testing.T) {
	needRedis(t)
	srv, err := startServer(0)
	if err != nil {
		t.Fatalf("cannot start a redis-server of the test's own: %v", err)
	}
	defer func() { srv.stop() }()
	c := client(t, srv.addr)
	ev := newEvents()
	s := settings(t, c, prefix(t))
	// Longer than elsewhere: 64 busy goroutines on two cores would make
	// rounds of a few ms miss their bound.
	s.Period = 100 * time.Millisecond
	const replicas = 4
	var lims []*redis.Limiter
	var brs []*redis.Breaker
	var bus []*redis.Budget
	for i := range replicas {
		s.ID = string(rune('a' + i))
		s.Trace = ev.replicaTrace(s.ID)
		lims = append(lims, redis.NewLimiter("li", backoff.LimiterSettings{MaxConcurrency: 64}, s))
		brs = append(brs, redis.NewBreaker("br", backoff.BreakerSettings{}, s))
		bus = append(bus, redis.NewBudget("bu", backoff.BudgetSettings{Burst: 1000, Ratio: 1}, s))
	}
	defer func() {
		for i := range replicas {
			lims[i].Close()
			brs[i].Close()
			bus[i].Close()
		}
	}()
	time.Sleep(3 * period)

	stop := make(chan struct{})
	var calls, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			i := g % replicas
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				sl, err := lims[i].Acquire(ctx)
				cancel()
				if err != nil {
					failed.Add(1)
					t.Log("Acquire:", err)
					continue
				}
				p, err := brs[i].Allow()
				if err != nil {
					failed.Add(1)
					t.Log("Allow:", err)
				} else {
					p.Done(nil)
				}
				bus[i].Deposit()
				bus[i].TryWithdraw()
				time.Sleep(100 * time.Microsecond) // the call
				sl.Done(nil, time.Millisecond)
				calls.Add(1)
			}
		})
	}
	time.Sleep(5 * period)
	srv.stop()
	eventually(t, "every object of every replica falls back", func() bool {
		return ev.all(true, replicas, "li", "br", "bu")
	})
	before := calls.Load()
	eventually(t, "calls go on without Redis", func() bool { return calls.Load() > before+1000 })

	port := srv.addr[len("127.0.0.1:"):]
	ups := ev.upsOf(replicas, "li", "br", "bu")
	srv, err = startServerOn(port)
	require.NoError(t, err, "restarting redis-server")
	eventually(t, "every object of every replica recovers", func() bool {
		for n, u := range ev.upsOf(replicas, "li", "br", "bu") {
			if u <= ups[n] {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	assert.Zero(t, failed.Load(), "calls that failed")
	assert.Greater(t, calls.Load(), before)
}
