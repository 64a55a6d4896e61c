// Command fleet measures module redis on a fleet: replicas, each a process
// of its own (this binary, run again with -child), share one real Redis and
// call one glmserver that caps the requests per second of the whole fleet,
// as a model API caps an API key.
//
//	go run ./cmd/fleet [-replicas 8] [-cap 200] [-duration 10s] [-seeds 3] [-period 200ms]
//
// For each seed it runs the load twice, with local Limiters (each replica
// learns the cap alone) and with redis.Limiter (the fleet learns it once),
// and prints, per run, the successes per second against the cap and the
// share of attempts answered 429, after a warm-up. Then it trips the
// breaker of one replica and prints how long each other replica took to
// open, against the Period. Redis is BACKOFF_REDIS_ADDR, or a redis-server
// it starts on 127.0.0.1 and stops at the end.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
	"github.com/backoff-go/backoff/redis"
	goredis "github.com/redis/go-redis/v9"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

type flags struct {
	child                          string // "", "local", "shared" or "breaker"
	replicas, workers, seeds, id   int
	capRate                        float64
	duration, warmup, period, trip time.Duration
	url, redisAddr, prefix         string
	start                          int64 // the fleet's start, Unix ns
}

func run(args []string) error {
	var f flags
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.StringVar(&f.child, "child", "", "internal: run as one replica of this mode")
	fs.IntVar(&f.replicas, "replicas", 8, "replicas, each a process")
	fs.IntVar(&f.workers, "workers", 16, "callers per replica")
	fs.IntVar(&f.seeds, "seeds", 3, "runs of each scenario")
	fs.IntVar(&f.id, "id", 0, "internal: the replica's number")
	fs.Float64Var(&f.capRate, "cap", 200, "the fleet-wide cap, requests/s")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "length of a load run")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "not counted at the start of a load run")
	fs.DurationVar(&f.period, "period", 200*time.Millisecond, "redis.Settings.Period")
	fs.DurationVar(&f.trip, "trip", time.Second, "internal: when replica 0 trips its breaker")
	fs.StringVar(&f.url, "url", "", "internal: glmserver's URL")
	fs.StringVar(&f.redisAddr, "redis", "", "internal: Redis's address")
	fs.StringVar(&f.prefix, "prefix", "", "internal: the key prefix")
	fs.Int64Var(&f.start, "start", 0, "internal: the fleet's start, Unix ns")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.child != "" {
		return child(f)
	}
	return parent(f)
}

// report is what a replica prints when it ends, as one JSON line.
type report struct {
	Attempts, OK, Throttled, Failed int64
	Opened                          int64 // breaker: when it saw Open, Unix ns; 0: never
}

func parent(f flags) error {
	addr := os.Getenv("BACKOFF_REDIS_ADDR")
	if addr == "" {
		stop, a, err := startRedis()
		if err != nil {
			return fmt.Errorf("no BACKOFF_REDIS_ADDR and no redis-server: %w", err)
		}
		defer stop()
		addr = a
	}
	f.redisAddr = addr
	fmt.Printf("fleet: %d replicas × %d callers, cap %.0f/s, %v runs (%v counted), period %v, Redis %s\n",
		f.replicas, f.workers, f.capRate, f.duration, f.duration-f.warmup, f.period, addr)
	fmt.Println("seed,limiter,ok_per_s,share_of_cap,attempts,throttled_share")
	for seed := 1; seed <= f.seeds; seed++ {
		for _, mode := range []string{"local", "shared"} {
			srv, err := glmserver.Start(glmserver.Config{Seed: uint64(seed)})
			if err != nil {
				return err
			}
			if err := srv.SetLimits(glmserver.Limits{Rate: f.capRate}); err != nil {
				srv.Close()
				return err
			}
			f.url = srv.URL
			f.prefix = fmt.Sprintf("fleet:%d:%s:%d:", os.Getpid(), mode, seed)
			reps, err := spawn(f, mode)
			srv.Close()
			if err != nil {
				return err
			}
			var sum report
			for _, r := range reps {
				sum.Attempts += r.Attempts
				sum.OK += r.OK
				sum.Throttled += r.Throttled
			}
			secs := (f.duration - f.warmup).Seconds()
			ok := float64(sum.OK) / secs
			fmt.Printf("%d,%s,%.1f,%.3f,%d,%.4f\n", seed, mode, ok, ok/f.capRate, sum.Attempts,
				float64(sum.Throttled)/float64(max(sum.Attempts, 1)))
		}
	}
	fmt.Println("seed,replica,opened_after_ms,period_ms")
	var lags []time.Duration
	never := 0
	for seed := 1; seed <= f.seeds; seed++ {
		f.prefix = fmt.Sprintf("fleet:%d:breaker:%d:", os.Getpid(), seed)
		reps, err := spawn(f, "breaker")
		if err != nil {
			return err
		}
		first := reps[0].Opened
		for i, r := range reps[1:] {
			if r.Opened == 0 {
				fmt.Printf("%d,%d,never,%d\n", seed, i+1, f.period.Milliseconds())
				lags = append(lags, time.Duration(1<<62))
				never++
				continue
			}
			lag := time.Duration(r.Opened - first)
			lags = append(lags, lag)
			fmt.Printf("%d,%d,%.1f,%d\n", seed, i+1, float64(lag)/1e6, f.period.Milliseconds())
		}
	}
	slices.Sort(lags)
	fmt.Printf("breaker: median %.1f ms, max %.1f ms after the first, period %v\n",
		float64(lags[len(lags)/2])/1e6, float64(lags[len(lags)-1])/1e6, f.period)
	if never > 0 {
		return fmt.Errorf("%d replicas did not open within 10 periods of the first", never)
	}
	return nil
}

