package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

var errDown = errors.New("service down")

// call makes one call through b that returns err, and fails the test if b
// refuses it.
func call(t *testing.T, b *backoff.Breaker, err error) {
	t.Helper()
	p, aerr := b.Allow()
	require.NoError(t, aerr)
	p.Done(err)
}

// calls makes n calls through b that return err.
func calls(t *testing.T, b *backoff.Breaker, n int, err error) {
	t.Helper()
	for range n {
		call(t, b, err)
	}
}

// requireRefused checks that b refuses a call with exactly retryAfter left.
func requireRefused(t *testing.T, b *backoff.Breaker, retryAfter time.Duration) {
	t.Helper()
	p, err := b.Allow()
	require.Error(t, err)
	assert.Equal(t, backoff.Permit{}, p)
	var oe *backoff.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, retryAfter, oe.RetryAfter)
	assert.ErrorIs(t, err, backoff.ErrCircuitOpen)
}

// changes records OnStateChange calls.
type changes struct {
	mu  sync.Mutex
	log []string
}

func (c *changes) record(from, to backoff.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, from.String()+"->"+to.String())
}

func (c *changes) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func TestBreakerConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name      string
		threshold int      // ConsecutiveFailures
		before    []error  // results before the last call
		last      error    // the last call's result
		want      []string // states after each of before, then after last
	}{
		{
			name:   "default opens on the fifth failure",
			before: []error{errDown, errDown, errDown, errDown},
			last:   errDown,
			want:   []string{"closed", "closed", "closed", "closed", "open"},
		},
		{
			name:      "custom threshold",
			threshold: 2,
			before:    []error{errDown},
			last:      errDown,
			want:      []string{"closed", "open"},
		},
		{
			name:      "a success ends the run",
			threshold: 2,
			before:    []error{errDown, nil, errDown},
			last:      errDown,
			want:      []string{"closed", "closed", "closed", "open"},
		},
		{
			name:      "a neutral result neither ends nor extends the run",
			threshold: 2,
			before:    []error{errDown, context.Canceled, &backoff.StatusError{Code: 404}},
			last:      errDown,
			want:      []string{"closed", "closed", "closed", "open"},
		},
		{
			name:      "threshold one",
			threshold: 1,
			last:      errDown,
			want:      []string{"open"},
		},
		{
			name:      "math.MaxInt never trips",
			threshold: math.MaxInt,
			before:    []error{errDown, errDown, errDown, errDown, errDown, errDown},
			last:      errDown,
			want:      []string{"closed", "closed", "closed", "closed", "closed", "closed", "closed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: tt.threshold})
				var got []string
				for _, err := range append(tt.before, tt.last) {
					call(t, b, err)
					got = append(got, b.State().String())
				}
				assert.Equal(t, tt.want, got)
				if tt.want[len(tt.want)-1] == "open" {
					requireRefused(t, b, 30*time.Second)
				}
			})
		})
	}
}

func TestBreakerDefaultIsFailure(t *testing.T) {
	// With ConsecutiveFailures 2, the sequence failure, err, failure tells
	// the three outcomes apart: a failure opens the breaker at err, a
	// success leaves it closed to the end, a neutral result opens it at the
	// last failure.
	tests := []struct {
		name string
		err  error
		want string // "failure", "success" or "neutral"
	}{
		{"nil", nil, "success"},
		{"plain error", errDown, "failure"},
		{"context.Canceled", context.Canceled, "neutral"},
		{"wrapped context.Canceled", fmt.Errorf("read: %w", context.Canceled), "neutral"},
		{"Canceled marked Transient", backoff.Mark(context.Canceled, backoff.Transient), "neutral"},
		{"context.DeadlineExceeded", context.DeadlineExceeded, "failure"},
		{"400 is Permanent", &backoff.StatusError{Code: 400}, "neutral"},
		{"401 is Permanent", &backoff.StatusError{Code: 401}, "neutral"},
		{"500", &backoff.StatusError{Code: 500}, "failure"},
		{"plain 503", &backoff.StatusError{Code: 503}, "failure"},
		{"503 with Retry-After", &backoff.StatusError{Code: 503, RetryAfter: 2 * time.Second}, "neutral"},
		{"429", &backoff.StatusError{Code: 429}, "neutral"},
		{"429 with Retry-After, wrapped", fmt.Errorf("call: %w", &backoff.StatusError{Code: 429, RetryAfter: time.Second}), "neutral"},
		{"429 marked Transient", backoff.Mark(&backoff.StatusError{Code: 429}, backoff.Transient), "neutral"},
		{"500 wrapped in a mark", backoff.Mark(&backoff.StatusError{Code: 500}, backoff.Temporary), "failure"},
		{"Canceled in a join", errors.Join(errDown, context.Canceled), "neutral"},
		{"marked Permanent", backoff.Mark(errDown, backoff.Permanent), "neutral"},
		{"marked beyond Permanent", backoff.Mark(errDown, backoff.Permanent+1), "neutral"},
		{"RetryAfter", backoff.RetryAfter(time.Second, errDown), "neutral"},
		{"RetryAfter, wrapped and marked", backoff.Mark(fmt.Errorf("call: %w", backoff.RetryAfter(time.Second, errDown)), backoff.Transient), "neutral"},
		{"RetryAfter of 0 asks no wait", backoff.RetryAfter(0, errDown), "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				assert.Equal(t, tt.want, outcomeOf(t, backoff.BreakerSettings{}, tt.err))
			})
		})
	}
}

// outcomeOf tells how a breaker with settings s (ConsecutiveFailures
// aside) takes err.
func outcomeOf(t *testing.T, s backoff.BreakerSettings, err error) string {
	t.Helper()
	s.ConsecutiveFailures = 2
	b := backoff.NewBreaker(s)
	call(t, b, errDown)
	call(t, b, err)
	if b.State() == backoff.Open {
		return "failure"
	}
	call(t, b, errDown)
	if b.State() == backoff.Open {
		return "neutral"
	}
	return "success"
}

