package bench_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
)

// The side-by-side with hashicorp/go-retryablehttp: both retry up to 4
// attempts with fixed 10ms waits (unless the server asks for longer), on
// the same fault-injecting server, behind the same bare http.Transport.

type retryingClient struct {
	name string
	new  func(base http.RoundTripper) *http.Client
}

var retryingClients = []retryingClient{
	{"backoff", func(base http.RoundTripper) *http.Client {
		return &http.Client{Transport: &backoff.Transport{Base: base, Options: []backoff.Option{
			backoff.WithMaxAttempts(4),
			backoff.WithStrategy(backoff.Classified{
				Transient: backoff.Fixed(10 * time.Millisecond),
				Temporary: backoff.Fixed(10 * time.Millisecond),
			}),
		}}}
	}},
	{"retryablehttp", func(base http.RoundTripper) *http.Client {
		rc := retryablehttp.NewClient()
		rc.Logger = nil
		rc.RetryMax = 3
		rc.RetryWaitMin = 10 * time.Millisecond
		rc.RetryWaitMax = 10 * time.Millisecond
		rc.HTTPClient = &http.Client{Transport: base}
		return rc.StandardClient()
	}},
}

// tracker sits under the retrying client and records each attempt's send
// time and whether each response body was closed.
type tracker struct {
	next   http.RoundTripper
	mu     sync.Mutex
	sent   []time.Time
	bodies []*trackedBody
}

type trackedBody struct {
	io.ReadCloser
	mu     sync.Mutex
	closed bool
}

func (b *trackedBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.ReadCloser.Close()
}

func (tr *tracker) RoundTrip(r *http.Request) (*http.Response, error) {
	tr.mu.Lock()
	tr.sent = append(tr.sent, time.Now())
	tr.mu.Unlock()
	resp, err := tr.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b := &trackedBody{ReadCloser: resp.Body}
	resp.Body = b
	tr.mu.Lock()
	tr.bodies = append(tr.bodies, b)
	tr.mu.Unlock()
	return resp, nil
}

func (tr *tracker) closed() (closed, all int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, b := range tr.bodies {
		b.mu.Lock()
		if b.closed {
			closed++
		}
		b.mu.Unlock()
	}
	return closed, len(tr.bodies)
}

func (tr *tracker) attempts() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.sent)
}

// gap is the time between the first two attempts.
func (tr *tracker) gap() time.Duration {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.sent) < 2 {
		return -1
	}
	return tr.sent[1].Sub(tr.sent[0])
}

