package sim

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
	"github.com/backoff-go/backoff/llm"
)

// The policy table: the openautoglm demo's load, sent through the real
// backoff.Transport to the real glmserver under each retry policy, to see
// what each policy buys (success rate) and costs (attempts per request).

// LoadConfig is the load of one policy run. It is a plain value: safe to
// read from many goroutines, not to change while others read it.
type LoadConfig struct {
	Requests       int
	Workers        int
	Rate           float64       // requests started per second, spread evenly
	StreamShare    float64       // share of the requests streamed as server-sent events
	AttemptTimeout time.Duration // bounds each attempt's wait for its headers
	Timeout        time.Duration // bounds each request, its retries included
	Faults         glmserver.Faults
}

// DemoLoad is the demo's default load and fault mix: 400 requests from 16
// workers at 200 requests/s, 30% streamed, about 18% independent faults
// (6% 429 asking for 300ms, 3% 503, 3% 500, 2% resets, 2% bodies cut
// mid-way, 2% first bytes 1.5s late), a 1s attempt timeout and 10s per
// request.
var DemoLoad = LoadConfig{
	Requests:       400,
	Workers:        16,
	Rate:           200,
	StreamShare:    0.3,
	AttemptTimeout: time.Second,
	Timeout:        10 * time.Second,
	Faults:         glmserver.DemoFaults(),
}

func (c LoadConfig) validate() error {
	switch {
	case c.Requests <= 0 || c.Workers <= 0:
		return errors.New("sim: policy: requests and workers must be positive")
	case !(c.Rate > 0):
		return errors.New("sim: policy: rate must be positive")
	case !(c.StreamShare >= 0 && c.StreamShare <= 1):
		return errors.New("sim: policy: stream share must be in [0,1]")
	case c.AttemptTimeout < 0 || c.Timeout <= 0:
		return errors.New("sim: policy: attempt timeout must not be negative, timeout must be positive")
	}
	return c.Faults.Validate()
}

// ServiceBreaker is the service breaker of Production() and Edge() as
// DESIGN.md defines it, here with onChange as its OnStateChange.
func ServiceBreaker(onChange func(from, to backoff.State)) *backoff.Breaker {
	return backoff.NewBreaker(backoff.BreakerSettings{
		FailureRatio:        0.5,
		MinCalls:            20,
		Window:              10 * time.Second,
		ConsecutiveFailures: 10,
		OpenFor:             time.Second,
		MaxOpenFor:          30 * time.Second,
		OnStateChange:       onChange,
	})
}

// LoadPolicy is one row of the policy table. Options, nil for no retries
// at all (plain net/http), builds the Transport's options for one run;
// onChange is to be given to every breaker it builds, so that trips are
// counted. A LoadPolicy is a plain value, safe for concurrent use if its
// Options function is.
type LoadPolicy struct {
	Name       string
	Options    func(onChange func(from, to backoff.State)) []backoff.Option
	BufferBody int64 // the Transport's BufferBody
}

// plainRetries is Production()'s strategy and attempts, with neither
// breaker nor budget.
func plainRetries() []backoff.Option {
	return []backoff.Option{
		backoff.WithMaxAttempts(4),
		backoff.WithStrategy(backoff.Classified{
			Transient: backoff.FullJitter(backoff.Exponential{Initial: 200 * time.Millisecond, Max: 30 * time.Second}),
		}),
		backoff.WithBreaker(nil),
		backoff.WithBudget(nil),
	}
}

// LoadPolicies returns the rows of the policy table, in order. Every
// request carries an Idempotency-Key (see RunLoad), so the rows differ only
// in their options and BufferBody; the last is the demo's configuration.
//
// An Option cannot be looked into, so to count a preset's breaker trips its
// breaker is replaced by ServiceBreaker, the same settings with an
// OnStateChange: the presets are otherwise as shipped (strategy, attempts,
// budget).
func LoadPolicies() []LoadPolicy {
	preset := func(p func() backoff.Option) func(func(from, to backoff.State)) []backoff.Option {
		return func(onChange func(from, to backoff.State)) []backoff.Option {
			return []backoff.Option{p(), backoff.WithBreaker(ServiceBreaker(onChange))}
		}
	}
	production := preset(backoff.Production)
	return []LoadPolicy{
		{Name: "no retries"},
		{Name: "Development()", Options: func(func(from, to backoff.State)) []backoff.Option {
			return []backoff.Option{backoff.Development()}
		}},
		{Name: "Production()", Options: production},
		{Name: "Edge()", Options: preset(backoff.Edge)},
		{Name: "plain retries", Options: func(func(from, to backoff.State)) []backoff.Option {
			return plainRetries()
		}},
		{Name: "budget only", Options: func(func(from, to backoff.State)) []backoff.Option {
			return append(plainRetries(), backoff.WithBudget(backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.2, Burst: 10})))
		}},
		{Name: "breaker only", Options: func(onChange func(from, to backoff.State)) []backoff.Option {
			return append(plainRetries(), backoff.WithBreaker(ServiceBreaker(onChange)))
		}},
		{Name: "Production()+BufferBody", Options: production, BufferBody: 1 << 20},
		{Name: "Production()+llm.Options()+BufferBody", Options: func(onChange func(from, to backoff.State)) []backoff.Option {
			return append(production(onChange), llm.Options())
		}, BufferBody: 1 << 20},
	}
}

