package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
	"github.com/backoff-go/backoff/llm"
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
	AttemptTimeout time.Duration // one attempt's response headers; 0: none
	StreamShare    float64       // share of streamed requests
	BufferBody     int64         // the Transport's BufferBody; 0: off
	Compare        bool          // first run the same load without retries
	Seed           uint64
	Progress       bool // write the live progress line to stderr
	Trace          bool // write the library's SlogTrace records to stderr
	// RateLimit turns on the embedded server's caps, Limits, and adds a
	// library run with a shared Limiter beside the one without.
	RateLimit bool
	Limits    glmserver.Limits
	Faults    glmserver.Faults

	// startServer starts the embedded server; nil: glmserver.Start. Tests
	// pass glmserver.StartPipe, to run the demo inside a synctest bubble.
	startServer func(glmserver.Config) (*glmserver.Server, error)
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
	case c.AttemptTimeout < 0 || c.BufferBody < 0:
		return errors.New("-attempt-timeout and -buffer-body must not be negative")
	case !(c.StreamShare >= 0 && c.StreamShare <= 1):
		return errors.New("-stream must be in [0,1]")
	case c.Model == "":
		return errors.New("-model must not be empty")
	case c.RateLimit && c.BaseURL != "":
		return errors.New("-rate-limit caps the embedded server: it cannot be used with -base-url")
	}
	if c.BaseURL == "" {
		if c.RateLimit {
			if err := c.Limits.Validate(); err != nil {
				return err
			}
		}
		return c.Faults.Validate()
	}
	return nil
}

// The retry budget that Production builds, Budget{Ratio: 0.2, Burst: 10},
// spelled out so that the summary can state the bound it sets.
const (
	budgetRatio = 0.2
	budgetBurst = 10
)

// policy is how a run sends its requests.
type policy int

const (
	noRetries policy = iota // plain net/http: one attempt per request
	library                 // through backoff.Transport with Production()
	limited                 // as library, with one Limiter shared by all the workers
)

func (p policy) String() string {
	switch p {
	case noRetries:
		return "no retries"
	case limited:
		return "backoff.Production() with llm.Options() and a Limiter"
	}
	return "backoff.Production() with llm.Options()"
}

// retries reports whether p goes through backoff.Transport.
func (p policy) retries() bool { return p != noRetries }

// summary is what one run did.
type summary struct {
	Policy     policy
	Target     string // the chat completions URL
	Embedded   bool   // the target was the embedded server
	Requests   int    // requests started, all of which ended
	NotStarted int    // requests not started: -duration passed, or ctx ended, first
	Successes  int    // right answers read in full
	Streamed   int    // successes that came as server-sent events
	Attempts   int    // HTTP exchanges begun, retries included
	Retries    int    // attempts beyond each request's first
	Unsent     int    // requests that made no attempt: the breaker was open
	Refused    int    // requests that ended on the open breaker
	// Permanent counts the requests whose last answer was one that retrying
	// cannot help (401, 400, an account error); RetriedPermanent the
	// attempts that followed such an answer within the same request, which
	// the library must never make.
	Permanent        int
	RetriedPermanent int
	Failures         map[string]int
	// First is, for each request, what its first attempt met: the status
	// code, or the kind of transport error; "" when it made none. Two runs
	// with KeyedFaults have the same First.
	First      []string
	P50, P99   time.Duration // latency of all requests, from start to the end of the body
	Elapsed    time.Duration
	Server     glmserver.Stats // what the embedded server saw; zero otherwise
	RetryBound float64         // with the library: retries the budget allows, Ratio·Requests + Burst
	// RateLimited is set when the embedded server's caps were on; Capped
	// then counts the requests they refused.
	RateLimited bool
	Capped      glmserver.LimitStats
	// Concurrency and Rate are what the Limiter had learned at the end of
	// a limited run (Rate is +Inf while it paces nothing).
	Concurrency int
	Rate        float64
	// Breaker lists the changes of the library's breaker's state, in order.
	Breaker []breakerChange
}

// breakerChange is one change of the breaker's state, At after the run began.
type breakerChange struct {
	At       time.Duration
	From, To backoff.State
}