func TestBreakerCustomIsFailure(t *testing.T) {
	errIgnored := errors.New("ignored")
	var seen []error
	s := backoff.BreakerSettings{IsFailure: func(err error) bool {
		seen = append(seen, err)
		return !errors.Is(err, errIgnored)
	}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"true is a failure", errDown, "failure"},
		{"false is neutral", errIgnored, "neutral"},
		{"Canceled is what IsFailure says", context.Canceled, "failure"},
		{"Permanent is what IsFailure says", &backoff.StatusError{Code: 400}, "failure"},
		{"nil is a success without asking", nil, "success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				seen = nil
				assert.Equal(t, tt.want, outcomeOf(t, s, tt.err))
				assert.NotContains(t, seen, nil, "IsFailure was asked about a nil error")
			})
		})
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	type step struct {
		sleep time.Duration
		n     int
		err   error
	}
	s := func(n int) step { return step{n: n} }
	f := func(n int) step { return step{n: n, err: errDown} }
	wait := func(d time.Duration) step { return step{sleep: d} }
	tests := []struct {
		name  string
		steps []step
		want  backoff.State
	}{
		{"below MinCalls", []step{f(3)}, backoff.Closed},
		{"MinCalls failures", []step{f(4)}, backoff.Open},
		{"ratio reached exactly", []step{s(2), f(2)}, backoff.Open},
		{"ratio short by one", []step{s(3), f(2)}, backoff.Closed},
		{"ratio reached later", []step{s(3), f(3)}, backoff.Open},
		{"a success never trips", []step{f(3), s(1)}, backoff.Closed},
		{"the next failure trips", []step{f(3), s(1), f(1)}, backoff.Open},
		{"neutral results are not calls", []step{f(3), {n: 5, err: context.Canceled}, f(1)}, backoff.Open},
		{"successes still in the window", []step{s(10), wait(9*time.Second + 999*time.Millisecond), f(4)}, backoff.Closed},
		{"successes left the window", []step{s(10), wait(10 * time.Second), f(4)}, backoff.Open},
		{"failures left the window", []step{f(3), wait(10 * time.Second), f(1)}, backoff.Closed},
		{"buckets slide one at a time", []step{f(2), wait(time.Second), f(1), wait(9 * time.Second), f(1)}, backoff.Closed},
		{"a bucket reused after a full turn", []step{s(2), wait(time.Second), f(1), wait(10 * time.Second), f(3)}, backoff.Closed},
		{"a bucket reused after a full turn, then enough", []step{s(2), wait(time.Second), f(1), wait(10 * time.Second), f(4)}, backoff.Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(backoff.BreakerSettings{
					ConsecutiveFailures: math.MaxInt,
					FailureRatio:        0.5,
					MinCalls:            4,
					Window:              10 * time.Second,
				})
				for i, st := range tt.steps {
					time.Sleep(st.sleep)
					for range st.n {
						require.Equal(t, backoff.Closed, b.State(), "step %d", i)
						call(t, b, st.err)
					}
				}
				assert.Equal(t, tt.want, b.State())
			})
		})
	}
}

func TestBreakerFailureRatioDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// MinCalls 20 and Window 10s by default: 19 failures do nothing,
		// the 20th trips.
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: math.MaxInt, FailureRatio: 1})
		calls(t, b, 19, errDown)
		assert.Equal(t, backoff.Closed, b.State())
		time.Sleep(10 * time.Second)
		calls(t, b, 19, errDown)
		assert.Equal(t, backoff.Closed, b.State())
		call(t, b, errDown)
		assert.Equal(t, backoff.Open, b.State())
	})
}

func TestBreakerOpenAndHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changes
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OnStateChange: log.record})
		call(t, b, errDown)
		requireRefused(t, b, 30*time.Second)
		time.Sleep(10 * time.Second)
		requireRefused(t, b, 20*time.Second)
		time.Sleep(20*time.Second - 1)
		assert.Equal(t, backoff.Open, b.State())
		requireRefused(t, b, 1)
		time.Sleep(time.Nanosecond)
		assert.Equal(t, backoff.HalfOpen, b.State(), "HalfOpen at exactly OpenFor")
		assert.Equal(t, []string{"closed->open", "open->half-open"}, log.get())
		call(t, b, nil)
		assert.Equal(t, backoff.Closed, b.State())
		assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->closed"}, log.get())
	})
}

func TestBreakerAllowMovesToHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changes
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: time.Minute, OnStateChange: log.record})
		call(t, b, errDown)
		time.Sleep(time.Minute)
		p, err := b.Allow() // without a State call first
		require.NoError(t, err)
		assert.Equal(t, []string{"closed->open", "open->half-open"}, log.get())
		p.Done(errDown)
		assert.Equal(t, backoff.Open, b.State())
		requireRefused(t, b, time.Minute)
		assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->open"}, log.get())
	})
}

func TestBreakerHalfOpenProbes(t *testing.T) {
	const openFor = 30 * time.Second
	tests := []struct {
		name   string
		probes int
		// results of the probes admitted, one at a time in this order;
		// "" leaves a probe running
		script []string
		want   backoff.State
	}{
		{"one success closes", 1, []string{"ok"}, backoff.Closed},
		{"one failure reopens", 1, []string{"fail"}, backoff.Open},
		{"neutral frees the slot", 1, []string{"cancel", "cancel", "ok"}, backoff.Closed},
		{"three successes needed", 3, []string{"ok", "ok"}, backoff.HalfOpen},
		{"three successes close", 3, []string{"ok", "ok", "ok"}, backoff.Closed},
		{"any failure reopens", 3, []string{"ok", "ok", "fail"}, backoff.Open},
		{"neutral does not count as success", 3, []string{"ok", "cancel", "ok"}, backoff.HalfOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, HalfOpenProbes: tt.probes})
				call(t, b, errDown)
				time.Sleep(openFor)
				for _, r := range tt.script {
					p, err := b.Allow()
					require.NoError(t, err)
					switch r {
					case "ok":
						p.Done(nil)
					case "fail":
						p.Done(errDown)
					case "cancel":
						p.Done(context.Canceled)
					}
				}
				assert.Equal(t, tt.want, b.State())
			})
		})
	}
}

func TestBreakerHalfOpenLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, HalfOpenProbes: 2, OpenFor: 10 * time.Second})
		call(t, b, errDown)
		time.Sleep(10 * time.Second)
		p1, err := b.Allow()
		require.NoError(t, err)
		time.Sleep(3 * time.Second)
		p2, err := b.Allow()
		require.NoError(t, err)
		// Both slots are taken; the first frees itself 7s from now.
		requireRefused(t, b, 7*time.Second)
		p2.Done(nil)
		p3, err := b.Allow()
		require.NoError(t, err, "a finished probe frees its slot")
		requireRefused(t, b, 7*time.Second)
		assert.Equal(t, backoff.HalfOpen, b.State())
		p3.Done(nil)
		assert.Equal(t, backoff.Closed, b.State(), "two successes in all close it")
		p1.Done(errDown)
		assert.Equal(t, backoff.Closed, b.State(), "a probe from before the change counts for nothing")
	})
}

func TestBreakerProbeThatNeverReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: 10 * time.Second})
		call(t, b, errDown)
		time.Sleep(10 * time.Second)
		lost, err := b.Allow()
		require.NoError(t, err)
		time.Sleep(10*time.Second - 1)
		requireRefused(t, b, 1)
		time.Sleep(time.Nanosecond)
		p, err := b.Allow()
		require.NoError(t, err, "the slot is free after OpenFor")
		requireRefused(t, b, 10*time.Second)
		p.Done(nil)
		assert.Equal(t, backoff.Closed, b.State())
		lost.Done(errDown)
		assert.Equal(t, backoff.Closed, b.State(), "the HalfOpen that admitted the lost probe is over")
	})
}

// The late-probe tests replace one that pinned the opposite: a probe that
// reported after OpenFor counted for nothing, so a healthy service slower
// than OpenFor kept the breaker HalfOpen for ever (issue 10, item 1).
func TestBreakerLateProbeCounts(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		other bool // another probe takes the slow one's slot first
		want  backoff.State
	}{
		{"a slow success closes", nil, false, backoff.Closed},
		{"a slow failure reopens", errDown, false, backoff.Open},
		{"a slow success whose slot was taken closes", nil, true, backoff.Closed},
		{"a slow failure whose slot was taken reopens", errDown, true, backoff.Open},
		{"a slow neutral result changes nothing", context.Canceled, true, backoff.HalfOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The default OpenFor, 30s, and a model call of 40s.
				b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1})
				call(t, b, errDown)
				time.Sleep(30 * time.Second)
				slow, err := b.Allow()
				require.NoError(t, err)
				time.Sleep(30 * time.Second)
				var other backoff.Permit
				if tt.other {
					other, err = b.Allow()
					require.NoError(t, err, "the slow probe's slot is free after OpenFor")
					requireRefused(t, b, 30*time.Second)
				}
				time.Sleep(10 * time.Second)
				slow.Done(tt.err)
				assert.Equal(t, tt.want, b.State())
				if tt.other && tt.want == backoff.HalfOpen {
					// The slow probe gave back no slot: it no longer held one.
					requireRefused(t, b, 20*time.Second)
					other.Done(nil)
					assert.Equal(t, backoff.Closed, b.State())
				}
			})
		})
	}
}

func TestBreakerSlowHealthyServiceCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Every call takes 40s and succeeds; callers keep coming, one a
		// second, each making its call if the breaker admits it.
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1})
		b.Trip()
		var wg sync.WaitGroup
		for range 200 {
			time.Sleep(time.Second)
			if p, err := b.Allow(); err == nil {
				wg.Go(func() {
					time.Sleep(40*time.Second + 500*time.Millisecond)
					p.Done(nil)
				})
			}
			if b.State() == backoff.Closed {
				break
			}
		}
		// Probes start at 30s and 60s; the first reports at 70.5s.
		assert.Equal(t, backoff.Closed, b.State())
		assert.Equal(t, 71*time.Second, time.Since(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)))
		wg.Wait()
	})
}

func TestBreakerStalePermits(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, b *backoff.Breaker)
	}{
		{"a failure from before Reset", func(t *testing.T, b *backoff.Breaker) {
			old, err := b.Allow()
			require.NoError(t, err)
			call(t, b, errDown)
			b.Reset()
			old.Done(errDown)
			call(t, b, errDown)
			assert.Equal(t, backoff.Closed, b.State(), "only one failure since Reset")
		}},
		{"a success from before Reset", func(t *testing.T, b *backoff.Breaker) {
			old, err := b.Allow()
			require.NoError(t, err)
			b.Reset()
			call(t, b, errDown)
			old.Done(nil)
			call(t, b, errDown)
			assert.Equal(t, backoff.Open, b.State(), "the stale success did not end the run")
		}},
		{"a Closed permit reporting in HalfOpen", func(t *testing.T, b *backoff.Breaker) {
			old, err := b.Allow()
			require.NoError(t, err)
			calls(t, b, 2, errDown)
			time.Sleep(30 * time.Second)
			require.Equal(t, backoff.HalfOpen, b.State())
			old.Done(nil)
			assert.Equal(t, backoff.HalfOpen, b.State(), "a stale success does not close it")
			old.Done(errDown)
			assert.Equal(t, backoff.HalfOpen, b.State(), "a stale failure does not open it")
		}},
		{"a failure from before the breaker closed again", func(t *testing.T, b *backoff.Breaker) {
			old, err := b.Allow()
			require.NoError(t, err)
			calls(t, b, 2, errDown)
			time.Sleep(30 * time.Second)
			call(t, b, nil)
			require.Equal(t, backoff.Closed, b.State())
			old.Done(errDown)
			call(t, b, errDown)
			assert.Equal(t, backoff.Closed, b.State())
		}},
		{"a probe from an earlier HalfOpen", func(t *testing.T, b *backoff.Breaker) {
			calls(t, b, 2, errDown)
			time.Sleep(30 * time.Second)
			probe, err := b.Allow()
			require.NoError(t, err)
			b.Trip()
			time.Sleep(30 * time.Second)
			require.Equal(t, backoff.HalfOpen, b.State())
			probe.Done(nil)
			assert.Equal(t, backoff.HalfOpen, b.State())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tt.run(t, backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 2}))
			})
		})
	}
}

func TestBreakerTripAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changes
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 2, OnStateChange: log.record})

		b.Trip()
		assert.Equal(t, backoff.Open, b.State())
		requireRefused(t, b, 30*time.Second)
		time.Sleep(20 * time.Second)
		requireRefused(t, b, 10*time.Second)
		b.Trip()
		requireRefused(t, b, 30*time.Second)
		assert.Equal(t, []string{"closed->open"}, log.get(), "Trip while Open is no change of state")

		b.Reset()
		assert.Equal(t, backoff.Closed, b.State())
		call(t, b, nil)

		call(t, b, errDown)
		b.Reset() // forgets the run
		call(t, b, errDown)
		assert.Equal(t, backoff.Closed, b.State())
		assert.Equal(t, []string{"closed->open", "open->closed"}, log.get(), "Reset while Closed is no change of state")

		time.Sleep(time.Hour)
		b.Trip()
		time.Sleep(30 * time.Second)
		assert.Equal(t, backoff.HalfOpen, b.State())
		b.Trip()
		requireRefused(t, b, 30*time.Second)
		time.Sleep(30 * time.Second)
		assert.Equal(t, backoff.HalfOpen, b.State())
		b.Reset()
		assert.Equal(t, backoff.Closed, b.State())
		assert.Equal(t, []string{
			"closed->open", "open->closed",
			"closed->open", "open->half-open", "half-open->open", "open->half-open", "half-open->closed",
		}, log.get())
	})
}

func TestBreakerOnStateChangeCallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changes
		var b *backoff.Breaker
		b = backoff.NewBreaker(backoff.BreakerSettings{
			ConsecutiveFailures: 1,
			OnStateChange: func(from, to backoff.State) {
				log.record(from, to)
				// Each of these takes the breaker's lock: the callback
				// must not run under it.
				_ = b.State()
				if to == backoff.Open && from == backoff.Closed {
					_, err := b.Allow()
					assert.ErrorIs(t, err, backoff.ErrCircuitOpen)
					b.Reset() // a change made inside a callback
					assert.Equal(t, backoff.Closed, b.State())
				}
			},
		})
		call(t, b, errDown)
		assert.Equal(t, backoff.Closed, b.State())
		assert.Equal(t, []string{"closed->open", "open->closed"}, log.get())
	})
}

func TestBreakerOnStateChangeInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changes
		release := make(chan struct{})
		var running atomic.Int32
		b := backoff.NewBreaker(backoff.BreakerSettings{
			ConsecutiveFailures: 1,
			OnStateChange: func(from, to backoff.State) {
				assert.Equal(t, int32(1), running.Add(1), "callbacks overlap")
				if from == backoff.Closed {
					<-release // hold the first delivery
				}
				log.record(from, to)
				running.Add(-1)
			},
		})
		go func() { // trips, and blocks in the callback
			p, err := b.Allow()
			assert.NoError(t, err)
			p.Done(errDown)
		}()
		synctest.Wait()
		assert.Equal(t, backoff.Open, b.State())
		// Changes made while the first is being delivered: these return at
		// once, leaving their delivery to the goroutine at it.
		b.Reset()
		b.Trip()
		assert.Equal(t, backoff.Open, b.State())
		assert.Empty(t, log.get())
		close(release)
		synctest.Wait()
		assert.Equal(t, []string{"closed->open", "open->closed", "closed->open"}, log.get())
	})
}

func TestBreakerOnStateChangePanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changes
		b := backoff.NewBreaker(backoff.BreakerSettings{
			ConsecutiveFailures: 1,
			OnStateChange: func(from, to backoff.State) {
				log.record(from, to)
				if to == backoff.Open {
					panic("callback failed")
				}
			},
		})
		assert.PanicsWithValue(t, "callback failed", func() { b.Trip() })
		b.Reset()
		assert.Equal(t, []string{"closed->open", "open->closed"}, log.get(), "later changes are still delivered")
	})
}

func TestNewBreakerPanics(t *testing.T) {
	tests := []struct {
		name  string
		s     backoff.BreakerSettings
		field string
	}{
		{"ConsecutiveFailures", backoff.BreakerSettings{ConsecutiveFailures: -1}, "ConsecutiveFailures"},
		{"MinCalls", backoff.BreakerSettings{MinCalls: -1}, "MinCalls"},
		{"Window", backoff.BreakerSettings{Window: -time.Second}, "Window"},
		{"OpenFor", backoff.BreakerSettings{OpenFor: -1}, "OpenFor"},
		{"MaxOpenFor", backoff.BreakerSettings{MaxOpenFor: -time.Second}, "negative MaxOpenFor -1000000000"},
		{"HalfOpenProbes", backoff.BreakerSettings{HalfOpenProbes: -2}, "HalfOpenProbes"},
		{"FailureRatio negative", backoff.BreakerSettings{FailureRatio: -0.1}, "FailureRatio"},
		{"FailureRatio above 1", backoff.BreakerSettings{FailureRatio: 1.5}, "FailureRatio"},
		{"FailureRatio NaN", backoff.BreakerSettings{FailureRatio: math.NaN()}, "FailureRatio"},
		{"FailureRatio infinite", backoff.BreakerSettings{FailureRatio: math.Inf(1)}, "FailureRatio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := panicMessage(t, func() { backoff.NewBreaker(tt.s) })
			assert.Regexp(t, `^backoff: NewBreaker: .*`+tt.field, msg)
		})
	}
}

func TestBreakerEdgeSettings(t *testing.T) {
	tests := []struct {
		name string
		s    backoff.BreakerSettings
		want time.Duration // RetryAfter once open, an hour after NewBreaker
	}{
		{"FailureRatio 1", backoff.BreakerSettings{FailureRatio: 1}, 30 * time.Second},
		{"tiny Window", backoff.BreakerSettings{FailureRatio: 0.5, Window: 1}, 30 * time.Second},
		{"huge Window", backoff.BreakerSettings{FailureRatio: 0.5, Window: math.MaxInt64}, 30 * time.Second},
		{"huge OpenFor saturates", backoff.BreakerSettings{OpenFor: math.MaxInt64}, math.MaxInt64 - time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(tt.s)
				time.Sleep(time.Hour)
				calls(t, b, 5, errDown)
				assert.Equal(t, backoff.Open, b.State())
				requireRefused(t, b, tt.want)
			})
		})
	}
}

func TestBreakerHugeHalfOpenProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, HalfOpenProbes: math.MaxInt})
		call(t, b, errDown)
		time.Sleep(30 * time.Second)
		permits := make([]backoff.Permit, 1000)
		for i := range permits {
			p, err := b.Allow()
			require.NoError(t, err)
			permits[i] = p
		}
		for _, p := range permits {
			p.Done(nil)
		}
		assert.Equal(t, backoff.HalfOpen, b.State(), "1000 successes are not math.MaxInt")
		p, err := b.Allow()
		require.NoError(t, err)
		p.Done(errDown)
		assert.Equal(t, backoff.Open, b.State())
		for _, p := range permits {
			p.Done(errDown) // stale: from the HalfOpen before
		}
		time.Sleep(30 * time.Second)
		assert.Equal(t, backoff.HalfOpen, b.State())
		for _, p := range permits {
			p.Done(errDown) // stale, and their slots are gone
		}
		assert.Equal(t, backoff.HalfOpen, b.State())
	})
}

func TestZeroPermit(t *testing.T) {
	var p backoff.Permit
	p.Done(nil)
	p.Done(errDown)
}

func TestOpenError(t *testing.T) {
	err := error(&backoff.OpenError{RetryAfter: 1500 * time.Millisecond})
	assert.Equal(t, "backoff: circuit open, retry after 1.5s", err.Error())
	assert.ErrorIs(t, err, backoff.ErrCircuitOpen)
	assert.ErrorIs(t, fmt.Errorf("call: %w", err), backoff.ErrCircuitOpen)
	assert.NotErrorIs(t, err, backoff.ErrBudget)
}

func TestStateString(t *testing.T) {
	assert.Equal(t, "closed", backoff.Closed.String())
	assert.Equal(t, "open", backoff.Open.String())
	assert.Equal(t, "half-open", backoff.HalfOpen.String())
	assert.Equal(t, "State(7)", backoff.State(7).String())
}

func TestBreakerClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := &handClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: time.Minute, Clock: clk})
		call(t, b, errDown)
		time.Sleep(time.Hour) // the real clock does not matter
		requireRefused(t, b, time.Minute)
		clk.advance(time.Minute)
		assert.Equal(t, backoff.HalfOpen, b.State())
	})
}

// handClock is a Clock that moves only when told.
type handClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *handClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *handClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *handClock) After(time.Duration) <-chan time.Time {
	panic("handClock.After: not used by Breaker")
}

func TestBreakerAllocs(t *testing.T) {
	tests := []struct {
		name string
		s    backoff.BreakerSettings
		err  error
	}{
		{"default, success", backoff.BreakerSettings{}, nil},
		{"default, failure", backoff.BreakerSettings{ConsecutiveFailures: math.MaxInt}, errDown},
		{"default, neutral", backoff.BreakerSettings{}, context.Canceled},
		{"FailureRatio, success", backoff.BreakerSettings{FailureRatio: 0.5}, nil},
		{"FailureRatio, failure", backoff.BreakerSettings{FailureRatio: 1, MinCalls: math.MaxInt, ConsecutiveFailures: math.MaxInt}, errDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff.NewBreaker(tt.s)
			allocs := testing.AllocsPerRun(1000, func() {
				p, err := b.Allow()
				if err != nil {
					panic(err)
				}
				p.Done(tt.err)
			})
			assert.Zero(t, allocs)
			assert.Equal(t, backoff.Closed, b.State())
		})
	}
}

func TestBreakerStress(t *testing.T) {
	const goroutines, perG = 10, 10_000
	synctest.Test(t, func(t *testing.T) {
		// Every call fails, and the breaker opens at the last one: only
		// if no failure was lost or counted twice.
		var log changes
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: goroutines * perG, OnStateChange: log.record})
		var refused atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range perG {
					p, err := b.Allow()
					if err != nil {
						refused.Add(1)
						continue
					}
					p.Done(errDown)
				}
			})
		}
		wg.Wait()
		assert.Zero(t, refused.Load())
		assert.Equal(t, backoff.Open, b.State())
		assert.Equal(t, []string{"closed->open"}, log.get())
	})
}

func TestBreakerStressHalfOpen(t *testing.T) {
	const goroutines, perG, probes = 10, 10_000, 3
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, HalfOpenProbes: probes})
		b.Trip()
		time.Sleep(30 * time.Second)
		var inFlight, most, admitted, refused atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range perG {
					p, err := b.Allow()
					if err != nil {
						refused.Add(1)
						continue
					}
					admitted.Add(1)
					n := inFlight.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					inFlight.Add(-1)
					p.Done(context.Canceled) // neutral: stays HalfOpen
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(goroutines*perG), admitted.Load()+refused.Load())
		assert.LessOrEqual(t, most.Load(), int64(probes))
		assert.Equal(t, backoff.HalfOpen, b.State())
		// Every slot was given back: probes can all start at once.
		for range probes {
			_, err := b.Allow()
			require.NoError(t, err)
		}
		requireRefused(t, b, 30*time.Second)
	})
}

func TestBreakerWithHTTPStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1})
		call(t, b, &backoff.StatusError{Code: http.StatusNotFound})
		assert.Equal(t, backoff.Closed, b.State(), "404 is the caller's fault")
		call(t, b, &backoff.StatusError{Code: http.StatusBadGateway})
		assert.Equal(t, backoff.Open, b.State())
	})
}

// bubbleClock is a Clock that is not nil, so Retry and Breaker take the path
// of a fake clock, yet reads the synctest bubble's time.
type bubbleClock struct{}

func (bubbleClock) Now() time.Time                         { return time.Now() }
func (bubbleClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func alwaysFails(n *int) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		*n++
		return 0, errDown
	}
}

func TestRetryCircuitOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 2})
		n := 0
		start := time.Now()
		_, err := backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBreaker(b),
			backoff.WithMaxAttempts(5), backoff.WithStrategy(backoff.Fixed(time.Second)))
		assert.Equal(t, 2, n)
		var e *backoff.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 2, e.Attempts)
		assert.Equal(t, errDown, e.Err)
		// The second attempt tripped it at 1s, and Retry stopped at once:
		// the breaker stays open past the 1s wait, so no time is spent.
		assert.Equal(t, &backoff.OpenError{RetryAfter: 30 * time.Second}, e.Reason)
		assert.Equal(t, time.Second, time.Since(start))
		assert.ErrorIs(t, err, backoff.ErrCircuitOpen)
		assert.ErrorIs(t, err, errDown)
		var oe *backoff.OpenError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "backoff: circuit open, retry after 30s after 2 attempts: service down", err.Error())

		// Open from the start: no attempt at all.
		_, err = backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBreaker(b))
		assert.Equal(t, 2, n)
		require.ErrorAs(t, err, &e)
		assert.Equal(t, &backoff.Error{Reason: &backoff.OpenError{RetryAfter: 30 * time.Second}}, e)
		assert.Equal(t, "backoff: circuit open, retry after 30s before any attempt", err.Error())

		// HalfOpen: the probe fails, and the breaker refuses the retry.
		time.Sleep(30 * time.Second)
		_, err = backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBreaker(b), backoff.WithStrategy(backoff.Fixed(0)))
		assert.Equal(t, 3, n)
		require.ErrorAs(t, err, &e)
		assert.Equal(t, &backoff.Error{Attempts: 1, Err: errDown, Reason: &backoff.OpenError{RetryAfter: 30 * time.Second}}, e)
	})
}

func TestRetryBreakerCountsOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 2})
		fast := backoff.WithStrategy(backoff.Fixed(0))

		// A failure then a success: the run ends.
		n := 0
		v, err := backoff.Retry(t.Context(), func(context.Context) (int, error) {
			if n++; n == 1 {
				return 0, errDown
			}
			return 7, nil
		}, backoff.WithBreaker(b), fast)
		require.NoError(t, err)
		assert.Equal(t, 7, v)

		// One failure, then the caller cancels during an attempt: neutral.
		_, err = backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBreaker(b), backoff.WithMaxAttempts(1))
		require.ErrorIs(t, err, backoff.ErrExhausted)
		ctx, cancel := context.WithCancel(t.Context())
		_, err = backoff.Retry(ctx, func(ctx context.Context) (int, error) {
			cancel()
			return 0, ctx.Err()
		}, backoff.WithBreaker(b))
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, backoff.Closed, b.State())

		// A Permanent error stops Retry and is neutral too.
		_, err = backoff.Retry(t.Context(), func(context.Context) (int, error) {
			return 0, &backoff.StatusError{Code: 400}
		}, backoff.WithBreaker(b))
		require.ErrorIs(t, err, backoff.ErrPermanent)
		assert.Equal(t, backoff.Closed, b.State())

		// The second failure in the run, neutral results aside.
		_, err = backoff.Retry(t.Context(), alwaysFails(&n), backoff.WithBreaker(b), backoff.WithMaxAttempts(1))
		require.ErrorIs(t, err, backoff.ErrExhausted)
		assert.Equal(t, backoff.Open, b.State())
	})
}

func TestRetryBreakerPanic(t *testing.T) {
	tests := []struct {
		name string
		opts []backoff.Option
	}{
		{"plain attempt", nil},
		{"with an attempt timeout", []backoff.Option{backoff.WithAttemptTimeout(time.Second)}},
		{"with an attempt timeout on a fake clock", []backoff.Option{backoff.WithAttemptTimeout(time.Second), backoff.WithClock(bubbleClock{})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log changes
				b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OnStateChange: log.record})
				opts := append([]backoff.Option{backoff.WithBreaker(b)}, tt.opts...)
				assert.PanicsWithValue(t, "boom", func() {
					_ = backoff.Do(t.Context(), func(context.Context) error { panic("boom") }, opts...)
				})
				assert.Equal(t, backoff.Open, b.State(), "the panic was recorded as a failure")

				// A probe that panics gives its slot back by opening the
				// breaker again.
				time.Sleep(30 * time.Second)
				assert.PanicsWithValue(t, "boom", func() {
					_ = backoff.Do(t.Context(), func(context.Context) error { panic("boom") }, opts...)
				})
				assert.Equal(t, backoff.Open, b.State())
				assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->open"}, log.get())
			})
		})
	}
}

func TestRetryBreakerAttemptTimeout(t *testing.T) {
	tests := []struct {
		name  string
		clock backoff.Clock
	}{
		{"real clock", nil},
		// With a fake clock the attempt's context ends as Canceled, which
		// the breaker would take as neutral; Retry reports a failure.
		{"fake clock", bubbleClock{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1})
				err := backoff.Do(t.Context(), func(ctx context.Context) error {
					<-ctx.Done()
					return ctx.Err()
				}, backoff.WithBreaker(b), backoff.WithClock(tt.clock),
					backoff.WithAttemptTimeout(time.Second), backoff.WithMaxAttempts(2))
				var e *backoff.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, 1, e.Attempts)
				assert.ErrorIs(t, err, backoff.ErrCircuitOpen)
			})
		})
	}
}

func TestRetryWithBreakerNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff.NewBreaker(backoff.BreakerSettings{})
		b.Trip()
		n := 0
		_, err := backoff.Retry(t.Context(), alwaysFails(&n),
			backoff.Options(backoff.WithBreaker(b)), backoff.WithBreaker(nil), backoff.WithStrategy(backoff.Fixed(0)))
		assert.ErrorIs(t, err, backoff.ErrExhausted)
		assert.Equal(t, 4, n)
	})
}