func chatRequest(t *testing.T, url string, stream bool, header ...string) *http.Request {
	t.Helper()
	body := fmt.Sprintf(`{"model":"autoglm-phone-9b","messages":[{"role":"user","content":"open the camera"}],"stream":%t}`, stream)
	req, err := http.NewRequest(http.MethodPost, url+glmserver.Path, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// behaviour is one row of the table: a server, a request, and what the
// client made of it, in words.
type behaviour struct {
	name  string
	cfg   glmserver.Config
	check func(t *testing.T, c *http.Client, tr *tracker, url string) string
	want  string // backoff's observation, asserted; retryablehttp's is recorded
}

var (
	fault  = func(f ...glmserver.Fault) []glmserver.Fault { return f }
	answer = glmserver.Answer("open the camera")
)

// nAttempts says "1 attempt" or "n attempts".
func nAttempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

func statusAndAttempts(resp *http.Response, err error, tr *tracker) string {
	if err != nil {
		return fmt.Sprintf("error after %s: %v", nAttempts(tr.attempts()), err)
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	if rerr != nil {
		return fmt.Sprintf("%d after %s, body unreadable: %v", resp.StatusCode, nAttempts(tr.attempts()), rerr)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
			return fmt.Sprintf("%d after %s, body not the server's: %q", resp.StatusCode, nAttempts(tr.attempts()), body)
		}
		return fmt.Sprintf("%d after %s, body intact", resp.StatusCode, nAttempts(tr.attempts()))
	}
	return "200 after " + nAttempts(tr.attempts())
}

var behaviours = []behaviour{
	{
		name: "discarded bodies closed",
		cfg:  glmserver.Config{Script: fault(glmserver.ServerError, glmserver.Unavailable, glmserver.RateLimit)},
		check: func(t *testing.T, c *http.Client, tr *tracker, url string) string {
			resp, err := c.Do(chatRequest(t, url, false, "Idempotency-Key", "k1"))
			s := statusAndAttempts(resp, err, tr)
			closed, all := tr.closed()
			return fmt.Sprintf("%s; %d of %d bodies closed", s, closed, all)
		},
		want: "200 after 4 attempts; 4 of 4 bodies closed",
	},
	{
		name: "HTTP-date Retry-After honoured",
		// The bubble's clock starts at midnight: the date says 00:00:02.
		cfg: glmserver.Config{Script: fault(glmserver.RateLimit),
			Faults: glmserver.Faults{RetryAfter: time.Second, RetryAfterForm: glmserver.RetryAfterDate}},
		check: func(t *testing.T, c *http.Client, tr *tracker, url string) string {
			resp, err := c.Do(chatRequest(t, url, false))
			return fmt.Sprintf("%s; waited %v", statusAndAttempts(resp, err, tr), tr.gap())
		},
		want: "200 after 2 attempts; waited 2s",
	},
	{
		name: "retry-after-ms honoured",
		cfg: glmserver.Config{Script: fault(glmserver.RateLimit),
			Faults: glmserver.Faults{RetryAfter: 1500 * time.Millisecond, RetryAfterForm: glmserver.RetryAfterMillis}},
		check: func(t *testing.T, c *http.Client, tr *tracker, url string) string {
			resp, err := c.Do(chatRequest(t, url, false))
			return fmt.Sprintf("%s; waited %v", statusAndAttempts(resp, err, tr), tr.gap())
		},
		want: "200 after 2 attempts; waited 1.5s",
	},
	{
		name: "POST retried on 500",
		cfg:  glmserver.Config{Script: fault(glmserver.ServerError)},
		check: func(t *testing.T, c *http.Client, tr *tracker, url string) string {
			resp, err := c.Do(chatRequest(t, url, false))
			return statusAndAttempts(resp, err, tr)
		},
		// The server may have acted on a POST that failed with 500.
		want: "500 after 1 attempt, body intact",
	},
	{
		name: "POST with Idempotency-Key retried on 500",
		cfg:  glmserver.Config{Script: fault(glmserver.ServerError)},
		check: func(t *testing.T, c *http.Client, tr *tracker, url string) string {
			resp, err := c.Do(chatRequest(t, url, false, "Idempotency-Key", "k2"))
			return statusAndAttempts(resp, err, tr)
		},
		want: "200 after 2 attempts",
	},
	{
		name: "POST retried after its connection dropped",
		cfg:  glmserver.Config{Script: fault(glmserver.Reset)},
		check: func(t *testing.T, c *http.Client, tr *tracker, url string) string {
			resp, err := c.Do(chatRequest(t, url, false))
			if err != nil {
				return "error after " + nAttempts(tr.attempts())
			}
			return statusAndAttempts(resp, err, tr)
		},
		// The request was sent: the server may have acted on it.
		want: "error after 1 attempt",
	},
	{
		name: "streamed body untouched",
		cfg:  glmserver.Config{ChunkDelay: time.Second},
		check: func(t *testing.T, c *http.Client, tr *tracker, url string) string {
			start := time.Now()
			resp, err := c.Do(chatRequest(t, url, true))
			if err != nil {
				return "error: " + err.Error()
			}
			defer resp.Body.Close()
			headers := time.Since(start)
			r := bufio.NewReader(resp.Body)
			first, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(first, "data: {") {
				return fmt.Sprintf("first event %q: %v", first, err)
			}
			firstAt := time.Since(start)
			rest, err := io.ReadAll(r)
			if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
				return fmt.Sprintf("stream cut: %v", err)
			}
			return fmt.Sprintf("headers at %v, first event at %v, [DONE] at %v, %s",
				headers, firstAt, time.Since(start), nAttempts(tr.attempts()))
		},
		// One event a second: a word each, then the closing chunk, then [DONE].
		want: fmt.Sprintf("headers at 0s, first event at 0s, [DONE] at %v, 1 attempt",
			time.Duration(len(strings.Fields(answer)))*time.Second),
	},
	{
		name: "status returned after exhaustion",
		cfg:  glmserver.Config{Faults: glmserver.Faults{Unavailable: 1, RetryAfterForm: glmserver.RetryAfterNone}},
		check: func(t *testing.T, c *http.Client, tr *tracker, url string) string {
			resp, err := c.Do(chatRequest(t, url, false))
			return statusAndAttempts(resp, err, tr)
		},
		want: "503 after 4 attempts, body intact",
	},
}

// TestVersusRetryablehttp runs each behaviour against both clients, inside a
// synctest bubble over in-memory pipes, so that every wait is exact. It
// asserts backoff's behaviour, records retryablehttp's, and logs the table.
func TestVersusRetryablehttp(t *testing.T) {
	got := map[string]map[string]string{}
	for _, bh := range behaviours {
		got[bh.name] = map[string]string{}
		for _, rc := range retryingClients {
			t.Run(bh.name+"/"+rc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv, err := glmserver.StartPipe(bh.cfg)
					require.NoError(t, err)
					defer srv.Close()
					bare := &http.Transport{DialContext: srv.DialContext}
					defer bare.CloseIdleConnections()
					tr := &tracker{next: bare}
					obs := bh.check(t, rc.new(tr), tr, srv.URL)
					got[bh.name][rc.name] = obs
					if rc.name == "backoff" {
						assert.Equal(t, bh.want, obs)
					}
				})
			})
		}
	}

	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "behaviour\tbackoff.Transport\tretryablehttp v0.7.8")
	for _, bh := range behaviours {
		fmt.Fprintf(w, "%s\t%s\t%s\n", bh.name, got[bh.name]["backoff"], got[bh.name]["retryablehttp"])
	}
	w.Flush()
	t.Log("\n" + b.String())
}