// ThrottledShare is the share of the attempts that the server answered 429,
// for a fault, an account error or a cap.
func (s summary) ThrottledShare() float64 {
	if s.Server.Requests == 0 {
		return 0
	}
	return float64(s.Server.RateLimited) / float64(s.Server.Requests)
}

// Amplification is attempts per request: the load that retries add.
func (s summary) Amplification() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Attempts) / float64(s.Requests)
}

// SuccessRate is the share of the requests started that succeeded.
func (s summary) SuccessRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Successes) / float64(s.Requests)
}

// tally is one request's view of its attempts, kept by countingTransport.
type tally struct {
	mu        sync.Mutex // protects the fields below
	attempts  int
	first     string // what the first attempt met
	permanent bool   // an attempt was answered with a permanent failure
	after     int    // attempts begun after such an answer
}

// tallyKey is the context key under which a request carries its tally.
type tallyKey struct{}

// countingTransport sits under backoff.Transport and counts what reaches the
// network: every call is one attempt.
type countingTransport struct {
	next     http.RoundTripper
	attempts atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.attempts.Add(1)
	t, _ := r.Context().Value(tallyKey{}).(*tally)
	if t != nil {
		t.mu.Lock()
		t.attempts++
		if t.permanent {
			t.after++
		}
		t.mu.Unlock()
	}
	resp, err := c.next.RoundTrip(r)
	if t == nil {
		return resp, err
	}
	what, permanent := "", false
	switch {
	case err != nil:
		what = errorKind(err)
	default:
		what = strconv.Itoa(resp.StatusCode)
		if resp.StatusCode >= 400 {
			permanent = classify(peek(resp)) == backoff.Permanent
		}
	}
	t.mu.Lock()
	if t.attempts == 1 {
		t.first = what
	}
	t.permanent = t.permanent || permanent
	t.mu.Unlock()
	return resp, err
}

// peek returns a failed response as a StatusError, with the first 4 KiB of
// its body, which it puts back in front of the rest so that whoever reads
// the response next reads it whole.
func peek(resp *http.Response) *backoff.StatusError {
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return &backoff.StatusError{Code: resp.StatusCode, Header: resp.Header, Body: head}
}

// classify is the classifier that llm.Options gives the library run, which
// the summary also uses to tell which failed answers were permanent: it
// reads the error body, where a 429 may be an account error.
func classify(err error) backoff.Class { return llm.Classify(err) }

// libraryOptions is what the library run gives backoff.Transport:
// Production() as shipped, llm.Options() for the model API's error bodies
// and waits, the attempt timeout, trace, and lim unless it is nil.
func libraryOptions(cfg config, trace *backoff.Trace, lim *backoff.Limiter) []backoff.Option {
	opts := []backoff.Option{backoff.Production(), llm.Options()}
	if cfg.AttemptTimeout > 0 {
		opts = append(opts, backoff.WithAttemptTimeout(cfg.AttemptTimeout))
	}
	if lim != nil {
		opts = append(opts, backoff.WithLimiter(lim))
	}
	return append(opts, backoff.WithTrace(trace))
}

// breakerLog records the changes of a breaker's state that a Trace reports,
// which may come from any worker.
type breakerLog struct {
	began   time.Time
	mu      sync.Mutex // protects changes
	changes []breakerChange
}

// trace returns the library run's Trace: with -trace, SlogTrace's records to
// stderr, and in any case the breaker's changes into l. Production's
// breaker is built inside the preset, so its changes reach the demo only
// through a Trace.
func (l *breakerLog) trace(cfg config, stderr io.Writer) *backoff.Trace {
	t := &backoff.Trace{}
	if cfg.Trace {
		t = backoff.SlogTrace(slog.New(slog.NewTextHandler(stderr, nil)))
	}
	logState := t.BreakerState
	t.BreakerState = func(b *backoff.Breaker, from, to backoff.State) {
		l.mu.Lock()
		l.changes = append(l.changes, breakerChange{At: time.Since(l.began), From: from, To: to})
		l.mu.Unlock()
		if logState != nil {
			logState(b, from, to)
		}
	}
	return t
}

