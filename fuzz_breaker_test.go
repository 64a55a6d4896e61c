package backoff

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// FuzzBreaker runs random sequences of Allow, Done (a success, a failure or
// a neutral result, in any order, late or stale), fail, Trip, Reset, State
// and clock moves on a Breaker, and checks it after every step against
// modelBreaker, which states DESIGN's rules plainly.
func FuzzBreaker(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 5, 8, 0, 0, 3, 0})
	f.Add([]byte{1, 1, 2, 1, 1, 2, 0, 0, 1, 1, 0, 0, 5, 3, 0, 0, 1, 0, 5, 7, 0, 0, 0, 0, 1, 1, 1, 2})
	f.Add([]byte{2, 3, 1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 4, 1, 4, 1, 4, 1, 4, 5, 6, 0, 0, 5, 9, 1, 0})
	f.Add([]byte{3, 4, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 2, 0, 5, 6, 0, 0, 5, 6, 1, 0, 0, 0, 6, 0, 4, 0})
	f.Add([]byte{4, 2, 2, 2, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 5, 7, 0, 0, 0, 0, 5, 7, 1, 3, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 7 {
			return
		}
		pick := func(i int, n int) int { return int(data[i]) % n }
		ratios := []struct {
			r        float64
			num, den int64
		}{{0, 0, 0}, {0.5, 1, 2}, {0.28, 7, 25}, {1.0 / 3, 1, 3}, {1, 1, 1}, {0.6, 3, 5}}
		ratio := ratios[pick(1, len(ratios))]
		s := BreakerSettings{
			ConsecutiveFailures: []int{1, 2, 3, 5, math.MaxInt}[pick(0, 5)],
			FailureRatio:        ratio.r,
			MinCalls:            []int{1, 2, 4}[pick(2, 3)],
			Window:              []time.Duration{time.Second, 10 * time.Second}[pick(3, 2)],
			OpenFor:             []time.Duration{time.Second, 2 * time.Second}[pick(4, 2)],
			MaxOpenFor:          []time.Duration{0, 2 * time.Second, 5 * time.Second}[pick(5, 3)],
			HalfOpenProbes:      []int{1, 2, 3}[pick(6, 3)],
		}
		clk := &fuzzClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		var got []change
		s.Clock = clk
		s.OnStateChange = func(from, to State) { got = append(got, change{from, to}) }
		b := NewBreaker(s)
		m := newModelBreaker(s, ratio.num, ratio.den)

		type held struct {
			p  Permit
			mp modelPermit
		}
		var permits []held
		moves := []time.Duration{0, 1, 100 * time.Millisecond, 999 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second, 40 * time.Second}
		results := []error{nil, errFuzzDown, context.Canceled, &StatusError{Code: 429}}
		ops := data[7:]
		for step := 0; step+1 < len(ops); step += 2 {
			op, arg := ops[step], int(ops[step+1])
			now := int64(clk.t.Sub(b.base))
			switch op % 8 {
			case 0, 1: // Allow
				p, err := b.Allow()
				mp, wait, ok := m.allow(now)
				if ok != (err == nil) {
					t.Fatalf("step %d: Allow: %v, the model admits: %v", step, err, ok)
				}
				if ok {
					permits = append(permits, held{p, mp})
				} else {
					var oe *OpenError
					if !errors.As(err, &oe) || int64(oe.RetryAfter) != wait {
						t.Fatalf("step %d: Allow: %v, the model waits %v", step, err, time.Duration(wait))
					}
				}
			case 2, 3: // Done
				if len(permits) == 0 {
					continue
				}
				i := arg % len(permits)
				h := permits[i]
				permits = slices.Delete(permits, i, i+1)
				err := results[arg/7%len(results)]
				h.p.Done(err)
				m.done(h.mp, modelOutcome(err), now)
			case 4: // fail, as Retry reports a panic
				if len(permits) == 0 {
					continue
				}
				i := arg % len(permits)
				h := permits[i]
				permits = slices.Delete(permits, i, i+1)
				h.p.fail()
				m.done(h.mp, failure, now)
			case 5: // the clock moves
				clk.t = clk.t.Add(moves[arg%len(moves)])
			case 6:
				switch arg % 3 {
				case 0:
					b.Trip()
					m.trip(now)
				case 1:
					b.Reset()
					m.set(Closed, now)
				case 2:
					if got, want := b.refusesFor(), time.Duration(m.refusesFor(now)); got != want {
						t.Fatalf("step %d: refusesFor %v, the model %v", step, got, want)
					}
				}
			case 7:
				if got, want := b.State(), m.stateAt(now); got != want {
					t.Fatalf("step %d: State %v, the model %v", step, got, want)
				}
			}
			if got, want := stateOf(b.word.Load()), m.state; got != want {
				t.Fatalf("step %d (op %d): state %v, the model %v", step, op%8, got, want)
			}
			if !slices.Equal(got, m.log) {
				t.Fatalf("step %d: changes %v, the model %v", step, got, m.log)
			}
		}
	})
}

var errFuzzDown = errors.New("service down")

