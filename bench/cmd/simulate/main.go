// Command simulate runs the simulations of bench/sim and prints their CSV.
//
//	go run ./cmd/simulate contention [-clients 10,20,...] [-runs 100] [-seed 1] [-out results]
//	go run ./cmd/simulate outage [-seeds 5] [-seed 1] [-shared] [-duration 10s] [-out results]
//	go run ./cmd/simulate longoutage [-seeds 5] [-seed 1] [-shared] [-clients 100] [-out results]
//	go run ./cmd/simulate ratelimit [-clients 1,8,64] [-seeds 3] [-seed 1] [-shared] [-phase 10s] [-capacity 200] [-out results]
//
// ratelimit runs in real time: 3·phase plus the request timeout per client
// count and seed, every policy side by side in each run.
//
// With -out, it also draws the plots as PNGs into that directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"

	"github.com/backoff-go/backoff/bench/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}

const usage = "usage: simulate contention|outage|longoutage|ratelimit [flags]; simulate NAME -h lists the flags"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "contention":
		return contention(ctx, args[1:], stdout, stderr)
	case "outage":
		return outage(ctx, args[1:], stdout, stderr)
	case "longoutage":
		return longOutage(ctx, args[1:], stdout, stderr)
	case "ratelimit":
		return ratelimit(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, usage)
	return flag.ErrHelp
}

func contention(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("contention", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.String("clients", "10,20,30,40,50,60,70,80,90,100,110,120,130,140,150,160,170,180,190", "client counts, comma-separated")
	runs := fs.Int("runs", 100, "runs per client count and strategy")
	seed := fs.Uint64("seed", 1, "master seed")
	out := fs.String("out", "", "directory for the PNG plots; empty: no plots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	counts, err := parseInts(*clients)
	if err != nil {
		return fmt.Errorf("-clients: %w", err)
	}
	rows, err := sim.ContentionSweep(ctx, counts, sim.ContentionStrategies, *runs, *seed, 0)
	if err != nil {
		return err
	}
	if err := sim.WriteContentionCSV(stdout, rows); err != nil {
		return err
	}
	if *out != "" {
		return sim.PlotContention(rows, *out)
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, fmt.Errorf("%d is not a positive count", n)
		}
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return nil, errors.New("no client counts")
	}
	return ns, nil
}

func outage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("outage", flag.ContinueOnError)
	cfg := sim.DefaultOutage
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long requests arrive")
	return outageSweep(ctx, fs, &cfg, args, stdout, stderr)
}

// longOutage runs sim.DefaultLongOutage: the server is down for 60s, then
// healthy.
func longOutage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("longoutage", flag.ContinueOnError)
	cfg := sim.DefaultLongOutage
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "open-loop clients, each at 10 requests/s")
	return outageSweep(ctx, fs, &cfg, args, stdout, stderr)
}

// outageSweep adds the flags that both outage scenarios share to fs, parses
// args into them and into *cfg (which fs's own flags may point into), and
// runs the sweep: CSV on stdout, plots with -out.
func outageSweep(ctx context.Context, fs *flag.FlagSet, cfg *sim.OutageConfig, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(stderr)
	seeds := fs.Int("seeds", 5, "runs per policy, each with its own seed")
	seed := fs.Uint64("seed", 1, "master seed")
	fs.BoolVar(&cfg.Shared, "shared", false, "one policy instance (breaker, budget, adaptive) shared by all clients, rather than one per client")
	out := fs.String("out", "", "directory for the PNG plots; empty: no plots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rows, firsts, err := sim.OutageSweep(ctx, *cfg, sim.OutagePolicies(), *seeds, *seed, 0)
	if err != nil {
		return err
	}
	if err := sim.WriteOutageCSV(stdout, rows); err != nil {
		return err
	}
	if *out != "" {
		return sim.PlotOutage(*cfg, rows, firsts, *out)
	}
	return nil
}

func ratelimit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ratelimit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.String("clients", "1,8,64", "client counts, comma-separated")
	seeds := fs.Int("seeds", 3, "runs per client count, each with its own seed")
	seed := fs.Uint64("seed", 1, "master seed")
	shared := fs.Bool("shared", false, "the clients are goroutines of one service sharing one instance of each policy (one Limiter, one AWS retryer, one failsafe limiter), rather than processes with one each")
	phase := fs.Duration("phase", sim.DefaultRateLimit.Phase, "capacity halves after one phase and comes back after two; the run lasts three")
	capacity := fs.Float64("capacity", sim.DefaultRateLimit.Capacity, "the server's requests/s at full capacity")
	out := fs.String("out", "", "directory for the PNG plot; empty: no plot")
	quiet := fs.Bool("q", false, "do not report each run on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	counts, err := parseInts(*clients)
	if err != nil {
		return fmt.Errorf("-clients: %w", err)
	}
	cfg := sim.DefaultRateLimit
	cfg.Shared = *shared
	cfg.Phase = *phase
	cfg.Capacity = *capacity
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	rows, plotRuns, err := sim.RateLimitSweep(ctx, cfg, counts, sim.RateLimitPolicies(), *seeds, *seed, progress)
	if err != nil {
		return err
	}
	if err := sim.WriteRateLimitCSV(stdout, rows); err != nil {
		return err
	}
	if *out != "" {
		c := cfg
		c.Clients = slices.Max(counts)
		return sim.PlotRateLimit(c, plotRuns, *out)
	}
	return nil
}
