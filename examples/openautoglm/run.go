package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
)

// config is what the command line sets.
type config struct {
	BaseURL        string // API base, such as https://host/v1; "": the embedded server
	APIKey         string
	Model          string
	Workers        int
	Requests       int
	Rate           float64       // requests started per second; 0: unpaced
	Duration       time.Duration // no request starts after this
	Timeout        time.Duration // one request, retries included
	AttemptTimeout time.Duration // one attempt; 0: none
	StreamShare    float64       // share of streamed requests
	OpenFor        time.Duration // the breaker's open time
	Seed           uint64
	Progress       bool // write the live progress line to stderr
	Faults         glmserver.Faults
}

func (c config) validate() error {
	switch {
	case c.Workers < 1:
		return errors.New("-workers must be at least 1")
	case c.Requests < 1:
		return errors.New("-requests must be at least 1")
	case c.Rate < 0:
		return errors.New("-rate must not be negative")
	case c.Duration <= 0 || c.Timeout <= 0:
		return errors.New("-duration and -timeout must be positive")
	case c.AttemptTimeout < 0 || c.OpenFor < 0:
		return errors.New("-attempt-timeout and -open-for must not be negative")
	case !(c.StreamShare >= 0 && c.StreamShare <= 1):
		return errors.New("-stream must be in [0,1]")
	case c.Model == "":
		return errors.New("-model must not be empty")
	}
	if c.BaseURL == "" {
		return c.Faults.Validate()
	}
	return nil
}

// The retry budget of the demo: Production's defaults, spelled out so that
// the summary can state the bound they set.
const (
	budgetRatio = 0.1
	budgetBurst = 10
)

// summary is what one run did.
type summary struct {
	Target     string // the chat completions URL
	Embedded   bool   // the target was the embedded server
	Requests   int    // requests started, all of which ended
	NotStarted int    // requests not started: -duration passed, or ctx ended, first
	Successes  int    // right answers read in full
	Streamed   int    // successes that came as server-sent events
	Attempts   int    // HTTP exchanges the transport began, retries included
	Retries    int    // attempts beyond each request's first
	Unsent     int    // requests that made no attempt: the breaker was open
	Failures   map[string]int
	Breaker    []stateChange
	P50, P99   time.Duration // latency of all requests, from start to the end of the body
	Elapsed    time.Duration
	Server     glmserver.Stats // what the embedded server saw; zero otherwise
	RetryBound float64         // retries the budget allows: Ratio·Requests + Burst
}

// Amplification is attempts per request: the load that retries add.
func (s summary) Amplification() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Attempts) / float64(s.Requests)
}

type stateChange struct {
	At       time.Duration // since the run began
	From, To backoff.State
}

// attemptsKey is the context key under which a request carries its attempt
// counter, which countingTransport increments for each attempt.
type attemptsKey struct{}