// result is one request's end; the zero result is a request not started.
type result struct {
	started   bool
	ok        bool
	streamed  bool
	refused   bool // the open breaker ended it
	permanent bool // its last answer was a permanent failure
	attempts  int
	after     int    // attempts after a permanent answer
	first     string // what its first attempt met
	reason    string // why it failed
	latency   time.Duration
}

// run sends the load of cfg, with cfg.Compare first without retries and then
// through the library, writes one summary block per run to stdout and, when
// it compared, the difference; it returns the summaries in that order.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) ([]summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	policies := []policy{library}
	if cfg.Compare {
		policies = []policy{noRetries, library}
	}
	if cfg.RateLimit {
		policies = append(policies, limited)
	}
	var sums []summary
	for i, p := range policies {
		s, err := runOnce(ctx, cfg, p, stderr)
		if err != nil {
			return sums, err
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		writeSummary(stdout, cfg, s)
		sums = append(sums, s)
		if ctx.Err() != nil {
			break
		}
	}
	if len(sums) >= 2 && sums[0].Policy == noRetries {
		writeDifference(stdout, sums[0], sums[1])
	}
	if n := len(sums); n >= 2 && sums[n-1].Policy == limited {
		writeLimiterDifference(stdout, sums[n-2], sums[n-1])
	}
	return sums, nil
}