// LoadRun is what one policy run measured. It is a plain value.
type LoadRun struct {
	Requests  int
	Successes int // answers read in full and right
	Attempts  int // attempts that reached the network
	Trips     int // the breaker's changes to Open from Closed
	Refused   int // requests that ended on an open breaker
	Server    glmserver.Stats
}

// SuccessRate is successes ÷ requests.
func (r LoadRun) SuccessRate() float64 { return float64(r.Successes) / float64(r.Requests) }

// Amplification is attempts ÷ requests.
func (r LoadRun) Amplification() float64 { return float64(r.Attempts) / float64(r.Requests) }

// RunLoad sends cfg's load under policy p to a glmserver seeded with seed,
// and waits until every request has ended. Every request is a POST with an
// Idempotency-Key (key-i for request i), so the server draws each attempt's
// fault from (seed, key, attempt) and every policy meets the same faults on
// the same attempts (glmserver.Config.KeyedFaults), and the Transport
// retries it as an idempotent request. Each attempt gets a fresh
// connection, so that net/http never re-sends a request on its own.
//
// Inside a testing/synctest bubble, with start = glmserver.StartPipe, the
// run takes no real time for its waits and depends only on (cfg, p, seed)
// and on the library's own random jitter; with glmserver.Start it runs in
// real time over loopback.
func RunLoad(ctx context.Context, cfg LoadConfig, p LoadPolicy, seed uint64, start func(glmserver.Config) (*glmserver.Server, error)) (LoadRun, error) {
	if err := cfg.validate(); err != nil {
		return LoadRun{}, err
	}
	srv, err := start(glmserver.Config{Faults: cfg.Faults, Seed: seed, KeyedFaults: true, ChunkDelay: 2 * time.Millisecond})
	if err != nil {
		return LoadRun{}, err
	}
	defer srv.Close()
	network := &http.Transport{DialContext: srv.DialContext, DisableKeepAlives: true}
	defer network.CloseIdleConnections()
	var attempts atomic.Int64
	counted := roundTripper(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return network.RoundTrip(r)
	})
	var (
		mu    sync.Mutex // protects trips
		trips int
	)
	onChange := func(from, to backoff.State) {
		if from == backoff.Closed && to == backoff.Open {
			mu.Lock()
			trips++
			mu.Unlock()
		}
	}
	client := &http.Client{Transport: counted}
	if p.Options == nil {
		network.ResponseHeaderTimeout = cfg.AttemptTimeout
	} else {
		opts := p.Options(onChange)
		if cfg.AttemptTimeout > 0 {
			opts = append(opts, backoff.WithAttemptTimeout(cfg.AttemptTimeout))
		}
		client.Transport = &backoff.Transport{Base: counted, Options: opts, BufferBody: p.BufferBody}
	}

	var (
		next              atomic.Int64
		successes, refuse atomic.Int64
		wg                sync.WaitGroup
	)
	began := time.Now()
	for range cfg.Workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Requests {
					return
				}
				if d := time.Until(began.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return
					}
				}
				ok, refused := ask(ctx, client, srv.URL, cfg, i)
				if ok {
					successes.Add(1)
				}
				if refused {
					refuse.Add(1)
				}
			}
		})
	}
	wg.Wait()
	network.CloseIdleConnections()
	srv.Close()
	if err := ctx.Err(); err != nil {
		return LoadRun{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	return LoadRun{
		Requests:  cfg.Requests,
		Successes: int(successes.Load()),
		Attempts:  int(attempts.Load()),
		Trips:     trips,
		Refused:   int(refuse.Load()),
		Server:    srv.Stats(),
	}, nil
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ask sends request i and reads its answer to the end; ok when the answer
// is glmserver's answer to the prompt, refused when the open breaker ended
// the request.
func ask(ctx context.Context, client *http.Client, url string, cfg LoadConfig, i int) (ok, refused bool) {
	stream := int(float64(i+1)*cfg.StreamShare) > int(float64(i)*cfg.StreamShare)
	prompt := "Open Settings and turn on Wi-Fi (task " + strconv.Itoa(i) + ")."
	body, err := json.Marshal(map[string]any{
		"model":    "autoglm-phone-9b",
		"messages": []map[string]string{{"role": "user", "content": prompt}},
		"stream":   stream,
	})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url+glmserver.Path, bytes.NewReader(body))
	if err != nil {
		return false, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "key-"+strconv.Itoa(i))
	resp, err := client.Do(req)
	if err != nil {
		return false, errors.Is(err, backoff.ErrCircuitOpen)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, false
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, false
	}
	return answered(got, stream, glmserver.Answer(prompt)), false
}

// answered reports whether body, a chat.completion or a whole event stream,
// carries want.
func answered(body []byte, stream bool, want string) bool {
	type msg struct {
		Content string `json:"content"`
	}
	var c struct {
		Choices []struct {
			Message msg `json:"message"`
			Delta   msg `json:"delta"`
		} `json:"choices"`
	}
	if !stream {
		return json.Unmarshal(body, &c) == nil && len(c.Choices) > 0 && c.Choices[0].Message.Content == want
	}
	var got bytes.Buffer
	for line := range bytes.Lines(body) {
		data, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data:"))
		if !ok {
			continue
		}
		data = bytes.TrimSpace(data)
		if string(data) == "[DONE]" {
			return got.String() == want
		}
		c.Choices = nil
		if json.Unmarshal(data, &c) != nil {
			return false
		}
		for _, ch := range c.Choices {
			got.WriteString(ch.Delta.Content)
		}
	}
	return false // cut before [DONE]
}

// PolicyRow sums up one policy over several seeds. It is a plain value.
type PolicyRow struct {
	Policy                 string
	Seeds                  int
	SuccessMean            float64 // success rate, mean over the seeds
	SuccessMin, SuccessMax float64
	Amplification          float64 // attempts per request, mean over the seeds
	Trips                  int     // breaker trips, summed over the seeds
	TrippedSeeds           int     // seeds with at least one trip
	Refused                int     // requests refused by an open breaker, summed over the seeds
}

// SumPolicy sums up the runs of one policy, one per seed.
func SumPolicy(name string, runs []LoadRun) PolicyRow {
	row := PolicyRow{Policy: name, Seeds: len(runs), SuccessMin: 1}
	for _, r := range runs {
		s := r.SuccessRate()
		row.SuccessMean += s / float64(len(runs))
		row.SuccessMin = min(row.SuccessMin, s)
		row.SuccessMax = max(row.SuccessMax, s)
		row.Amplification += r.Amplification() / float64(len(runs))
		row.Trips += r.Trips
		row.Refused += r.Refused
		if r.Trips > 0 {
			row.TrippedSeeds++
		}
	}
	return row
}

// PolicyHeader is the CSV header of WritePolicyCSV.
var PolicyHeader = []string{"policy", "seeds", "success_mean", "success_min", "success_max", "attempts_per_request", "breaker_trips", "seeds_with_trip", "refused_by_breaker"}

// WritePolicyCSV writes rows as CSV, with PolicyHeader first.
func WritePolicyCSV(w io.Writer, rows []PolicyRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(PolicyHeader); err != nil {
		return err
	}
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	for _, r := range rows {
		rec := []string{r.Policy, strconv.Itoa(r.Seeds), f(r.SuccessMean, 4), f(r.SuccessMin, 4), f(r.SuccessMax, 4),
			f(r.Amplification, 3), strconv.Itoa(r.Trips), strconv.Itoa(r.TrippedSeeds), strconv.Itoa(r.Refused)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WritePolicyTable writes rows as a Markdown table.
func WritePolicyTable(w io.Writer, rows []PolicyRow) error {
	var b bytes.Buffer
	b.WriteString("| policy | success, mean | min | max | attempts per request | breaker trips (seeds with one) | refused by the breaker |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.1f%% | %.1f%% | %.1f%% | %.3f | %d (%d) | %d |\n", r.Policy,
			100*r.SuccessMean, 100*r.SuccessMin, 100*r.SuccessMax, r.Amplification, r.Trips, r.TrippedSeeds, r.Refused)
	}
	_, err := w.Write(b.Bytes())
	return err
}