// countingTransport sits under backoff.Transport and counts what reaches the
// network: every call is one attempt.
type countingTransport struct {
	next     http.RoundTripper
	attempts atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.attempts.Add(1)
	if n, ok := r.Context().Value(attemptsKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// result is one request's end; the zero result is a request not started.
type result struct {
	started  bool
	ok       bool
	streamed bool
	attempts int64
	reason   string // why it failed
	latency  time.Duration
}

// run sends cfg.Requests chat completions from cfg.Workers workers through
// backoff.Transport, writes the live progress line to stderr when
// cfg.Progress is set and the summary to stdout, and returns the summary.
// Every request has ended when it returns. Cancelling ctx ends the requests
// in flight, which count as failures.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) (summary, error) {
	if err := cfg.validate(); err != nil {
		return summary{}, err
	}
	sum := summary{Failures: map[string]int{}}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	var srv *glmserver.Server
	if base == "" {
		var err error
		srv, err = glmserver.Start(glmserver.Config{Faults: cfg.Faults, Seed: cfg.Seed, APIKey: cfg.APIKey,
			ChunkDelay: 2 * time.Millisecond})
		if err != nil {
			return summary{}, err
		}
		defer srv.Close()
		base = srv.URL + "/v1"
		sum.Embedded = true
	}
	sum.Target = base + "/chat/completions"

	began := time.Now()
	var (
		mu      sync.Mutex // protects changes
		changes []stateChange
	)
	breaker := backoff.NewBreaker(backoff.BreakerSettings{
		OpenFor: cfg.OpenFor,
		OnStateChange: func(from, to backoff.State) {
			mu.Lock()
			changes = append(changes, stateChange{At: time.Since(began), From: from, To: to})
			mu.Unlock()
		},
	})
	// Production's policy, with a breaker and a budget of the demo's own in
	// place of the preset's: the same default settings, except that the
	// breaker reports its changes, and opens for -open-for rather than
	// Production's 30s, which would outlast the run.
	opts := []backoff.Option{
		backoff.Production(),
		backoff.WithBreaker(breaker),
		backoff.WithBudget(backoff.NewBudget(backoff.BudgetSettings{Ratio: budgetRatio, Burst: budgetBurst})),
	}
	if cfg.AttemptTimeout > 0 {
		opts = append(opts, backoff.WithAttemptTimeout(cfg.AttemptTimeout))
	}
	network := &http.Transport{
		Proxy:               http.ProxyFromEnvironment, // never used for loopback
		MaxIdleConnsPerHost: cfg.Workers,
		ForceAttemptHTTP2:   true,
	}
	defer network.CloseIdleConnections()
	counting := &countingTransport{next: network}
	client := &http.Client{Transport: &backoff.Transport{
		Base:               counting,
		Options:            opts,
		RetryNonIdempotent: true,
	}}

	var (
		next    atomic.Int64 // the next request's number
		done    atomic.Int64
		okCount atomic.Int64
		results = make([]result, cfg.Requests)
		wg      sync.WaitGroup
	)
	stopStarting := time.Now().Add(cfg.Duration)
	for range cfg.Workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Requests {
					return
				}
				if cfg.Rate > 0 && !sleepUntil(ctx, began.Add(time.Duration(float64(i)/cfg.Rate*float64(time.Second)))) ||
					ctx.Err() != nil || time.Now().After(stopStarting) {
					done.Add(1) // results[i] stays zero: not started
					continue
				}
				r := ask(ctx, client, cfg, base, i, srv != nil)
				results[i] = r
				if r.ok {
					okCount.Add(1)
				}
				done.Add(1)
			}
		})
	}

	if cfg.Progress {
		progress := func() {
			fmt.Fprintf(stderr, "\r  %d/%d done  %d ok  %d failed  %d attempts  breaker %-9s  %5.1fs ",
				done.Load(), cfg.Requests, okCount.Load(), done.Load()-okCount.Load(),
				counting.attempts.Load(), breaker.State(), time.Since(began).Seconds())
		}
		finished := make(chan struct{})
		ticked := make(chan struct{})
		go func() {
			defer close(ticked)
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					progress()
				case <-finished:
					return
				}
			}
		}()
		wg.Wait()
		close(finished)
		<-ticked
		progress()
		fmt.Fprintln(stderr)
	} else {
		wg.Wait()
	}
	sum.Elapsed = time.Since(began)
	network.CloseIdleConnections()
	if srv != nil {
		srv.Close() // waits for its handlers, so that its counts are final
		sum.Server = srv.Stats()
	}

	latencies := make([]time.Duration, 0, len(results))
	for _, r := range results {
		if !r.started {
			sum.NotStarted++
			continue
		}
		sum.Requests++
		sum.Attempts += int(r.attempts)
		sum.Retries += int(max(r.attempts-1, 0))
		if r.attempts == 0 {
			sum.Unsent++
		}
		if r.ok {
			sum.Successes++
			if r.streamed {
				sum.Streamed++
			}
		} else {
			sum.Failures[r.reason]++
		}
		latencies = append(latencies, r.latency)
	}
	sum.RetryBound = budgetRatio*float64(sum.Requests) + budgetBurst
	slices.Sort(latencies)
	sum.P50, sum.P99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	mu.Lock()
	sum.Breaker = slices.Clone(changes)
	mu.Unlock()
	if got := int(counting.attempts.Load()); got != sum.Attempts {
		return sum, fmt.Errorf("attempts counted per request (%d) and in all (%d) differ", sum.Attempts, got)
	}
	writeSummary(stdout, cfg, sum)
	return sum, nil
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

// percentile of sorted durations, by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// streamed tells which requests are streamed: an even spread of share of them.
func streamed(i int, share float64) bool {
	return int(float64(i+1)*share) > int(float64(i)*share)
}

// ask sends request i and reads its answer to the end. With check, the
// answer must be glmserver's answer to the prompt; otherwise any non-empty
// answer will do.
func ask(ctx context.Context, client *http.Client, cfg config, base string, i int, check bool) result {
	stream := streamed(i, cfg.StreamShare)
	prompt := fmt.Sprintf("Open Settings and turn on Wi-Fi (task %d).", i)
	body, err := json.Marshal(map[string]any{
		"model":    cfg.Model,
		"messages": []map[string]string{{"role": "user", "content": prompt}},
		"stream":   stream,
	})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	var attempts atomic.Int64
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, attemptsKey{}, &attempts), cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, base+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return result{reason: "bad request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	}

	start := time.Now()
	r := result{started: true, streamed: stream}
	r.reason = func() string {
		resp, err := client.Do(req)
		if err != nil {
			return reasonOf(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			return fmt.Sprintf("HTTP %d", resp.StatusCode)
		}
		var content string
		if stream {
			content, err = readStream(resp.Body)
		} else {
			content, err = readJSON(resp.Body)
		}
		switch {
		case err != nil:
			what := "body cut"
			if stream {
				what = "stream cut"
			}
			return what + ": " + errorKind(err)
		case check && content != glmserver.Answer(prompt):
			return "wrong answer"
		case content == "":
			return "empty answer"
		}
		return ""
	}()
	r.ok = r.reason == ""
	if !r.ok && ctx.Err() != nil {
		r.reason = "interrupted" // whatever the attempt in flight ran into
	}
	r.latency = time.Since(start)
	r.attempts = attempts.Load()
	return r
}

// readJSON returns the content of a chat.completion's first choice.
func readJSON(r io.Reader) (string, error) {
	var c struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return "", err
	}
	if len(c.Choices) == 0 {
		return "", errors.New("no choices")
	}
	return c.Choices[0].Message.Content, nil
}

