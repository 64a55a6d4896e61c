package sim

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/backoff-go/backoff"
)

// The outage simulation: open-loop clients call one FIFO server that stalls
// for a moment, and each policy's retries decide whether the server comes
// back or stays overloaded after the stall has ended (a metastable failure).

// OutageConfig describes the outage scenario. It is a plain value: safe to read from many goroutines, not to change while others read it.
type OutageConfig struct {
	Clients    int           // open-loop Poisson clients
	Rate       float64       // requests per second of each client
	Service    time.Duration // the server's time for one attempt
	Timeout    time.Duration // each attempt's timeout
	StallStart time.Duration // the server does no work from StallStart...
	StallEnd   time.Duration // ...to StallEnd
	Duration   time.Duration // requests arrive until then
	Bin        time.Duration // the width of the time series' bins

	// Recovery is the time after StallEnd from which goodput stays at or
	// above GoodFraction of the offered load: in every RecoveryWindow from
	// then to the end of the run, the requests that succeeded are at least
	// GoodFraction of those that arrived. A window much shorter than 500ms
	// would see the queue's ordinary swings at 80% load as failures.
	GoodFraction   float64
	RecoveryWindow time.Duration

	// Shared gives all clients one Caller (one process calling on behalf of
	// many); otherwise each client builds its own, as separate processes do.
	Shared bool

	// Down makes the server down rather than stalled from StallStart to
	// StallEnd: it refuses every attempt at once (connection refused), so
	// nothing queues, and it is healthy again at StallEnd.
	Down bool
}

// DefaultOutage is the scenario of the issue: 100 clients at 10 requests/s,
// 0.8ms of service (80% utilisation), 200ms attempt timeout, a stall from
// 2.0s to 2.3s, 10s, 10ms bins, recovery once goodput stays at 90% of
// the offered load, over windows of 500ms.
var DefaultOutage = OutageConfig{
	Clients:        100,
	Rate:           10,
	Service:        800 * time.Microsecond,
	Timeout:        200 * time.Millisecond,
	StallStart:     2 * time.Second,
	StallEnd:       2300 * time.Millisecond,
	Duration:       10 * time.Second,
	Bin:            10 * time.Millisecond,
	GoodFraction:   0.9,
	RecoveryWindow: 500 * time.Millisecond,
}

// DefaultLongOutage is the long outage: the default scenario's clients
// and server, but the server is down (refusing connections) from 2s to
// 62s, then healthy until requests stop at 100s; recovery once goodput
// stays at 90% of the offered load over windows of 1s, in bins of 100ms.
var DefaultLongOutage = func() OutageConfig {
	c := DefaultOutage
	c.StallEnd = 62 * time.Second
	c.Duration = 100 * time.Second
	c.Bin = 100 * time.Millisecond
	c.RecoveryWindow = time.Second
	c.Down = true
	return c
}()

func (c OutageConfig) validate() error {
	switch {
	case c.Clients <= 0:
		return fmt.Errorf("sim: outage: clients must be positive, not %d", c.Clients)
	case !(c.Rate > 0):
		return fmt.Errorf("sim: outage: rate must be positive, not %v", c.Rate)
	case c.Service <= 0 || c.Timeout <= 0 || c.Bin <= 0 || c.RecoveryWindow < c.Bin:
		return fmt.Errorf("sim: outage: service, timeout and bin must be positive, and the recovery window at least a bin")
	case c.StallStart < 0 || c.StallEnd < c.StallStart || c.Duration <= c.StallEnd:
		return fmt.Errorf("sim: outage: want 0 ≤ stall start ≤ stall end < duration")
	case c.StallStart < c.Bin:
		return fmt.Errorf("sim: outage: the stall must start after the first bin, to measure the steady load")
	}
	return nil
}

// Caller is the retry policy that one caller of the service holds, built
// once: what backoff.Retry would get as options. A nil Strategy or a
// MaxAttempts of 1 makes no retries. Its parts are as safe for concurrent
// use as the library's.
type Caller struct {
	Strategy    backoff.Strategy
	MaxAttempts int // ≥ 1
	Budget      *backoff.Budget
	Breaker     *backoff.Breaker
}

// OutagePolicy names a way to build a Caller. It is as safe for concurrent
// use as its New function; RunOutage calls New only from its own goroutine.
// New is called once per client
// (once per run when the scenario is Shared), with the run's simulated clock
// for anything that reads time.
type OutagePolicy struct {
	Name string
	New  func(clock backoff.Clock) Caller
}