func TestRetryBreakerBudgetAllocs(t *testing.T) {
	ctx := context.Background()
	op := func(context.Context) (int, error) { return 1, nil }
	tests := []struct {
		name string
		run  func()
	}{
		{"breaker and budget inline", func() {
			b := sharedBreaker
			_, _ = backoff.Retry(ctx, op, backoff.WithBreaker(b), backoff.WithBudget(sharedBudget))
		}},
		{"FailureRatio breaker", func() {
			_, _ = backoff.Retry(ctx, op, backoff.WithBreaker(ratioBreaker), backoff.WithBudget(sharedBudget))
		}},
		{"Production preset value", func() {
			_, _ = backoff.Retry(ctx, op, production)
		}},
		{"Edge preset value", func() {
			_, _ = backoff.Retry(ctx, op, edge)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(1000, tt.run))
		})
	}
}

var (
	sharedBreaker = backoff.NewBreaker(backoff.BreakerSettings{})
	ratioBreaker  = backoff.NewBreaker(backoff.BreakerSettings{FailureRatio: 0.5})
	sharedBudget  = backoff.NewBudget(backoff.BudgetSettings{})
	production    = backoff.Production()
	edge          = backoff.Edge()
)

func TestBreakerFailureRatioExact(t *testing.T) {
	tests := []struct {
		name              string
		ratio             float64
		successes, failed int // successes first, then failures
		want              backoff.State
	}{
		{"7 of 25 reaches 0.28", 0.28, 18, 7, backoff.Open},
		{"6 of 25 does not", 0.28, 19, 6, backoff.Closed},
		{"3 of 10 reaches 0.3", 0.3, 7, 3, backoff.Open},
		{"7 of 10 reaches 0.7", 0.7, 3, 7, backoff.Open},
		{"1 of 3 reaches 1/3", 1.0 / 3, 2, 1, backoff.Open},
		{"33 of 100 does not reach 1/3", 1.0 / 3, 67, 33, backoff.Closed},
		{"1 of 10 reaches 0.1", 0.1, 9, 1, backoff.Open},
		{"57 of 100 reaches 0.57", 0.57, 43, 57, backoff.Open},
		{"all of them reach 1", 1, 0, 25, backoff.Open},
		{"24 of 25 do not reach 1", 1, 1, 24, backoff.Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(backoff.BreakerSettings{
					ConsecutiveFailures: math.MaxInt,
					FailureRatio:        tt.ratio,
					MinCalls:            tt.successes + tt.failed,
				})
				calls(t, b, tt.successes, nil)
				calls(t, b, tt.failed, errDown)
				assert.Equal(t, tt.want, b.State())
			})
		})
	}
}

func TestBreakerFailureRatioConcurrent(t *testing.T) {
	// Every goroutine reports a success, then a failure, and so on: in any
	// interleaving, at most half the results seen at any moment are
	// failures, below the FailureRatio of 0.6. A failure read without its
	// call (torn counts) makes the breaker open.
	const goroutines, perG = 8, 20_000
	for round := range 5 {
		synctest.Test(t, func(t *testing.T) {
			var log changes
			b := backoff.NewBreaker(backoff.BreakerSettings{
				ConsecutiveFailures: math.MaxInt,
				FailureRatio:        0.6,
				MinCalls:            3,
				OnStateChange:       log.record,
			})
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for i := range perG {
						p, err := b.Allow()
						if err != nil {
							return
						}
						if i%2 == 0 {
							p.Done(nil)
						} else {
							p.Done(errDown)
						}
					}
				})
			}
			wg.Wait()
			assert.Equal(t, backoff.Closed, b.State(), "round %d", round)
			assert.Empty(t, log.get(), "round %d", round)
		})
	}
}

func TestBreakerWindowForgets(t *testing.T) {
	s := backoff.BreakerSettings{
		ConsecutiveFailures: math.MaxInt,
		FailureRatio:        0.5,
		MinCalls:            4,
		Window:              10 * time.Second,
		OpenFor:             time.Second,
	}
	tests := []struct {
		name  string
		close func(t *testing.T, b *backoff.Breaker)
	}{
		{"Reset at once", func(t *testing.T, b *backoff.Breaker) { b.Reset() }},
		{"Reset a second later", func(t *testing.T, b *backoff.Breaker) {
			time.Sleep(time.Second)
			b.Reset()
		}},
		{"a probe closes it, OpenFor shorter than Window", func(t *testing.T, b *backoff.Breaker) {
			time.Sleep(time.Second)
			call(t, b, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := backoff.NewBreaker(s)
				calls(t, b, 4, errDown)
				require.Equal(t, backoff.Open, b.State())
				tt.close(t, b)
				require.Equal(t, backoff.Closed, b.State())
				call(t, b, errDown)
				assert.Equal(t, backoff.Closed, b.State(), "the window forgot the failures before the close")
				calls(t, b, 2, errDown)
				assert.Equal(t, backoff.Closed, b.State())
				call(t, b, errDown)
				assert.Equal(t, backoff.Open, b.State(), "four failures since the close")
			})
		})
	}
}

func TestBreakerMaxOpenFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changes
		b := backoff.NewBreaker(backoff.BreakerSettings{
			ConsecutiveFailures: 1,
			OpenFor:             time.Second,
			MaxOpenFor:          5 * time.Second,
			OnStateChange:       log.record,
		})
		call(t, b, errDown)
		// Each failed probe doubles the next Open period, up to MaxOpenFor.
		for _, period := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
			requireRefused(t, b, period)
			time.Sleep(period - 1)
			requireRefused(t, b, 1)
			time.Sleep(time.Nanosecond)
			require.Equal(t, backoff.HalfOpen, b.State())
			call(t, b, errDown)
			require.Equal(t, backoff.Open, b.State())
		}
		// Trip restarts the period in force, and does not grow it.
		time.Sleep(2 * time.Second)
		b.Trip()
		requireRefused(t, b, 5*time.Second)
		time.Sleep(5 * time.Second)
		// A neutral probe changes nothing; a successful one closes it, and
		// the next Open period is OpenFor again.
		call(t, b, context.Canceled)
		assert.Equal(t, backoff.HalfOpen, b.State())
		call(t, b, nil)
		assert.Equal(t, backoff.Closed, b.State())
		call(t, b, errDown)
		requireRefused(t, b, time.Second)
		time.Sleep(time.Second)
		call(t, b, errDown)
		requireRefused(t, b, 2*time.Second)
		// Reset brings it back too, and so does Trip after it.
		b.Reset()
		b.Trip()
		requireRefused(t, b, time.Second)
		got := log.get()
		require.Len(t, got, 18)
		assert.Equal(t, []string{"half-open->closed", "closed->open", "open->half-open", "half-open->open", "open->closed", "closed->open"}, got[12:])
	})
}