// runOnce sends cfg.Requests chat completions from cfg.Workers workers under
// policy p, to a fresh embedded server unless cfg.BaseURL is set, and
// writes the live progress line to stderr when cfg.Progress is set. Every
// request has ended when it returns. Cancelling ctx ends the requests in
// flight, which count as failures.
func runOnce(ctx context.Context, cfg config, p policy, stderr io.Writer) (summary, error) {
	sum := summary{Policy: p, Failures: map[string]int{}}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	network := &http.Transport{
		Proxy:               http.ProxyFromEnvironment, // never used for loopback
		MaxIdleConnsPerHost: cfg.Workers,
		ForceAttemptHTTP2:   true,
	}
	if p == noRetries {
		// What the library's attempt timeout bounds: the wait for the
		// response headers, not the reading of the body.
		network.ResponseHeaderTimeout = cfg.AttemptTimeout
	}
	var srv *glmserver.Server
	if base == "" {
		start := cfg.startServer
		if start == nil {
			start = glmserver.Start
		}
		var err error
		srv, err = start(glmserver.Config{Faults: cfg.Faults, Seed: cfg.Seed, APIKey: cfg.APIKey,
			ChunkDelay: 2 * time.Millisecond, KeyedFaults: true})
		if err != nil {
			return summary{}, err
		}
		defer srv.Close()
		if cfg.RateLimit {
			if err := srv.SetLimits(cfg.Limits); err != nil {
				return summary{}, err
			}
			sum.RateLimited = true
		}
		base = srv.URL + "/v1"
		sum.Embedded = true
		network.DialContext = srv.DialContext
		// net/http re-sends a request that carries an Idempotency-Key by
		// itself when a reused connection breaks before the answer; that
		// would be a retry of its own in the run without retries, and one
		// the client does not count. A fresh connection per attempt, cheap
		// on loopback, makes every attempt one request to the server.
		network.DisableKeepAlives = true
	}
	sum.Target = base + "/chat/completions"
	// The embedded server draws each attempt's fault from its key, so both
	// runs use the same keys and meet the same faults. A real server may
	// keep what it answered to a key: each run gets keys of its own there.
	keyPrefix := fmt.Sprintf("openautoglm-seed%d", cfg.Seed)
	if srv == nil {
		keyPrefix = fmt.Sprintf("openautoglm-%016x", rand.Uint64())
	}
	defer network.CloseIdleConnections()
	counting := &countingTransport{next: network}
	client := &http.Client{Transport: counting}
	began := time.Now()
	states := &breakerLog{began: began}
	var lim *backoff.Limiter
	if p == limited {
		// One API key, one limit: one Limiter for all the workers.
		lim = backoff.NewLimiter(backoff.LimiterSettings{MaxConcurrency: cfg.Workers})
	}
	if p.retries() {
		client.Transport = &backoff.Transport{
			Base:       counting,
			Options:    libraryOptions(cfg, states.trace(cfg, stderr), lim),
			BufferBody: cfg.BufferBody,
		}
	}

	var (
		next    atomic.Int64 // the next request's number
		done    atomic.Int64
		okCount atomic.Int64
		refused atomic.Int64
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
				r := ask(ctx, client, cfg, base, keyPrefix, i, srv != nil)
				results[i] = r
				if r.ok {
					okCount.Add(1)
				}
				if r.refused {
					refused.Add(1)
				}
				done.Add(1)
			}
		})
	}

	if cfg.Progress {
		progress := func() {
			fmt.Fprintf(stderr, "\r  %s: %d/%d done  %d ok  %d failed  %d attempts  %d refused by the breaker  %5.1fs ",
				p, done.Load(), cfg.Requests, okCount.Load(), done.Load()-okCount.Load(),
				counting.attempts.Load(), refused.Load(), time.Since(began).Seconds())
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
		sum.Capped = srv.LimitStats()
	}
	if lim != nil {
		sum.Concurrency, sum.Rate = lim.Concurrency(), lim.Rate()
	}
	states.mu.Lock()
	sum.Breaker = slices.Clone(states.changes)
	states.mu.Unlock()

	latencies := make([]time.Duration, 0, len(results))
	sum.First = make([]string, len(results))
	for i, r := range results {
		sum.First[i] = r.first
		if !r.started {
			sum.NotStarted++
			continue
		}
		sum.Requests++
		sum.Attempts += r.attempts
		sum.Retries += max(r.attempts-1, 0)
		if r.attempts == 0 {
			sum.Unsent++
		}
		if r.refused {
			sum.Refused++
		}
		if r.permanent {
			sum.Permanent++
		}
		sum.RetriedPermanent += r.after
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
	if p.retries() {
		sum.RetryBound = budgetRatio*float64(sum.Requests) + budgetBurst
	}
	slices.Sort(latencies)
	sum.P50, sum.P99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	if got := int(counting.attempts.Load()); got != sum.Attempts {
		return sum, fmt.Errorf("attempts counted per request (%d) and in all (%d) differ", sum.Attempts, got)
	}
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
// answer will do. The request carries the Idempotency-Key keyPrefix-i.
func ask(ctx context.Context, client *http.Client, cfg config, base, keyPrefix string, i int, check bool) result {
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
	var t tally
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, tallyKey{}, &t), cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, base+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return result{reason: "bad request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	// One key per logical request, the same on each of its attempts: the
	// server may then act on it once however often it arrives, and the
	// Transport retries it like an idempotent request.
	req.Header.Set("Idempotency-Key", keyPrefix+"-"+strconv.Itoa(i))
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	}

	start := time.Now()
	r := result{started: true, streamed: stream}
	var reqErr error
	r.reason = func() string {
		resp, err := client.Do(req)
		if err != nil {
			reqErr = err
			return reasonOf(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			t.mu.Lock()
			permanent := t.permanent
			t.mu.Unlock()
			if permanent {
				return fmt.Sprintf("HTTP %d, permanent", resp.StatusCode)
			}
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
	r.refused = errors.Is(reqErr, backoff.ErrCircuitOpen)
	t.mu.Lock()
	r.attempts, r.first, r.permanent, r.after = t.attempts, t.first, t.permanent, t.after
	t.mu.Unlock()
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
	fmt.Fprintf(w, "openautoglm, %s: %d requests (%d workers, model %s) to %s in %.2fs\n",
		s.Policy, s.Requests, cfg.Workers, cfg.Model, where, s.Elapsed.Seconds())
	if s.NotStarted > 0 {
		fmt.Fprintf(w, "  not started    %5d  (-duration passed, or the run was interrupted)\n", s.NotStarted)
	}
	fmt.Fprintf(w, "  successes      %5d  (%.1f%%, %d streamed)\n", s.Successes, 100*s.SuccessRate(), s.Streamed)
	fmt.Fprintf(w, "  attempts       %5d\n", s.Attempts)
	if s.Policy.retries() {
		fmt.Fprintf(w, "  retries        %5d  (the budget allows %g×%d + %d = %.0f)\n",
			s.Retries, budgetRatio, s.Requests, budgetBurst, s.RetryBound)
	} else {
		fmt.Fprintf(w, "  retries        %5d\n", s.Retries)
	}
	fmt.Fprintf(w, "  amplification  %5.2f  attempts per request\n", s.Amplification())
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
		fmt.Fprintf(w, "    %-44s %5d\n", r, s.Failures[r])
	}
	fmt.Fprintf(w, "  permanent      %5d  requests answered with a failure that retrying cannot help; %d retries spent after one\n",
		s.Permanent, s.RetriedPermanent)
	if s.Policy.retries() {
		fmt.Fprintf(w, "  breaker        %5d  requests refused by the open breaker", s.Refused)
		if s.Unsent > 0 {
			fmt.Fprintf(w, " (%d of them before any attempt)", s.Unsent)
		}
		fmt.Fprintf(w, "; %d state changes\n", len(s.Breaker))
		for _, c := range s.Breaker {
			fmt.Fprintf(w, "    at %7.3fs  %s → %s\n", c.At.Seconds(), c.From, c.To)
		}
	}
	if s.Policy == limited {
		rate := "unpaced"
		if !math.IsInf(s.Rate, 1) {
			rate = fmt.Sprintf("%.1f requests/s", s.Rate)
		}
		fmt.Fprintf(w, "  limiter        %5d  concurrency at the end, rate %s\n", s.Concurrency, rate)
	}
	fmt.Fprintf(w, "  latency        p50 %s  p99 %s\n", round(s.P50), round(s.P99))
	if s.Embedded {
		st := s.Server
		fmt.Fprintf(w, "  server saw     %5d  requests: %d ok (%d streamed), %d×429, %d×503, %d×500, %d resets, %d cut mid-body, %d slow, %d account errors, %d abandoned\n",
			st.Requests, st.OK, st.Streams, st.RateLimited, st.Unavailable, st.ServerErrors,
			st.Resets, st.MidBodyResets, st.Slow, st.AccountErrors, st.Aborted)
	}
	if s.RateLimited {
		fmt.Fprintf(w, "  429 share      %5.1f%%  of attempts (%d of %d); the caps refused %d over concurrency, %d over rate\n",
			100*s.ThrottledShare(), s.Server.RateLimited, s.Server.Requests, s.Capped.Concurrency, s.Capped.Rate)
	}
}

// writeLimiterDifference says what the shared Limiter changed against the
// same library run without it.
func writeLimiterDifference(w io.Writer, without, with summary) {
	fmt.Fprintf(w, "\nthe same load under the server's caps, with a Limiter against without:\n")
	fmt.Fprintf(w, "  429 share      %+5.1f  points (%.1f%% → %.1f%%)\n",
		100*(with.ThrottledShare()-without.ThrottledShare()), 100*without.ThrottledShare(), 100*with.ThrottledShare())
	fmt.Fprintf(w, "  success rate   %+5.1f  points (%.1f%% → %.1f%%)\n",
		100*(with.SuccessRate()-without.SuccessRate()), 100*without.SuccessRate(), 100*with.SuccessRate())
	fmt.Fprintf(w, "  amplification  %+5.2f  attempts per request (%.2f → %.2f)\n",
		with.Amplification()-without.Amplification(), without.Amplification(), with.Amplification())
}

// writeDifference says what the library bought over no retries, and what it
// cost in load.
func writeDifference(w io.Writer, none, lib summary) {
	fmt.Fprintf(w, "\nthe same load and faults, %s against %s:\n", lib.Policy, none.Policy)
	fmt.Fprintf(w, "  success rate   %+5.1f  points (%.1f%% → %.1f%%)\n",
		100*(lib.SuccessRate()-none.SuccessRate()), 100*none.SuccessRate(), 100*lib.SuccessRate())
	fmt.Fprintf(w, "  amplification  %+5.2f  attempts per request (%.2f → %.2f)\n",
		lib.Amplification()-none.Amplification(), none.Amplification(), lib.Amplification())
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
