package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/backoff-go/backoff"
	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
)

// The rate-limit simulation: N clients share one API key whose server
// admits Capacity requests per second (a token bucket) and answers the rest
// 429 with the wait until its next token; the clients offer twice that. The
// capacity halves at Phase and comes back at 2·Phase. Each policy is how
// every client calls: with retries alone, with backoff's Limiter, with the
// AWS SDK's adaptive retry mode, or with failsafe-go's adaptive limiter.
//
// It runs in real time (or in a testing/synctest bubble's fake time, where
// the same code runs instantly): the AWS SDK and failsafe-go read time.Now
// inside and take no clock, so they cannot run on the simulated clock of the
// outage simulation. Every policy runs at once, side by side, each with its
// own server and the same arrivals, so all meet the same machine load.
//
// The clients are separate processes by default, each with its own policy
// instance, learning alone. With Shared they are the goroutines of one
// service holding one API key, sharing one instance of each policy: one
// Limiter for the key, one AWS SDK client's retryer, one failsafe limiter.
// The arrivals are the same in both modes.

// RateLimitConfig describes the rate-limit scenario. It is a plain value:
// safe to read from many goroutines, not to change while others read it.
type RateLimitConfig struct {
	Clients  int           // clients: separate processes sharing one key, or with Shared the goroutines of one service
	Shared   bool          // all clients share one policy instance (one Limiter, one AWS retryer, one failsafe limiter), rather than one each
	Capacity float64       // the server's requests/s, before Phase and from 2·Phase
	Load     float64       // offered requests/s as a multiple of Capacity, split evenly between clients (Poisson)
	Service  time.Duration // how long an admitted request takes
	Burst    float64       // the server bucket's size, in seconds of Capacity
	Phase    time.Duration // capacity halves at Phase, doubles back at 2·Phase; requests arrive until 3·Phase
	Timeout  time.Duration // each request's deadline, from its arrival
	Bin      time.Duration // the width of the time series' bins
	Window   time.Duration // the window over which reconvergence is judged; a multiple of Bin
}

// DefaultRateLimit is the scenario, scaled down in time so that it
// runs in real time in a reasonable while: phases of 10s rather than 20s.
var DefaultRateLimit = RateLimitConfig{
	Clients:  64,
	Capacity: 200,
	Load:     2,
	Service:  100 * time.Millisecond,
	Burst:    1,
	Phase:    10 * time.Second,
	Timeout:  5 * time.Second,
	Bin:      250 * time.Millisecond,
	Window:   time.Second,
}

func (c RateLimitConfig) validate() error {
	switch {
	case c.Clients <= 0:
		return fmt.Errorf("sim: ratelimit: clients must be positive, not %d", c.Clients)
	case !(c.Capacity > 0) || !(c.Load > 0) || !(c.Burst >= 0):
		return errors.New("sim: ratelimit: capacity and load must be positive, burst not negative")
	case c.Service <= 0 || c.Phase <= 0 || c.Timeout <= 0 || c.Bin <= 0:
		return errors.New("sim: ratelimit: service, phase, timeout and bin must be positive")
	case c.Window < c.Bin || c.Window%c.Bin != 0 || c.Phase%c.Bin != 0 || c.Window > c.Phase:
		return errors.New("sim: ratelimit: window and phase must be multiples of the bin, window at most a phase")
	}
	return nil
}

// capacityAt is the server's rate at time t since the start.
func (c RateLimitConfig) capacityAt(t time.Duration) float64 {
	if t >= c.Phase && t < 2*c.Phase {
		return c.Capacity / 2
	}
	return c.Capacity
}

// RateLimitPolicy names a way for one client to call the server. New is
// called once per client (once per run when the scenario is Shared) and
// returns that client's call: it makes one request (with whatever retries
// the policy makes) through attempt, which sends one attempt to the server.
// The call it returns must be safe for concurrent use: a client's requests
// overlap, and with Shared every client's do.
type RateLimitPolicy struct {
	Name string
	New  func() func(ctx context.Context, attempt func(context.Context) error) error
}