func modelOutcome(err error) outcome {
	var se *StatusError
	switch {
	case err == nil:
		return success
	case errors.Is(err, context.Canceled), errors.As(err, &se) && se.Code == 429:
		return neutral
	}
	return failure
}

// fuzzClock is a Clock that moves only when told; the fuzz target runs on
// one goroutine.
type fuzzClock struct{ t time.Time }

func (c *fuzzClock) Now() time.Time                       { return c.t }
func (c *fuzzClock) After(time.Duration) <-chan time.Time { panic("fuzzClock.After: not used") }

// modelBreaker is DESIGN's breaker, written for clarity rather than speed:
// a list of results instead of buckets, a list of probes instead of slots
// reused in place, and no concurrency. Times are nanoseconds since the
// breaker was made.
type modelBreaker struct {
	threshold, minCalls, probesMax int
	num, den                       int64 // FailureRatio; den 0: off
	width, openFor, maxOpenFor     int64

	state     State
	gen       int           // changes with every change of state, and on Reset
	run       int           // failures in a row
	results   []modelResult // since the breaker last closed
	openUntil int64
	period    int64
	probes    []modelProbe // this HalfOpen's slots
	successes int
	tickets   int
	log       []change
}

type modelResult struct {
	t      int64
	failed bool
}

type modelProbe struct {
	ticket int // 0: free
	start  int64
}

type modelPermit struct {
	gen    int
	ticket int // 0: not a probe
	slot   int
}

func newModelBreaker(s BreakerSettings, num, den int64) *modelBreaker {
	m := &modelBreaker{
		threshold:  s.ConsecutiveFailures,
		minCalls:   s.MinCalls,
		probesMax:  s.HalfOpenProbes,
		num:        num,
		den:        den,
		width:      int64(s.Window) / 10,
		openFor:    int64(s.OpenFor),
		maxOpenFor: int64(s.MaxOpenFor),
	}
	m.period = m.openFor
	return m
}

func (m *modelBreaker) set(to State, t int64) {
	if m.state != to {
		m.log = append(m.log, change{m.state, to})
	}
	m.state = to
	m.gen++
	m.run = 0
	switch to {
	case Open:
		m.openUntil = t + m.period
	case HalfOpen:
		m.probes = nil
		m.successes = 0
	case Closed:
		m.period = m.openFor
		m.results = nil
	}
}

func (m *modelBreaker) stateAt(t int64) State {
	if m.state == Open && t >= m.openUntil {
		m.set(HalfOpen, t)
	}
	return m.state
}

func (m *modelBreaker) allow(t int64) (p modelPermit, wait int64, ok bool) {
	switch m.stateAt(t) {
	case Closed:
		return modelPermit{gen: m.gen}, 0, true
	case Open:
		return p, m.openUntil - t, false
	}
	// A probe may take a free slot, or one whose probe has run a whole
	// Open period.
	wait = math.MaxInt64
	for i, pr := range m.probes {
		if pr.ticket == 0 || t-pr.start >= m.period {
			return m.admit(i, t), 0, true
		}
		wait = min(wait, pr.start+m.period-t)
	}
	if len(m.probes) < m.probesMax {
		m.probes = append(m.probes, modelProbe{})
		return m.admit(len(m.probes)-1, t), 0, true
	}
	return p, wait, false
}

func (m *modelBreaker) admit(slot int, t int64) modelPermit {
	m.tickets++
	m.probes[slot] = modelProbe{ticket: m.tickets, start: t}
	return modelPermit{gen: m.gen, ticket: m.tickets, slot: slot}
}

func (m *modelBreaker) done(p modelPermit, o outcome, t int64) {
	if p.gen != m.gen {
		return // from before the last change: stale
	}
	if p.ticket != 0 {
		if m.probes[p.slot].ticket == p.ticket {
			m.probes[p.slot].ticket = 0
		}
		switch o {
		case success:
			m.successes++
			if m.successes >= m.probesMax {
				m.set(Closed, t)
			}
		case failure:
			if m.maxOpenFor > m.period {
				m.period = min(2*m.period, m.maxOpenFor)
			}
			m.set(Open, t)
		}
		return
	}
	if o == neutral {
		return
	}
	if o == success {
		m.run = 0
	} else {
		m.run++
	}
	if m.den != 0 {
		m.results = append(m.results, modelResult{t, o == failure})
	}
	if o == failure && (m.run >= m.threshold || m.ratioReached(t)) {
		m.set(Open, t)
	}
}

// ratioReached: the results of the last 10 slices of Window/10, the one of
// t included.
func (m *modelBreaker) ratioReached(t int64) bool {
	if m.den == 0 {
		return false
	}
	var calls, failures int64
	for _, r := range m.results {
		if r.t/m.width > t/m.width-10 {
			calls++
			if r.failed {
				failures++
			}
		}
	}
	return calls >= int64(m.minCalls) && failures*m.den >= m.num*calls
}

func (m *modelBreaker) trip(t int64) {
	if m.state == Open {
		m.openUntil = t + m.period
		return
	}
	m.set(Open, t)
}

func (m *modelBreaker) refusesFor(t int64) int64 {
	if m.state != Open {
		return 0
	}
	return max(m.openUntil-t, 0)
}