// The retry parameters of the issue: at most 3 attempts, base 10ms, cap 1s.
var (
	outageExp   = backoff.Exponential{Initial: 10 * time.Millisecond, Max: time.Second}
	outageFull  = backoff.FullJitter(outageExp)
	outageDecor = backoff.Decorrelated{Initial: 10 * time.Millisecond, Max: time.Second}
)

// OutagePolicies returns the policies of the outage simulation, in the order
// of its table.
//
// "production" rebuilds what backoff.Production() holds, as DESIGN.md and
// preset.go define it, because an Option cannot be looked into and its
// Breaker reads the real clock: 4 attempts,
// Classified{Transient: FullJitter(Exponential{Initial: 200ms, Max: 30s})},
// the service breaker (FailureRatio 0.5 over 20 calls in 10s, or 10
// failures in a row; OpenFor 1s doubling to 30s; here on the simulated
// clock) and Budget{Ratio: 0.2, Burst: 10}. "plain retries" is the same
// strategy and attempts with neither breaker nor budget.
func OutagePolicies() []OutagePolicy {
	retries := func(s backoff.Strategy) func(backoff.Clock) Caller {
		return func(backoff.Clock) Caller { return Caller{Strategy: s, MaxAttempts: 3} }
	}
	budgeted := func(s backoff.Strategy) func(backoff.Clock) Caller {
		return func(backoff.Clock) Caller {
			return Caller{Strategy: s, MaxAttempts: 3, Budget: backoff.NewBudget(backoff.BudgetSettings{})}
		}
	}
	return []OutagePolicy{
		{Name: "none", New: func(backoff.Clock) Caller { return Caller{MaxAttempts: 1} }},
		{Name: "exponential", New: retries(outageExp)},
		{Name: "full", New: retries(outageFull)},
		{Name: "decorrelated", New: retries(outageDecor)},
		{Name: "exponential+budget", New: budgeted(outageExp)},
		{Name: "full+budget", New: budgeted(outageFull)},
		{Name: "decorrelated+budget", New: budgeted(outageDecor)},
		{Name: "full+budget+breaker", New: func(clock backoff.Clock) Caller {
			return Caller{
				Strategy:    outageFull,
				MaxAttempts: 3,
				Budget:      backoff.NewBudget(backoff.BudgetSettings{}),
				Breaker:     backoff.NewBreaker(backoff.BreakerSettings{Clock: clock}),
			}
		}},
		{Name: "adaptive", New: func(backoff.Clock) Caller {
			a := backoff.NewAdaptive(backoff.AdaptiveSettings{Min: 10 * time.Millisecond, Initial: 10 * time.Millisecond, Max: time.Second})
			return Caller{Strategy: a, MaxAttempts: 3}
		}},
		{Name: "plain retries", New: func(backoff.Clock) Caller {
			return Caller{Strategy: productionStrategy, MaxAttempts: 4}
		}},
		{Name: "production", New: func(clock backoff.Clock) Caller {
			return Caller{
				Strategy:    productionStrategy,
				MaxAttempts: 4,
				Budget:      backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.2, Burst: 10}),
				Breaker: backoff.NewBreaker(backoff.BreakerSettings{
					FailureRatio:        0.5,
					MinCalls:            20,
					Window:              10 * time.Second,
					ConsecutiveFailures: 10,
					OpenFor:             time.Second,
					MaxOpenFor:          30 * time.Second,
					Clock:               clock,
				}),
			}
		}},
	}
}

// productionStrategy is Production()'s strategy.
var productionStrategy = backoff.Classified{
	Transient: backoff.FullJitter(backoff.Exponential{Initial: 200 * time.Millisecond, Max: 30 * time.Second}),
}

// OutageRun is what one run measured. The series have one entry per Bin of
// the run's Duration. It is a plain value: safe to read from many goroutines, not to change while others read it.
type OutageRun struct {
	Requests  int // requests that arrived before Duration
	Attempts  int // attempts that reached the server
	Successes int // requests that succeeded, whenever they did
	Rejected  int // requests that an open breaker stopped
	Refused   int // requests that the budget stopped
	Latencies []time.Duration

	Load    []int           // attempts that reached the server, per bin
	Offered []int           // requests that arrived, per bin
	Goodput []int           // requests that succeeded, per bin
	Backlog []time.Duration // at each bin's end, the time until the server is idle

	// Per Caller (one entry when Shared): the attempts that reached the
	// server from StallStart to StallEnd, and of those the probes, the
	// attempts its breaker admitted while HalfOpen.
	StallAttempts []int
	StallProbes   []int
}