// readStream reads server-sent events up to data: [DONE] and returns the
// content of their deltas. A stream that ends before [DONE] is cut.
func readStream(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	var b strings.Builder
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue // blank separators, comments, other fields
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			return b.String(), nil
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return "", fmt.Errorf("bad event: %w", err)
		}
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", io.ErrUnexpectedEOF
}

// reasonOf names why the transport gave up: the retry's reason, and what the
// last attempt ran into.
func reasonOf(err error) string {
	var re *backoff.Error
	switch {
	case errors.Is(err, backoff.ErrCircuitOpen):
		return "circuit open"
	case errors.As(err, &re) && re.Reason != nil:
		why := strings.TrimPrefix(re.Reason.Error(), "backoff: ")
		if errors.Is(re.Reason, context.DeadlineExceeded) {
			why = "request timeout"
		}
		if re.Err == nil {
			return why
		}
		return why + ": " + errorKind(re.Err)
	}
	return errorKind(err)
}

// errorKind names a transport error in a few words.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, backoff.ErrCircuitOpen):
		return "circuit open"
	case errors.Is(err, backoff.ErrBudget):
		return "retry budget"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	var se *backoff.StatusError
	if errors.As(err, &se) {
		return fmt.Sprintf("HTTP %d", se.Code)
	}
	return "error: " + err.Error()
}

func writeSummary(w io.Writer, cfg config, s summary) {
	where := s.Target
	if s.Embedded {
		where = "embedded server, faults on"
		if cfg.Faults == (glmserver.Faults{SlowDelay: cfg.Faults.SlowDelay, RetryAfter: cfg.Faults.RetryAfter}) {
			where = "embedded server, no faults"
		}
	}
	pct := func(n, of int) float64 {
		if of == 0 {
			return 0
		}
		return 100 * float64(n) / float64(of)
	}
	fmt.Fprintf(w, "openautoglm: %d requests (%d workers, model %s) to %s in %.2fs\n",
		s.Requests, cfg.Workers, cfg.Model, where, s.Elapsed.Seconds())
	if s.NotStarted > 0 {
		fmt.Fprintf(w, "  not started    %5d  (-duration passed, or the run was interrupted)\n", s.NotStarted)
	}
	fmt.Fprintf(w, "  successes      %5d  (%.1f%%, %d streamed)\n", s.Successes, pct(s.Successes, s.Requests), s.Streamed)
	fmt.Fprintf(w, "  attempts       %5d\n", s.Attempts)
	fmt.Fprintf(w, "  retries        %5d  (the budget allows %g×%d + %d = %.0f)\n",
		s.Retries, budgetRatio, s.Requests, budgetBurst, s.RetryBound)
	fmt.Fprintf(w, "  amplification  %5.2f  attempts per request", s.Amplification())
	if s.Unsent > 0 {
		fmt.Fprintf(w, " (%d refused by the open breaker made none)", s.Unsent)
	}
	fmt.Fprintln(w)
	failed := s.Requests - s.Successes
	fmt.Fprintf(w, "  failures       %5d\n", failed)
	reasons := slices.Collect(maps.Keys(s.Failures))
	slices.SortFunc(reasons, func(a, b string) int {
		if d := s.Failures[b] - s.Failures[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, r := range reasons {
		fmt.Fprintf(w, "    %-40s %5d\n", r, s.Failures[r])
	}
	fmt.Fprintf(w, "  breaker        %5d  state changes", len(s.Breaker))
	for i, c := range s.Breaker {
		if i == 4 && len(s.Breaker) > 5 {
			fmt.Fprintf(w, ", … %d more", len(s.Breaker)-i)
			break
		}
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(w, "%s%s→%s at %.2fs", sep, c.From, c.To, c.At.Seconds())
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  latency        p50 %s  p99 %s\n", round(s.P50), round(s.P99))
	if s.Embedded {
		st := s.Server
		fmt.Fprintf(w, "  server saw     %5d  requests: %d ok (%d streamed), %d×429, %d×503, %d×500, %d resets, %d cut mid-body, %d slow, %d abandoned\n",
			st.Requests, st.OK, st.Streams, st.RateLimited, st.Unavailable, st.ServerErrors,
			st.Resets, st.MidBodyResets, st.Slow, st.Aborted)
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
