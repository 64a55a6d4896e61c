// Command openautoglm sends chat-completion requests, some of them streamed,
// from concurrent workers, twice: once with no retries at all and once
// through backoff's retrying HTTP transport with the Production preset, and
// prints a summary of each run and what the retries cost and bought.
//
// With no flags it starts an embedded OpenAI-compatible server on 127.0.0.1
// that injects faults (429 with Retry-After, 503, 500, connection resets,
// bodies cut mid-way, slow first bytes, and 429s with an account error that
// no retry fixes), so it runs offline in a few seconds:
//
//	go run ./examples/openautoglm
//
// With -base-url (or OPENAI_BASE_URL) it talks to a real OpenAI-compatible
// server instead, with -api-key (or OPENAI_API_KEY):
//
//	go run ./examples/openautoglm -base-url https://host/v1 -requests 20
//
// The two runs send the same load (the same requests, started at the same
// times) and meet the same faults: each request carries an Idempotency-Key,
// and the embedded server draws the fault of a request's n-th attempt from
// (seed, key, n), not from the order in which attempts arrive, which
// retries change. So every request's first attempt meets the same fault in
// both runs, and the difference between the two summaries is what the
// retries did. (Drawing from one sequence in arrival order would hand the
// library's run different faults from the first retry on, and the gap
// would mix luck with policy.) Against a real server, -compare=false runs
// the library only.
//
// -trace writes the library's backoff.SlogTrace records to stderr: one per
// retry, give-up and change of the breaker's state. The summary lists the
// breaker's changes, with their times, in any case.
//
// -rate-limit turns on the embedded server's caps, at half the default
// load: 8 requests in progress and 100 requests/s from a bucket of 10 (set
// by -cap-concurrency, -cap-rate, -cap-burst), answered with z.ai's 429s
// 1302 and 1303. The library then runs twice, without and with one
// backoff.Limiter shared by all the workers, as one API key would share it,
// and each block gives the share of attempts answered 429. Random 429s and
// 503s are off with it unless -429 or -503 asks for them: they come
// whatever the load, and a Limiter takes each for a throttle.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/backoff-go/backoff/internal/glmserver"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openautoglm:", err)
		os.Exit(2)
	}
	if !cfg.Progress {
		cfg.Progress = isTerminal(os.Stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "openautoglm:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line; getenv supplies OPENAI_BASE_URL and
// OPENAI_API_KEY, which the flags override.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("openautoglm", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.BaseURL, "base-url", getenv("OPENAI_BASE_URL"), "OpenAI-compatible API base, e.g. https://host/v1 (env OPENAI_BASE_URL); empty: the embedded fault-injecting server")
	fs.StringVar(&cfg.APIKey, "api-key", getenv("OPENAI_API_KEY"), "API key sent as a bearer token (env OPENAI_API_KEY)")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model name")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "concurrent workers")
	fs.IntVar(&cfg.Requests, "requests", cfg.Requests, "requests to send")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "requests started per second, spread evenly; 0: as fast as the workers go")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "start no request after this long")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "deadline of one request, its retries included")
	fs.DurationVar(&cfg.AttemptTimeout, "attempt-timeout", cfg.AttemptTimeout, "deadline of one attempt's response headers; 0: none")
	fs.Float64Var(&cfg.StreamShare, "stream", cfg.StreamShare, "share of the requests that are streamed, in [0,1]")
	fs.Int64Var(&cfg.BufferBody, "buffer-body", cfg.BufferBody, "bytes of a non-streamed answer the transport reads before returning it, so that a cut body is retried; 0: off")
	fs.BoolVar(&cfg.Compare, "compare", cfg.Compare, "first run the same load with no retries, and print the difference")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the embedded server's fault sequence")
	fs.BoolVar(&cfg.Progress, "progress", false, "show the live progress line on stderr even when it is not a terminal")
	fs.BoolVar(&cfg.Trace, "trace", false, "write the library's backoff.SlogTrace records (retries, give-ups, breaker changes) to stderr")
	fs.BoolVar(&cfg.RateLimit, "rate-limit", false, "embedded server: turn on its caps (-cap-*), and run the library a second time with a shared backoff.Limiter")
	l := &cfg.Limits
	fs.IntVar(&l.Concurrency, "cap-concurrency", l.Concurrency, "with -rate-limit: requests the server lets be in progress at once (z.ai 1302 over it)")
	fs.Float64Var(&l.Rate, "cap-rate", l.Rate, "with -rate-limit: requests per second the server lets start (z.ai 1303 over it)")
	fs.IntVar(&l.Burst, "cap-burst", l.Burst, "with -rate-limit: requests the server's rate bucket holds")
	f := &cfg.Faults
	fs.Float64Var(&f.RateLimit, "429", f.RateLimit, "embedded server: share of 429 Too Many Requests")
	fs.Float64Var(&f.Unavailable, "503", f.Unavailable, "embedded server: share of 503 Service Unavailable")
	fs.Float64Var(&f.ServerError, "500", f.ServerError, "embedded server: share of 500 Internal Server Error")
	fs.Float64Var(&f.Reset, "reset", f.Reset, "embedded server: share of connections reset before the headers")
	fs.Float64Var(&f.ResetMidBody, "reset-mid-body", f.ResetMidBody, "embedded server: share of connections closed in the middle of the body")
	fs.Float64Var(&f.Slow, "slow", f.Slow, "embedded server: share of slow first bytes")
	fs.Float64Var(&f.AccountError, "account-error", f.AccountError, "embedded server: share of 429s with an account error (z.ai 1113, in arrears) that no retry fixes")
	fs.DurationVar(&f.SlowDelay, "slow-delay", f.SlowDelay, "embedded server: delay of a slow first byte")
	fs.DurationVar(&f.RetryAfter, "retry-after", f.RetryAfter, "embedded server: wait asked for by 429 and 503 (retry-after-ms, and Retry-After rounded up to seconds)")
	noFaults := fs.Bool("no-faults", false, "embedded server: inject no faults")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *noFaults {
		cfg.Faults = glmserver.Faults{}
	}
	if cfg.RateLimit {
		// Under the caps the 429s should be the caps' own, which say how
		// loaded the server is. Random 429s and 503s with Retry-After come
		// whatever the load, and a Limiter takes each for a throttle: at
		// the default 6% and 3% it pulls its rate down to a few requests a
		// second. So they are off unless asked for.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["429"] {
			cfg.Faults.RateLimit = 0
		}
		if !set["503"] {
			cfg.Faults.Unavailable = 0
		}
	}
	return cfg, cfg.validate()
}

// isTerminal reports whether f is a character device, as a terminal is; a
// pipe or a file is not, and gets no progress line.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func defaultConfig() config {
	return config{
		Model:          "autoglm-phone-9b",
		Workers:        16,
		Requests:       400,
		Rate:           200,
		Duration:       30 * time.Second,
		Timeout:        10 * time.Second,
		AttemptTimeout: time.Second,
		StreamShare:    0.3,
		BufferBody:     1 << 20,
		Compare:        true,
		Seed:           1,
		// Half of the default load: 16 workers at 200 requests/s meet
		// caps of 8 in progress and 100/s, with a bucket of a tenth of a
		// second's worth, so that the caps bite from the start.
		Limits: glmserver.Limits{Concurrency: 8, Rate: 100, Burst: 10},
		Faults: glmserver.Faults{
			RateLimit:    0.06,
			Unavailable:  0.03,
			ServerError:  0.03,
			Reset:        0.02,
			ResetMidBody: 0.02,
			Slow:         0.02,
			AccountError: 0.01,
			SlowDelay:    1500 * time.Millisecond,
			RetryAfter:   300 * time.Millisecond,
		},
	}
}