type outageEvent struct {
	kind    uint8
	id      int32 // the client of an arrival, the request otherwise
	ok      bool  // for an outcome: the attempt succeeded in time
	refused bool  // for an outcome: the server was down
}

const (
	evArrive uint8 = iota
	evSend
	evOutcome
)

// request is one call's progress: what backoff.Retry keeps in its loop.
type request struct {
	caller  *Caller
	slot    int32 // the caller's index in StallAttempts
	arrived time.Duration
	sent    time.Duration // when the last attempt was sent
	prev    time.Duration // the wait before the last attempt; after end, the wait before the next
	n       int           // attempts made
	permit  backoff.Permit
	probe   bool // the attempt in flight was admitted by a HalfOpen breaker
}

// begin starts the next attempt of r at now, as Retry does before each
// attempt: the breaker's Allow, then for the first attempt the budget's
// Deposit. It reports false when the breaker refuses, which ends the request.
func (r *request) begin(now time.Duration) bool {
	c := r.caller
	r.probe = false
	if c.Breaker != nil {
		r.probe = c.Breaker.State() == backoff.HalfOpen
		p, err := c.Breaker.Allow()
		if err != nil {
			return false
		}
		r.permit = p
	}
	if r.n == 0 && c.Budget != nil {
		c.Budget.Deposit()
	}
	r.n++
	r.sent = now
	return true
}

// next is what follows an attempt.
type next uint8

const (
	succeeded        next = iota
	retryNow              // retry after r.prev
	gaveUp                // permanent, out of attempts, or the strategy said stop
	refusedByBudget       // the budget refused the retry
	refusedByBreaker      // the breaker stays open past the wait
)

// end ends the attempt of r in flight at now, which succeeded when ok and
// otherwise timed out (or was refused, when refused), as Retry does after
// an attempt: the result to the permit and to an Observer strategy; for a
// failure, its class, the attempt limit, the strategy's Delay (with
// random() as Attempt.Random, drawn only then), the stop when the breaker
// is Open and stays Open past the wait (no token spent), and the budget's
// TryWithdraw. On retryNow, r.prev is the wait.
func (r *request) end(now time.Duration, ok, refused bool, random func() float64) next {
	c := r.caller
	var err error
	if !ok {
		err = errAttemptTimeout
		if refused {
			err = errRefused
		}
	}
	if c.Breaker != nil {
		r.permit.Done(err)
	}
	if obs, isObs := c.Strategy.(backoff.Observer); isObs {
		obs.Observe(backoff.Outcome{Err: err, Latency: now - r.sent})
	}
	if ok {
		return succeeded
	}
	class := backoff.Classify(err)
	if class >= backoff.Permanent || c.Strategy == nil || r.n >= c.MaxAttempts {
		return gaveUp
	}
	wait, more := c.Strategy.Delay(backoff.Attempt{Number: r.n, Err: err, Class: class, Prev: r.prev, Random: random()})
	if !more {
		return gaveUp
	}
	wait = max(wait, 0)
	if c.Breaker != nil && c.Breaker.State() == backoff.Open {
		// Retry stops before a wait that would end while the breaker
		// still refuses. An Open breaker's Allow takes no permit and says
		// how long it stays open.
		var oe *backoff.OpenError
		if _, err := c.Breaker.Allow(); errors.As(err, &oe) && oe.RetryAfter > wait {
			return refusedByBreaker
		}
	}
	if c.Budget != nil && !c.Budget.TryWithdraw() {
		return refusedByBudget
	}
	r.prev = wait
	return retryNow
}

// errAttemptTimeout is what an attempt that ran out its timeout returns; the
// library classifies it Transient, and its Breaker counts it as a failure.
var errAttemptTimeout = fmt.Errorf("sim: attempt timed out: %w", context.DeadlineExceeded)

// errRefused is what an attempt to a server that is down returns: Transient,
// and a failure for the Breaker.
var errRefused = fmt.Errorf("sim: server down: %w", syscall.ECONNREFUSED)