// spawn runs the replicas of one scenario and collects their reports.
func spawn(f flags, mode string) ([]report, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	start := time.Now().Add(time.Second) // every process is up by then
	reps := make([]report, f.replicas)
	errs := make([]error, f.replicas)
	var wg sync.WaitGroup
	for i := range f.replicas {
		wg.Go(func() {
			cmd := exec.Command(exe, "-child", mode, "-id", strconv.Itoa(i),
				"-replicas", strconv.Itoa(f.replicas), "-workers", strconv.Itoa(f.workers),
				"-cap", strconv.FormatFloat(f.capRate, 'g', -1, 64),
				"-duration", f.duration.String(), "-warmup", f.warmup.String(),
				"-period", f.period.String(), "-trip", f.trip.String(),
				"-url", f.url, "-redis", f.redisAddr, "-prefix", f.prefix,
				"-start", strconv.FormatInt(start.UnixNano(), 10))
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err == nil {
				err = json.Unmarshal(bytes.TrimSpace(out), &reps[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return reps, errors.Join(errs...)
}

func child(f flags) error {
	c := goredis.NewClient(&goredis.Options{Addr: f.redisAddr, ContextTimeoutEnabled: true})
	defer c.Close()
	s := redis.Settings{Client: c, Prefix: f.prefix, Period: f.period, ID: strconv.Itoa(f.id)}
	start := time.Unix(0, f.start)
	var r report
	var err error
	if f.child == "breaker" {
		r = breakerChild(f, s, start)
	} else {
		r, err = loadChild(f, s, start)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func breakerChild(f flags, s redis.Settings, start time.Time) report {
	b := redis.NewBreaker("glm", backoff.BreakerSettings{OpenFor: 5 * time.Second}, s)
	defer b.Close()
	time.Sleep(time.Until(start.Add(f.trip)))
	if f.id == 0 {
		b.Trip()
		t := time.Now().UnixNano()
		time.Sleep(3 * f.period) // the rounds that publish it
		return report{Opened: t}
	}
	for deadline := time.Now().Add(10 * f.period); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b.State() == backoff.Open {
			return report{Opened: time.Now().UnixNano()}
		}
	}
	return report{}
}

func loadChild(f flags, s redis.Settings, start time.Time) (report, error) {
	var l *backoff.Limiter
	if f.child == "shared" {
		rl := redis.NewLimiter("glm", backoff.LimiterSettings{MaxConcurrency: f.workers * f.replicas}, s)
		defer rl.Close()
		l = rl.Limiter
	} else {
		l = backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: f.workers})
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: f.workers,
		DialContext:         (&net.Dialer{}).DialContext,
	}}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(map[string]any{
		"model":    "autoglm-phone-9b",
		"messages": []map[string]string{{"role": "user", "content": "Open Settings."}},
	})
	time.Sleep(time.Until(start))
	counted, end := start.Add(f.warmup), start.Add(f.duration)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	var attempts, ok, throttled, failed atomic.Int64
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				slot, err := l.Acquire(ctx)
				if err != nil {
					return // the run's end
				}
				t0 := time.Now()
				code, err := post(ctx, client, f.url, body)
				if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
					slot.Done(ctx.Err(), 0)
					return
				}
				var outcome error
				if code == http.StatusTooManyRequests {
					outcome = &backoff.StatusError{Code: code}
				} else if err != nil || code != http.StatusOK {
					outcome = fmt.Errorf("status %d: %v", code, err)
				}
				slot.Done(outcome, time.Since(t0))
				if t0.Before(counted) {
					continue
				}
				attempts.Add(1)
				switch {
				case outcome == nil:
					ok.Add(1)
				case code == http.StatusTooManyRequests:
					throttled.Add(1)
				default:
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return report{Attempts: attempts.Load(), OK: ok.Load(), Throttled: throttled.Load(), Failed: failed.Load()}, nil
}

func post(ctx context.Context, client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+glmserver.Path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, bufio.NewReader(resp.Body))
	resp.Body.Close()
	return resp.StatusCode, err
}

// startRedis starts redis-server on 127.0.0.1 and a free port.
func startRedis() (stop func(), addr string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	addr = "127.0.0.1:" + strconv.Itoa(port)
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return stop, addr, nil
		}
	}
	stop()
	return nil, "", errors.New("redis-server did not answer")
}