// RateLimitPolicies returns the policies of the issue, in table order.
//
//   - none: backoff.Production() alone (4 attempts, server-paced waits on a
//     429, a breaker and a budget), through backoff.Do.
//   - limiter: the same, with a backoff.Limiter of default settings
//     (WithLimiter).
//   - aws-adaptive: the AWS SDK for Go v2's adaptive retry mode
//     (retry.NewAdaptiveMode with its defaults), driven through its public
//     RetryerV2 methods as its retry middleware drives them: an attempt
//     token before each attempt (its CUBIC bucket's wait), the release with
//     the attempt's error, IsErrorRetryable, MaxAttempts, the retry quota
//     (GetRetryToken) and RetryDelay.
//   - failsafe-adaptive: failsafe-go's adaptive limiter (adaptivelimiter,
//     its defaults) around each attempt, with Production's retries: a
//     permit before each attempt, Record on an answer, Drop on a 429.
func RateLimitPolicies() []RateLimitPolicy {
	production := func(extra ...backoff.Option) func(ctx context.Context, attempt func(context.Context) error) error {
		opts := backoff.Options(append([]backoff.Option{backoff.Production()}, extra...)...)
		return func(ctx context.Context, attempt func(context.Context) error) error {
			return backoff.Do(ctx, attempt, opts)
		}
	}
	return []RateLimitPolicy{
		{Name: "none", New: func() func(context.Context, func(context.Context) error) error {
			return production()
		}},
		{Name: "limiter", New: func() func(context.Context, func(context.Context) error) error {
			return production(backoff.WithLimiter(backoff.NewLimiter(backoff.LimiterSettings{})))
		}},
		{Name: "aws-adaptive", New: func() func(context.Context, func(context.Context) error) error {
			r := awsretry.NewAdaptiveMode()
			return func(ctx context.Context, attempt func(context.Context) error) error {
				return awsCall(ctx, r, attempt)
			}
		}},
		{Name: "failsafe-adaptive", New: func() func(context.Context, func(context.Context) error) error {
			lim := adaptivelimiter.NewWithDefaults[any]()
			call := production()
			return func(ctx context.Context, attempt func(context.Context) error) error {
				return call(ctx, func(ctx context.Context) error {
					p, err := lim.AcquirePermit(ctx)
					if err != nil {
						return err
					}
					err = attempt(ctx)
					if isThrottled(err) {
						p.Drop()
					} else {
						p.Record()
					}
					return err
				})
			}
		}},
	}
}