// epoch is time 0 of every run's clock.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// RunOutage runs the outage scenario cfg once under policy p, seeded by seed.
//
// Each client sends requests as a Poisson process. A request is a sequence of
// attempts driven exactly as backoff.Retry drives them (retry.go): the
// breaker's Allow before every attempt (a refusal ends the request), a budget
// Deposit before the first, each attempt's result to its permit's Done and to
// an Observer strategy, then for a failure its Class, the attempt limit, the
// strategy's Delay with Attempt.Random from the run's generator, a stop when
// the breaker would still be open at the end of the wait, and the budget's
// TryWithdraw before the wait. The server serves attempts one at a
// time in arrival order, Service each, and does no work during the stall; it
// also serves attempts whose client has already given up on them. An attempt
// whose answer would come later than Timeout after it was sent fails at
// Timeout. The network adds no delay. Requests arrive until Duration; the run
// goes on until every request has finished.
//
// A run is a pure function of (cfg, p, seed).
func RunOutage(cfg OutageConfig, p OutagePolicy, seed uint64) (OutageRun, error) {
	if err := cfg.validate(); err != nil {
		return OutageRun{}, err
	}
	clock := NewClock(epoch)
	arrivals, jitter := newRand(seed, 1), newRand(seed, 2)
	callers := make([]*Caller, cfg.Clients)
	for i := range callers {
		if cfg.Shared && i > 0 {
			callers[i] = callers[0]
			continue
		}
		c := p.New(clock)
		if c.MaxAttempts < 1 {
			return OutageRun{}, fmt.Errorf("sim: outage: policy %s: MaxAttempts %d, want at least 1", p.Name, c.MaxAttempts)
		}
		callers[i] = &c
	}
	bins := int(cfg.Duration / cfg.Bin)
	run := OutageRun{
		Load:    make([]int, bins),
		Offered: make([]int, bins),
		Goodput: make([]int, bins),
		Backlog: make([]time.Duration, bins),
	}
	slots := cfg.Clients
	if cfg.Shared {
		slots = 1
	}
	run.StallAttempts, run.StallProbes = make([]int, slots), make([]int, slots)
	binOf := func(t time.Duration) int {
		if t < 0 || t >= time.Duration(bins)*cfg.Bin {
			return -1
		}
		return int(t / cfg.Bin)
	}
	gap := func() time.Duration {
		return time.Duration(arrivals.ExpFloat64() / cfg.Rate * float64(time.Second))
	}
	srv := server{service: cfg.Service, stallStart: cfg.StallStart, stallEnd: cfg.StallEnd}
	sampled := 0 // bins whose backlog has been sampled
	sample := func(upTo time.Duration) {
		for sampled < bins {
			end := time.Duration(sampled+1) * cfg.Bin
			if end > upTo {
				return
			}
			run.Backlog[sampled] = max(srv.busyUntil-end, 0)
			sampled++
		}
	}

	var reqs []request
	var q queue[outageEvent]
	finish := func(r *request, now time.Duration, ok bool) {
		if !ok {
			return
		}
		run.Successes++
		run.Latencies = append(run.Latencies, now-r.arrived)
		if b := binOf(now); b >= 0 {
			run.Goodput[b]++
		}
	}
	send := func(now time.Duration, id int32) {
		r := &reqs[id]
		if !r.begin(now) {
			run.Rejected++
			finish(r, now, false)
			return
		}
		run.Attempts++
		if b := binOf(now); b >= 0 {
			run.Load[b]++
		}
		stalled := now >= cfg.StallStart && now < cfg.StallEnd
		if stalled {
			run.StallAttempts[r.slot]++
			if r.probe {
				run.StallProbes[r.slot]++
			}
		}
		if cfg.Down && stalled {
			q.push(now, outageEvent{kind: evOutcome, id: id, refused: true})
			return
		}
		if end := srv.serve(now); end-now <= cfg.Timeout {
			q.push(end, outageEvent{kind: evOutcome, id: id, ok: true})
		} else {
			q.push(now+cfg.Timeout, outageEvent{kind: evOutcome, id: id})
		}
	}
	outcome := func(now time.Duration, id int32, ok, refused bool) {
		r := &reqs[id]
		switch next := r.end(now, ok, refused, jitter.Float64); next {
		case retryNow:
			q.push(now+r.prev, outageEvent{kind: evSend, id: id})
		case refusedByBudget:
			run.Refused++
			finish(r, now, false)
		case refusedByBreaker:
			run.Rejected++
			finish(r, now, false)
		default:
			finish(r, now, next == succeeded)
		}
	}

	for i := range cfg.Clients {
		q.push(gap(), outageEvent{kind: evArrive, id: int32(i)})
	}
	for q.len() > 0 {
		now, ev := q.pop()
		sample(now)
		clock.Set(now)
		switch ev.kind {
		case evArrive:
			if now >= cfg.Duration {
				continue
			}
			q.push(now+gap(), ev)
			run.Requests++
			if b := binOf(now); b >= 0 {
				run.Offered[b]++
			}
			slot := ev.id
			if cfg.Shared {
				slot = 0
			}
			reqs = append(reqs, request{caller: callers[ev.id], slot: slot, arrived: now})
			send(now, int32(len(reqs)-1))
		case evSend:
			send(now, ev.id)
		case evOutcome:
			outcome(now, ev.id, ev.ok, ev.refused)
		}
	}
	sample(time.Duration(bins) * cfg.Bin)
	return run, nil
}