func TestBreakerMaxOpenForNoGrowth(t *testing.T) {
	for _, maxOpenFor := range []time.Duration{0, time.Second, 3 * time.Second} {
		t.Run(maxOpenFor.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// MaxOpenFor not above OpenFor: every Open period is OpenFor.
				b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: 3 * time.Second, MaxOpenFor: maxOpenFor})
				call(t, b, errDown)
				for range 3 {
					requireRefused(t, b, 3*time.Second)
					time.Sleep(3 * time.Second)
					call(t, b, errDown)
				}
				requireRefused(t, b, 3*time.Second)
			})
		})
	}
}

func TestBreakerMaxOpenForHoldsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A probe holds its slot for the Open period in force, which has
		// grown to 2s: a long outage is probed rarely.
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: time.Second, MaxOpenFor: 30 * time.Second})
		b.Trip()
		time.Sleep(time.Second)
		call(t, b, errDown)
		time.Sleep(2 * time.Second)
		_, err := b.Allow()
		require.NoError(t, err)
		requireRefused(t, b, 2*time.Second)
		time.Sleep(2 * time.Second)
		_, err = b.Allow()
		require.NoError(t, err, "the hung probe's slot is given to another")
	})
}

// service holds a zero Breaker as a plain field, as users write it.
type service struct {
	breaker backoff.Breaker
}

func TestZeroBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The zero Breaker behaves as NewBreaker(BreakerSettings{}).
		var s service
		b := &s.breaker
		assert.Equal(t, backoff.Closed, b.State())
		calls(t, b, 3, nil)
		calls(t, b, 4, errDown)
		assert.Equal(t, backoff.Closed, b.State())
		call(t, b, context.Canceled)
		call(t, b, errDown)
		assert.Equal(t, backoff.Open, b.State(), "the fifth failure in a row")
		requireRefused(t, b, 30*time.Second)
		time.Sleep(30 * time.Second)
		assert.Equal(t, backoff.HalfOpen, b.State())
		p, err := b.Allow()
		require.NoError(t, err)
		requireRefused(t, b, 30*time.Second)
		p.Done(nil)
		assert.Equal(t, backoff.Closed, b.State())

		var s2 service
		s2.breaker.Trip()
		requireRefused(t, &s2.breaker, 30*time.Second)
		s2.breaker.Reset()
		assert.Equal(t, backoff.Closed, s2.breaker.State())
		call(t, &s2.breaker, errDown)

		var s3 service
		s3.breaker.Reset()
		calls(t, &s3.breaker, 5, errDown)
		assert.Equal(t, backoff.Open, s3.breaker.State())
	})
}

func TestZeroBreakerConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Goroutines race to give a zero Breaker its defaults.
		var s service
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 100 {
					p, err := s.breaker.Allow()
					if err != nil {
						continue
					}
					if (g+i)%3 == 0 {
						p.Done(errDown)
					} else {
						p.Done(nil)
					}
					if g == 0 && i == 50 {
						s.breaker.Reset()
					}
				}
			})
		}
		wg.Wait()
		s.breaker.Reset()
		calls(t, &s.breaker, 4, errDown)
		assert.Equal(t, backoff.Closed, s.breaker.State())
		call(t, &s.breaker, errDown)
		requireRefused(t, &s.breaker, 30*time.Second)
	})
}

func TestRetryZeroBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s service
		n := 0
		opts := []backoff.Option{backoff.WithBreaker(&s.breaker), backoff.WithStrategy(backoff.Fixed(0)), backoff.WithMaxAttempts(3)}
		_, err := backoff.Retry(t.Context(), alwaysFails(&n), opts...)
		require.ErrorIs(t, err, backoff.ErrExhausted)
		// The fifth failure in a row opens it, in the second call.
		_, err = backoff.Retry(t.Context(), alwaysFails(&n), opts...)
		require.ErrorIs(t, err, backoff.ErrCircuitOpen)
		assert.Equal(t, 5, n)
		_, err = backoff.Retry(t.Context(), alwaysFails(&n), opts...)
		var e *backoff.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, &backoff.Error{Reason: &backoff.OpenError{RetryAfter: 30 * time.Second}}, e)
		assert.Equal(t, 5, n)
	})
}

func TestBreakerHugeMaxOpenFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Doubling saturates at MaxOpenFor, with no overflow, and the end
		// of the Open period at the end of time.
		const openFor = time.Duration(1 << 62)
		b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1, OpenFor: openFor, MaxOpenFor: math.MaxInt64})
		call(t, b, errDown)
		requireRefused(t, b, openFor)
		time.Sleep(openFor)
		call(t, b, errDown)
		requireRefused(t, b, math.MaxInt64-openFor)
		assert.Equal(t, backoff.Open, b.State())
	})
}

// BenchmarkBreakerClosed is the Closed path, Allow then Done(nil), of a
// breaker from NewBreaker and of a zero Breaker, which takes its defaults
// lazily off this path.
func BenchmarkBreakerClosed(b *testing.B) {
	var zero struct{ b backoff.Breaker }
	for _, c := range []struct {
		name string
		b    *backoff.Breaker
	}{
		{"NewBreaker", backoff.NewBreaker(backoff.BreakerSettings{})},
		{"zero", &zero.b},
		{"ratio", backoff.NewBreaker(backoff.BreakerSettings{FailureRatio: 0.5})},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.Run("single", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					p, err := c.b.Allow()
					if err != nil {
						b.Fatal(err)
					}
					p.Done(nil)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						p, err := c.b.Allow()
						if err != nil {
							panic(err)
						}
						p.Done(nil)
					}
				})
			})
		})
	}
}