// awsCall makes one request the way the AWS SDK's retry middleware
// (aws/retry/middleware.go) drives a RetryerV2.
func awsCall(ctx context.Context, r *awsretry.AdaptiveMode, attempt func(context.Context) error) error {
	var releaseRetry func(error) error
	for n := 1; ; n++ {
		release, err := r.GetAttemptToken(ctx)
		if err != nil {
			return err
		}
		err = attempt(ctx)
		_ = release(err)
		if err == nil {
			if releaseRetry != nil {
				_ = releaseRetry(nil)
			}
			return nil
		}
		if ctx.Err() != nil || !r.IsErrorRetryable(err) || n >= r.MaxAttempts() {
			return err
		}
		releaseRetry, err = r.GetRetryToken(ctx, err)
		if err != nil {
			return err
		}
		d, err := r.RetryDelay(n, err)
		if err != nil {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// throttledError is the server's 429: a backoff.StatusError for backoff,
// with the error code and HTTP status that the AWS SDK reads to tell a
// throttle (TooManyRequestsException is one of its DefaultThrottleErrorCodes).
type throttledError struct{ se *backoff.StatusError }

func (e *throttledError) Error() string       { return e.se.Error() }
func (e *throttledError) Unwrap() error       { return e.se }
func (e *throttledError) ErrorCode() string   { return "TooManyRequestsException" }
func (e *throttledError) HTTPStatusCode() int { return 429 }

func isThrottled(err error) bool {
	var t *throttledError
	return errors.As(err, &t)
}

// rlServer is one policy's server: a token bucket at the capacity of the
// moment, and a recorder of what it answered.
type rlServer struct {
	cfg   RateLimitConfig
	start time.Time

	mu     sync.Mutex // protects everything below
	tokens float64
	last   time.Duration
	rec    *rlRecord
}

// rlRecord is what one policy's run measured, in bins of cfg.Bin.
type rlRecord struct {
	attempts, throttled []int
	goodput             []int // requests that succeeded, by the bin they succeeded in
	latencies           []time.Duration
	totalAttempts       int
	totalThrottled      int
}

func (s *rlServer) bin(t time.Duration) int {
	b := int(t / s.cfg.Bin)
	if t < 0 || b >= len(s.rec.attempts) {
		return -1
	}
	return b
}

// attempt is one attempt at time since start: a 429 at once with the wait
// until the next token, or an answer after Service.
func (s *rlServer) attempt(ctx context.Context) error {
	s.mu.Lock()
	t := time.Since(s.start)
	rate := s.cfg.capacityAt(t)
	burst := max(1, s.cfg.Burst*rate)
	s.tokens = min(burst, s.tokens+(t-s.last).Seconds()*rate)
	s.last = t
	b := s.bin(t)
	if b >= 0 {
		s.rec.attempts[b]++
		s.rec.totalAttempts++
	}
	if s.tokens < 1 {
		if b >= 0 {
			s.rec.throttled[b]++
			s.rec.totalThrottled++
		}
		wait := time.Duration(math.Ceil((1 - s.tokens) / rate * float64(time.Second)))
		s.mu.Unlock()
		return &throttledError{&backoff.StatusError{Code: 429, RetryAfter: wait}}
	}
	s.tokens--
	s.mu.Unlock()
	timer := time.NewTimer(s.cfg.Service)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RateLimitRun is what one policy measured in one run. It is a plain value.
type RateLimitRun struct {
	Policy      string
	Attempts    int       // attempts that reached the server within the run
	Throttled   int       // of those, answered 429
	Goodput     []float64 // successes per second, per bin
	Throttles   []float64 // 429s per second, per bin
	AttemptRate []float64 // attempts per second, per bin
	Latencies   []time.Duration
	Capacity    []float64 // the server's capacity per bin
}

// RunRateLimit runs every policy of ps once, all at the same time, each
// against its own server and with the same arrivals (seeded by seed), in
// real time: it takes 3·Phase plus up to Timeout. Run it inside a
// testing/synctest bubble to make it instant.
func RunRateLimit(ctx context.Context, cfg RateLimitConfig, ps []RateLimitPolicy, seed uint64) ([]RateLimitRun, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	end := 3 * cfg.Phase
	bins := int(end / cfg.Bin)
	start := time.Now()
	servers := make([]*rlServer, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		srv := &rlServer{cfg: cfg, start: start, tokens: max(1, cfg.Burst*cfg.Capacity), rec: &rlRecord{
			attempts: make([]int, bins), throttled: make([]int, bins), goodput: make([]int, bins),
		}}
		servers[i] = srv
		var shared func(context.Context, func(context.Context) error) error
		if cfg.Shared {
			shared = p.New()
		}
		for c := range cfg.Clients {
			call := shared
			if call == nil {
				call = p.New()
			}
			arrivals := newRand(seed, uint64(c)) // the same for every policy
			rate := cfg.Load * cfg.Capacity / float64(cfg.Clients)
			wg.Go(func() {
				at := time.Duration(0)
				var reqs sync.WaitGroup
				defer reqs.Wait()
				for {
					at += time.Duration(arrivals.ExpFloat64() / rate * float64(time.Second))
					if at >= end {
						return
					}
					if !sleepUntil(ctx, start.Add(at)) {
						return
					}
					reqs.Go(func() {
						rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
						defer cancel()
						arrived := time.Now()
						if call(rctx, srv.attempt) != nil {
							return
						}
						done := time.Since(start)
						srv.mu.Lock()
						if b := srv.bin(done); b >= 0 {
							srv.rec.goodput[b]++
							srv.rec.latencies = append(srv.rec.latencies, time.Since(arrived))
						}
						srv.mu.Unlock()
					})
				}
			})
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	perSec := cfg.Bin.Seconds()
	runs := make([]RateLimitRun, len(ps))
	for i, srv := range servers {
		r := srv.rec
		run := RateLimitRun{Policy: ps[i].Name, Attempts: r.totalAttempts, Throttled: r.totalThrottled, Latencies: r.latencies}
		for b := range bins {
			run.Goodput = append(run.Goodput, float64(r.goodput[b])/perSec)
			run.Throttles = append(run.Throttles, float64(r.throttled[b])/perSec)
			run.AttemptRate = append(run.AttemptRate, float64(r.attempts[b])/perSec)
			run.Capacity = append(run.Capacity, cfg.capacityAt(time.Duration(b)*cfg.Bin))
		}
		runs[i] = run
	}
	return runs, nil
}

// sleepUntil waits until t, and reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// GoodputRatio is the requests that succeeded during the run over what the
// server could have served.
func (r RateLimitRun) GoodputRatio() float64 {
	var got, could float64
	for i := range r.Goodput {
		got += r.Goodput[i]
		could += r.Capacity[i]
	}
	return got / could
}

// ThrottledShare is the share of attempts answered 429.
func (r RateLimitRun) ThrottledShare() float64 {
	if r.Attempts == 0 {
		return 0
	}
	return float64(r.Throttled) / float64(r.Attempts)
}

// Reconverge is the longer, over the two capacity changes, of the time
// from a change to the end of the first window of cfg.Window in which
// goodput is within 10% of the new capacity and at most 5% of attempts were
// throttled. A policy that never gets there scores the whole phase.
func (r RateLimitRun) Reconverge(cfg RateLimitConfig) time.Duration {
	per := int(cfg.Window / cfg.Bin)
	phase := int(cfg.Phase / cfg.Bin)
	worst := time.Duration(0)
	for _, change := range []int{phase, 2 * phase} {
		settled := phase // in bins after the change; the whole phase if never
		for s := change; s+per <= change+phase; s++ {
			if r.windowOK(s, per) {
				settled = s - change + per
				break
			}
		}
		worst = max(worst, time.Duration(settled)*cfg.Bin)
	}
	return worst
}

func (r RateLimitRun) windowOK(from, n int) bool {
	var good, capa, thr, att float64
	for b := from; b < from+n; b++ {
		good += r.Goodput[b]
		capa += r.Capacity[b]
		thr += r.Throttles[b]
		att += r.AttemptRate[b]
	}
	return good >= 0.9*capa && good <= 1.1*capa && thr <= 0.05*att
}