// server is a FIFO server that takes service for each attempt and does no
// work from stallStart to stallEnd. Its answers go out in arrival order, so
// an attempt's end is known when it arrives.
type server struct {
	service              time.Duration
	stallStart, stallEnd time.Duration
	busyUntil            time.Duration // when every attempt that has arrived is served
}

// serve queues an attempt that arrives at t and returns when it is served.
func (s *server) serve(t time.Duration) time.Duration {
	start := max(t, s.busyUntil)
	if start >= s.stallStart && start < s.stallEnd {
		start = s.stallEnd
	}
	end := start + s.service
	if start < s.stallStart && end > s.stallStart {
		end += s.stallEnd - s.stallStart // the stall pauses the attempt in service
	}
	s.busyUntil = end
	return end
}

// OutageMetrics sums up one run. It is a plain value: safe to read from many
// goroutines, not to change while others read it.
type OutageMetrics struct {
	Amplification float64       // attempts ÷ requests
	PeakRatio     float64       // the busiest bin's attempts ÷ the mean bin's before the stall
	SuccessRate   float64       // requests that succeeded ÷ requests
	P50, P99      time.Duration // latency of the requests that succeeded, arrival to success; 0 if none did
	Recovered     bool
	Recovery      time.Duration // after StallEnd; see OutageConfig
	// The most attempts, and probes, that one Caller sent to the server
	// from StallStart to StallEnd.
	StallAttempts, StallProbes int
}

// Metrics sums up r, which RunOutage made from cfg.
func (r OutageRun) Metrics(cfg OutageConfig) OutageMetrics {
	var m OutageMetrics
	if r.Requests > 0 {
		m.Amplification = float64(r.Attempts) / float64(r.Requests)
		m.SuccessRate = float64(r.Successes) / float64(r.Requests)
	}
	steadyBins := int(cfg.StallStart / cfg.Bin)
	steady := 0
	for _, n := range r.Load[:steadyBins] {
		steady += n
	}
	if steady > 0 {
		m.PeakRatio = float64(slices.Max(r.Load)) / (float64(steady) / float64(steadyBins))
	}
	if len(r.Latencies) > 0 {
		lat := slices.Clone(r.Latencies)
		slices.Sort(lat)
		m.P50, m.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	}
	m.Recovery, m.Recovered = r.recovery(cfg)
	if len(r.StallAttempts) > 0 {
		m.StallAttempts, m.StallProbes = slices.Max(r.StallAttempts), slices.Max(r.StallProbes)
	}
	return m
}

// recovery finds the first bin start s at or after StallEnd such that every
// RecoveryWindow that starts at s or later, and ends by the end of the run,
// has its successes at least GoodFraction of its arrivals. A service that
// comes back for a while and then falls over again has not recovered.
func (r OutageRun) recovery(cfg OutageConfig) (time.Duration, bool) {
	w := int(cfg.RecoveryWindow / cfg.Bin)
	bins := len(r.Goodput)
	first := int((cfg.StallEnd + cfg.Bin - 1) / cfg.Bin)
	last := bins - w // the last window's first bin
	if first > last {
		return 0, false
	}
	var g, a int
	for i := last; i < bins; i++ {
		g += r.Goodput[i]
		a += r.Offered[i]
	}
	start := -1
	for i := last; i >= first; i-- {
		if i < last { // slide the window one bin earlier
			g += r.Goodput[i] - r.Goodput[i+w]
			a += r.Offered[i] - r.Offered[i+w]
		}
		if float64(g) < cfg.GoodFraction*float64(a) {
			break
		}
		start = i
	}
	if start < 0 {
		return 0, false
	}
	return time.Duration(start)*cfg.Bin - cfg.StallEnd, true
}