// The cost of one successful chat completion on loopback: a bare
// http.Transport, backoff.Transport over it (without options and with
// Production), and retryablehttp over it.
func benchClients(base *http.Transport) []retryingClient {
	return []retryingClient{
		{"bare", func(http.RoundTripper) *http.Client { return &http.Client{Transport: base} }},
		{"backoff", func(http.RoundTripper) *http.Client {
			return &http.Client{Transport: &backoff.Transport{Base: base}}
		}},
		{"backoff-production", func(http.RoundTripper) *http.Client {
			return &http.Client{Transport: &backoff.Transport{Base: base, Options: []backoff.Option{backoff.Production()}}}
		}},
		{"retryablehttp", func(http.RoundTripper) *http.Client { return retryingClients[1].new(base) }},
	}
}

var benchBody = []byte(`{"model":"autoglm-phone-9b","messages":[{"role":"user","content":"open the camera"}]}`)

func roundTrip(c *http.Client, url string) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(benchBody))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

func BenchmarkTransportSuccess(b *testing.B) {
	srv, err := glmserver.Start(glmserver.Config{})
	require.NoError(b, err)
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	url := srv.URL + glmserver.Path
	for _, bc := range benchClients(base) {
		c := bc.new(nil)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := roundTrip(c, url); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := roundTrip(c, url); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// cannedRT answers every request at once with a 200 and a short body, and no
// network: under it, a transport's own cost is not lost in the noise of a
// loopback round trip.
type cannedRT struct{}

func (cannedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Request: r,
	}, nil
}

// BenchmarkTransportOverhead is BenchmarkTransportSuccess over cannedRT: the
// difference from "bare" is what each retrying layer adds to a success.
func BenchmarkTransportOverhead(b *testing.B) {
	base := cannedRT{}
	clients := []struct {
		name string
		c    *http.Client
	}{
		{"bare", &http.Client{Transport: base}},
		{"backoff", &http.Client{Transport: &backoff.Transport{Base: base}}},
		{"backoff-production", &http.Client{Transport: &backoff.Transport{Base: base, Options: []backoff.Option{backoff.Production()}}}},
		{"retryablehttp", retryingClients[1].new(base)},
	}
	for _, bc := range clients {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := roundTrip(bc.c, "http://glm.invalid"+glmserver.Path); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := roundTrip(bc.c, "http://glm.invalid"+glmserver.Path); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