// OutageRow sums up one policy over several seeds. It is a plain value: safe to read from many goroutines, not to change while others read it.
type OutageRow struct {
	Policy         string
	Seeds          int
	Amplification  float64 // the mean over seeds, as are the next four
	PeakRatio      float64
	SuccessRate    float64
	P50MS, P99MS   float64
	RecoveredSeeds int     // seeds in which the service recovered
	RecoveryS      float64 // the slowest recovery over the seeds, if all recovered
	// The most attempts, and probes, that one Caller sent during the stall,
	// over all seeds.
	StallAttempts, StallProbes int
}

// OutageSweep runs every policy with seeds seeds, each seeded from (seed,
// i) so that every policy sees the same arrivals, on up to workers
// goroutines (≤ 0: GOMAXPROCS). It returns one row per policy, in order, and
// the run of the first seed of each policy (for plots). The result depends
// only on the arguments, never on scheduling.
func OutageSweep(ctx context.Context, cfg OutageConfig, policies []OutagePolicy, seeds int, seed uint64, workers int) ([]OutageRow, []OutageRun, error) {
	if seeds <= 0 {
		return nil, nil, fmt.Errorf("sim: outage: seeds must be positive, not %d", seeds)
	}
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	runs := make([]OutageRun, len(policies)*seeds)
	errs := make([]error, len(runs))
	err := parallel(ctx, len(runs), workers, func(i int) {
		runs[i], errs[i] = RunOutage(cfg, policies[i/seeds], runSeed(seed, uint64(i%seeds)))
	})
	if err != nil {
		return nil, nil, err
	}
	rows := make([]OutageRow, len(policies))
	firsts := make([]OutageRun, len(policies))
	for pi, p := range policies {
		row := OutageRow{Policy: p.Name, Seeds: seeds}
		withLatency := 0
		for s := range seeds {
			i := pi*seeds + s
			if errs[i] != nil {
				return nil, nil, errs[i]
			}
			m := runs[i].Metrics(cfg)
			row.Amplification += m.Amplification / float64(seeds)
			row.PeakRatio += m.PeakRatio / float64(seeds)
			row.SuccessRate += m.SuccessRate / float64(seeds)
			if len(runs[i].Latencies) > 0 {
				withLatency++
				row.P50MS += ms(m.P50)
				row.P99MS += ms(m.P99)
			}
			row.StallAttempts = max(row.StallAttempts, m.StallAttempts)
			row.StallProbes = max(row.StallProbes, m.StallProbes)
			if m.Recovered {
				row.RecoveredSeeds++
				row.RecoveryS = max(row.RecoveryS, m.Recovery.Seconds())
			}
		}
		if withLatency > 0 {
			row.P50MS /= float64(withLatency)
			row.P99MS /= float64(withLatency)
		}
		rows[pi] = row
		firsts[pi] = runs[pi*seeds]
	}
	return rows, firsts, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// OutageHeader is the CSV header of WriteOutageCSV.
var OutageHeader = []string{"policy", "amplification", "peak_ratio", "success_rate", "p50_ms", "p99_ms", "recovery_s", "stall_attempts_per_caller", "stall_probes_per_caller"}

// WriteOutageCSV writes rows as CSV, with OutageHeader first. recovery_s is
// the slowest seed's recovery, or "never" when some seed did not recover;
// the stall_ columns are the most of any one Caller in any seed.
func WriteOutageCSV(w io.Writer, rows []OutageRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(OutageHeader); err != nil {
		return err
	}
	for _, r := range rows {
		recovery := "never"
		if r.RecoveredSeeds == r.Seeds {
			recovery = strconv.FormatFloat(r.RecoveryS, 'f', 2, 64)
		}
		rec := []string{
			r.Policy,
			strconv.FormatFloat(r.Amplification, 'f', 2, 64),
			strconv.FormatFloat(r.PeakRatio, 'f', 1, 64),
			strconv.FormatFloat(r.SuccessRate, 'f', 3, 64),
			strconv.FormatFloat(r.P50MS, 'f', 1, 64),
			strconv.FormatFloat(r.P99MS, 'f', 1, 64),
			recovery,
			strconv.Itoa(r.StallAttempts),
			strconv.Itoa(r.StallProbes),
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
