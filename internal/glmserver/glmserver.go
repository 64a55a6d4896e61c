// Package glmserver is a fault-injecting, OpenAI-compatible chat-completions
// server on 127.0.0.1, for the tests, the openautoglm demo and the bench
// module. It answers POST /v1/chat/completions as JSON, or as server-sent
// events when the request says "stream": true, and injects faults at set
// rates from a seeded random sequence: 429 with Retry-After, 503, 500,
// connections reset before the headers or closed in the middle of the body,
// slow first bytes, and 429s that no retry fixes (an exhausted balance) or
// that only the reset of a usage limit does. Its error answers speak z.ai's
// dialect or OpenAI's (see [Dialect]).
package glmserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backoff-go/backoff/internal/pipenet"
)

// Path is where the server answers chat completions.
const Path = "/v1/chat/completions"

// Fault is what the server does to one request instead of, or before,
// answering it. Like any integer, it is safe for concurrent use.
type Fault uint8

const (
	None         Fault = iota // answer normally
	RateLimit                 // 429 with the configured Retry-After
	Unavailable               // 503 with the configured Retry-After
	ServerError               // 500
	Reset                     // reset the connection before any header is sent
	ResetMidBody              // send the headers and part of the body, then close the connection
	Slow                      // wait Faults.SlowDelay before the headers, then answer normally
	AccountError              // 429 with an account error no retry fixes: z.ai 1113, OpenAI insufficient_quota
	UsageLimit                // 429 with a usage limit that resets Faults.UsageReset later: z.ai 1308, OpenAI tokens
)

var faultNames = [...]string{"none", "rate-limit", "unavailable", "server-error", "reset", "reset-mid-body", "slow", "account-error", "usage-limit"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// RetryAfterForm is how a 429 or 503 says how long to wait. Like any
// integer, it is safe for concurrent use.
type RetryAfterForm uint8

const (
	RetryAfterBoth    RetryAfterForm = iota // retry-after-ms, and Retry-After in whole seconds rounded up
	RetryAfterSeconds                       // Retry-After in whole seconds, rounded up
	RetryAfterMillis                        // retry-after-ms only
	RetryAfterDate                          // Retry-After as an HTTP date, rounded up to the next second
	RetryAfterNone                          // no header
)

// Faults are the rates, each in [0,1] and adding up to at most 1, at which
// the server injects each fault; the rest of the requests are answered
// normally. The zero Faults injects none. A Faults is a plain value, safe
// to read concurrently; New copies it.
type Faults struct {
	RateLimit    float64 // 429 Too Many Requests
	Unavailable  float64 // 503 Service Unavailable
	ServerError  float64 // 500 Internal Server Error
	Reset        float64 // connection reset before the headers
	ResetMidBody float64 // connection closed after the headers and part of the body
	Slow         float64 // a delay of SlowDelay before the headers
	AccountError float64 // 429 with an account error (z.ai 1113 in arrears; OpenAI insufficient_quota)
	UsageLimit   float64 // 429 with a usage limit that resets UsageReset later (z.ai 1308; OpenAI tokens)

	RetryAfter     time.Duration  // the wait that 429 and 503 ask for; 0 sends "0"
	RetryAfterForm RetryAfterForm // how they ask for it
	SlowDelay      time.Duration  // the delay of a slow first byte; default 1s
	UsageReset     time.Duration  // how long after a UsageLimit fault its limit resets; default 1h
}

// Validate reports rates out of [0,1], rates that add up to more than 1, and
// negative durations.
func (f Faults) Validate() error {
	rates := []struct {
		name string
		v    float64
	}{
		{"rate-limit", f.RateLimit}, {"unavailable", f.Unavailable}, {"server-error", f.ServerError},
		{"reset", f.Reset}, {"reset-mid-body", f.ResetMidBody}, {"slow", f.Slow},
		{"account-error", f.AccountError}, {"usage-limit", f.UsageLimit},
	}
	sum := 0.0
	for _, r := range rates {
		if !(r.v >= 0 && r.v <= 1) { // also catches NaN
			return fmt.Errorf("glmserver: %s rate %v is not in [0,1]", r.name, r.v)
		}
		sum += r.v
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("glmserver: fault rates add up to %.3g, more than 1", sum)
	}
	if f.RetryAfter < 0 || f.SlowDelay < 0 || f.UsageReset < 0 {
		return errors.New("glmserver: negative RetryAfter, SlowDelay or UsageReset")
	}
	if f.RetryAfterForm > RetryAfterNone {
		return fmt.Errorf("glmserver: unknown RetryAfterForm %d", f.RetryAfterForm)
	}
	return nil
}

// Config configures a [Server]. The zero Config is a server without faults
// and without an API key, seeded with 0. New copies the Config, Script
// included, so it may be changed or reused afterwards.
type Config struct {
	Faults Faults
	// Script is the fault of each of the first len(Script) valid requests, in
	// the order they arrive; the random draws begin after it.
	Script []Fault
	Seed   uint64 // seeds the fault sequence: the same seed gives the same sequence
	// APIKey, when set, is required as "Authorization: Bearer APIKey"; a
	// request without it gets 401.
	APIKey string
	// ChunkDelay is the pause between two events of a stream; 0: none.
	ChunkDelay time.Duration
	// KeyedFaults draws the fault of a request that carries an
	// Idempotency-Key header from a hash of (Seed, the key, the number of
	// earlier requests with that key) instead of from the arrival sequence:
	// the n-th attempt of a logical request meets the same fault whatever
	// order the attempts of all requests arrive in, so two clients that send
	// the same keys, one retrying and one not, face the same faults on their
	// first attempts. Requests without the header still draw from the
	// sequence, after Script. The server remembers every key it has seen.
	KeyedFaults bool
	// Dialect is how error answers are worded; the zero value is ZAI.
	Dialect Dialect
}

// Stats counts the requests that the server has seen, by outcome. Requests
// is the sum of Unauthorized, BadRequests, OK, RateLimited, Unavailable,
// ServerErrors, Resets, MidBodyResets, Aborted, AccountErrors and
// UsageLimited; Streams and Slow count some of those requests again. A
// Stats is a snapshot, a plain value.
type Stats struct {
	Requests      int64 // every request to the server
	Unauthorized  int64 // 401: missing or wrong API key
	BadRequests   int64 // 400, 404 or 405: not a valid chat completion request
	OK            int64 // answered in full, as JSON or as a stream up to [DONE]
	RateLimited   int64 // 429
	Unavailable   int64 // 503
	ServerErrors  int64 // 500
	Resets        int64 // connection reset before the headers
	MidBodyResets int64 // connection closed after the headers and part of the body
	Aborted       int64 // the client went away, or the server closed, before the answer was complete
	Streams       int64 // of the OK ones, answered as server-sent events
	Slow          int64 // requests whose first byte was delayed (counted again by their outcome)
	AccountErrors int64 // 429 with an account error (the AccountError fault)
	UsageLimited  int64 // 429 with a usage limit (the UsageLimit fault)
}

// Server is the fault-injecting chat-completions handler, and when made by
// [Start], the loopback server that runs it. It is safe for concurrent use by
// multiple goroutines.
type Server struct {
	// URL is the server's base URL: "http://127.0.0.1:PORT" when it was made
	// by Start, "http://glmserver.pipe" by StartPipe, "" by New. The API is
	// under URL+"/v1".
	URL string

	cfg Config

	mu      sync.Mutex // protects rng, scriptAt, closed and the Add calls on handlers
	rng     *rand.Rand
	nextID  atomic.Int64
	counts  [numCounters]atomic.Int64
	done    chan struct{} // closed by Close: ends delays and streams
	closed  bool
	handler sync.WaitGroup // ServeHTTP calls in progress
	scriptN int
	keys    map[string]uint64 // with KeyedFaults: requests seen per Idempotency-Key
	limits  limiter           // the caps of SetLimits (limits.go)

	hs     *http.Server
	ln     net.Listener
	served chan struct{} // closed when hs.Serve has returned

	// nextErrID numbers the request_id of z.ai error answers.
	nextErrID atomic.Int64
}

type counter int

const (
	cRequests counter = iota
	cUnauthorized
	cBadRequests
	cOK
	cRateLimited
	cUnavailable
	cServerErrors
	cResets
	cMidBodyResets
	cAborted
	cStreams
	cSlow
	cAccountErrors
	cUsageLimited
	numCounters
)

// New returns a Server that is only an http.Handler: serve it with
// httptest.NewServer, and call Close before closing that server. It returns
// an error when cfg.Faults is invalid.
func New(cfg Config) (*Server, error) {
	if err := cfg.Faults.Validate(); err != nil {
		return nil, err
	}
	if cfg.Faults.SlowDelay == 0 {
		cfg.Faults.SlowDelay = time.Second
	}
	if cfg.Faults.UsageReset == 0 {
		cfg.Faults.UsageReset = time.Hour
	}
	if cfg.ChunkDelay < 0 {
		return nil, errors.New("glmserver: negative ChunkDelay")
	}
	if cfg.Dialect > OpenAI {
		return nil, fmt.Errorf("glmserver: unknown Dialect %d", cfg.Dialect)
	}
	cfg.Script = append([]Fault(nil), cfg.Script...)
	return &Server{
		cfg:  cfg,
		rng:  rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		done: make(chan struct{}),
		keys: map[string]uint64{},
	}, nil
}

// Start returns a Server listening on 127.0.0.1 on a free port. Close stops
// it and waits for its handlers to return.
func Start(cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("glmserver: %w", err)
	}
	s.serve(ln, "http://"+ln.Addr().String())
	return s, nil
}

// StartPipe returns a Server that serves the connections its DialContext
// makes over in-memory pipes (net.Pipe) rather than sockets. Pipes block
// durably, so a StartPipe server, and a client that dials it, can run inside
// a testing/synctest bubble, where every delay runs on the bubble's fake
// clock: call StartPipe inside the bubble, and Close before it ends. Its URL
// is "http://glmserver.pipe"; any address reaches it through DialContext.
func StartPipe(cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s.serve(pipenet.Listen("glmserver.pipe"), "http://glmserver.pipe")
	return s, nil
}

func (s *Server) serve(ln net.Listener, url string) {
	s.ln, s.URL = ln, url
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		_ = s.hs.Serve(ln) // returns ErrServerClosed once Close runs
	}()
}

// DialContext connects to a server made by Start or StartPipe, whatever
// address it is given: use it as an http.Transport's DialContext.
func (s *Server) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	switch ln := s.ln.(type) {
	case nil:
		return nil, errors.New("glmserver: DialContext on a Server made by New")
	case *pipenet.Listener:
		return ln.Dial(ctx, "", "")
	default:
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}
}

// Close ends the delays and streams in progress, stops the listener made by
// Start or StartPipe and closes its connections, and waits until every ServeHTTP call has
// returned. Requests that arrive after Close get 503 without a fault draw.
// Close may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.handler.Wait()
		return
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	if s.hs != nil {
		s.hs.Close()
		<-s.served
	}
	s.handler.Wait()
}

// Stats returns the counts so far. Each count is read atomically, but a
// request in progress may be seen in Requests before its outcome is counted.
func (s *Server) Stats() Stats {
	c := func(i counter) int64 { return s.counts[i].Load() }
	return Stats{
		Requests: c(cRequests), Unauthorized: c(cUnauthorized), BadRequests: c(cBadRequests),
		OK: c(cOK), RateLimited: c(cRateLimited), Unavailable: c(cUnavailable),
		ServerErrors: c(cServerErrors), Resets: c(cResets), MidBodyResets: c(cMidBodyResets),
		Aborted: c(cAborted), Streams: c(cStreams), Slow: c(cSlow),
		AccountErrors: c(cAccountErrors), UsageLimited: c(cUsageLimited),
	}
}

// Answer is the reply the server gives to a prompt, the content of the last
// user message, so that clients can check what they received.
func Answer(prompt string) string {
	return "AutoGLM here. You asked: " + prompt
}

// faultFor draws the fault of a valid request: by its Idempotency-Key with
// KeyedFaults, else the next of the sequence.
func (s *Server) faultFor(r *http.Request) Fault {
	key := r.Header.Get("Idempotency-Key")
	if !s.cfg.KeyedFaults || key == "" {
		return s.next()
	}
	s.mu.Lock()
	n := s.keys[key]
	s.keys[key] = n + 1
	s.mu.Unlock()
	h := fnv.New64a()
	h.Write([]byte(key))
	x := mix(mix(mix(s.cfg.Seed)^h.Sum64()) ^ n)
	return s.pick(float64(x>>11) / (1 << 53))
}

// mix is splitmix64's finaliser: it spreads (seed, key, attempt) over 64
// bits, so that neighbouring keys and attempts draw independent faults.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// next draws the fault for the next valid request.
func (s *Server) next() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scriptN < len(s.cfg.Script) {
		f := s.cfg.Script[s.scriptN]
		s.scriptN++
		return f
	}
	return s.pick(s.rng.Float64())
}

// pick maps a uniform draw in [0,1) to a fault by the configured rates.
func (s *Server) pick(r float64) Fault {
	f := s.cfg.Faults
	for _, c := range []struct {
		rate  float64
		fault Fault
	}{
		{f.RateLimit, RateLimit}, {f.Unavailable, Unavailable}, {f.ServerError, ServerError},
		{f.Reset, Reset}, {f.ResetMidBody, ResetMidBody}, {f.Slow, Slow},
		{f.AccountError, AccountError}, {f.UsageLimit, UsageLimit},
	} {
		if r < c.rate {
			return c.fault
		}
		r -= c.rate
	}
	return None
}

// begin registers a handler call; false: the server is closed.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handler.Add(1)
	return true
}

// chatRequest is the part of an OpenAI chat completion request that the
// server reads.
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	Stream   bool          `json:"stream"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text is the message's content: a string, or the text of an array of parts.
func (m chatMessage) text() (string, error) {
	var s string
	if err := json.Unmarshal(m.Content, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", errors.New("content is neither a string nor an array of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

// maxBody bounds what the server reads of a request body.
const maxBody = 1 << 20

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.counts[cRequests].Add(1)
	if !s.begin() {
		s.counts[cUnavailable].Add(1)
		s.fail(w, aShutdown, "")
		return
	}
	defer s.handler.Done()

	if r.URL.Path != Path {
		s.counts[cBadRequests].Add(1)
		s.fail(w, aNotFound, r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		s.counts[cBadRequests].Add(1)
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, aMethod, "use POST")
		return
	}
	if auth := r.Header.Get("Authorization"); s.cfg.APIKey != "" && auth != "Bearer "+s.cfg.APIKey {
		s.counts[cUnauthorized].Add(1)
		if auth == "" {
			s.fail(w, aNoKey, "")
		} else {
			s.fail(w, aWrongKey, "")
		}
		return
	}
	req, prompt, err := decode(r)
	if err != nil {
		s.counts[cBadRequests].Add(1)
		s.fail(w, aBadRequest, err.Error())
		return
	}

	if !s.admit(w) {
		return
	}
	defer s.release()
	fault := s.faultFor(r)
	if fault == Slow {
		s.counts[cSlow].Add(1)
		if !s.wait(r, s.cfg.Faults.SlowDelay) {
			s.counts[cAborted].Add(1)
			// Returning would send an empty 200.
			panic(http.ErrAbortHandler)
		}
	}
	switch fault {
	case RateLimit:
		s.counts[cRateLimited].Add(1)
		s.fail(w, aRateLimit, "")
	case Unavailable:
		s.counts[cUnavailable].Add(1)
		s.fail(w, aUnavailable, "")
	case ServerError:
		s.counts[cServerErrors].Add(1)
		s.fail(w, aServerError, "")
	case AccountError:
		s.counts[cAccountErrors].Add(1)
		s.fail(w, aAccount, "")
	case UsageLimit:
		s.counts[cUsageLimited].Add(1)
		s.fail(w, aUsageLimit, "")
	case Reset:
		s.counts[cResets].Add(1)
		reset(w, false)
	default:
		s.answer(w, r, req, prompt, fault == ResetMidBody)
	}
}

// decode reads and checks a chat completion request, and returns it with the
// prompt: the text of its last user message.
func decode(r *http.Request) (chatRequest, string, error) {
	var req chatRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	if err := dec.Decode(&req); err != nil {
		return req, "", fmt.Errorf("invalid JSON body: %v", err)
	}
	if req.Model == "" {
		return req, "", errors.New("missing model")
	}
	if len(req.Messages) == 0 {
		return req, "", errors.New("messages must not be empty")
	}
	prompt, found := "", false
	for i, m := range req.Messages {
		if m.Role == "" {
			return req, "", fmt.Errorf("messages[%d]: missing role", i)
		}
		t, err := m.text()
		if err != nil {
			return req, "", fmt.Errorf("messages[%d]: %v", i, err)
		}
		if m.Role == "user" {
			prompt, found = t, true
		}
	}
	if !found {
		return req, "", errors.New("no user message")
	}
	return req, prompt, nil
}

// wait pauses d, and reports false if the request or the server ended first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

func (s *Server) setRetryAfter(h http.Header) {
	d := s.cfg.Faults.RetryAfter
	secs := int64((d + time.Second - 1) / time.Second)
	switch s.cfg.Faults.RetryAfterForm {
	case RetryAfterBoth:
		h.Set("retry-after-ms", strconv.FormatInt(d.Milliseconds(), 10))
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	case RetryAfterSeconds:
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	case RetryAfterMillis:
		h.Set("retry-after-ms", strconv.FormatInt(d.Milliseconds(), 10))
	case RetryAfterDate:
		// An HTTP date has whole seconds: round up, so that a client
		// never waits less than asked.
		at := time.Now().Add(d).Truncate(time.Second).Add(time.Second)
		h.Set("Retry-After", at.UTC().Format(http.TimeFormat))
	}
}

// reset hijacks the connection and closes it. Before any header, it closes
// with an RST. With flushed, what was written is sent first and the close is
// a plain FIN: an RST could make the client's kernel drop the headers and
// the part of the body it has not read yet, and the fault would turn into a
// reset before the headers, depending on timing.
func reset(w http.ResponseWriter, flushed bool) {
	rc := http.NewResponseController(w)
	if flushed {
		_ = rc.Flush()
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		// Not an HTTP/1 connection: the best left is to stop answering.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && !flushed {
		_ = tc.SetLinger(0) // close sends RST, not FIN
	}
	_ = conn.Close()
}

type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage,omitempty"`
}

type choice struct {
	Index        int          `json:"index"`
	Message      *chatContent `json:"message,omitempty"`
	Delta        *chatContent `json:"delta,omitempty"`
	FinishReason *string      `json:"finish_reason"`
}

type chatContent struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, req chatRequest, prompt string, cut bool) {
	reply := Answer(prompt)
	id := "chatcmpl-glm" + strconv.FormatInt(s.nextID.Add(1), 10)
	created := time.Now().Unix()
	stop := "stop"
	if !req.Stream {
		pt, ct := len(strings.Fields(prompt)), len(strings.Fields(reply))
		body, err := json.Marshal(completion{
			ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			Choices: []choice{{Message: &chatContent{Role: "assistant", Content: reply}, FinishReason: &stop}},
			Usage:   &usage{PromptTokens: pt, CompletionTokens: ct, TotalTokens: pt + ct},
		})
		if err != nil {
			panic(err) // the types above always marshal
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if cut {
			_, _ = w.Write(body[:len(body)/2])
			s.counts[cMidBodyResets].Add(1)
			reset(w, true)
			return
		}
		if _, err := w.Write(body); err != nil {
			s.counts[cAborted].Add(1)
			return
		}
		s.counts[cOK].Add(1)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := bufio.NewWriter(w)
	pieces := strings.SplitAfter(reply, " ")
	events := make([]completion, 0, len(pieces)+1)
	for i, p := range pieces {
		d := &chatContent{Content: p}
		if i == 0 {
			d.Role = "assistant"
		}
		events = append(events, completion{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			Choices: []choice{{Delta: d}}})
	}
	events = append(events, completion{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
		Choices: []choice{{Delta: &chatContent{}, FinishReason: &stop}}})
	for i, ev := range events {
		if cut && i == len(events)/2 {
			_ = bw.Flush()
			s.counts[cMidBodyResets].Add(1)
			reset(w, true)
			return
		}
		if i > 0 && !s.wait(r, s.cfg.ChunkDelay) {
			s.counts[cAborted].Add(1)
			// Returning would end the chunked body cleanly, and the
			// client would take a cut stream for a whole one.
			panic(http.ErrAbortHandler)
		}
		data, err := json.Marshal(ev)
		if err != nil {
			panic(err)
		}
		bw.WriteString("data: ")
		bw.Write(data)
		bw.WriteString("\n\n")
		if err := flush(bw, rc); err != nil {
			s.counts[cAborted].Add(1)
			return
		}
	}
	bw.WriteString("data: [DONE]\n\n")
	if err := flush(bw, rc); err != nil {
		s.counts[cAborted].Add(1)
		return
	}
	s.counts[cStreams].Add(1)
	s.counts[cOK].Add(1)
}

func flush(bw *bufio.Writer, rc *http.ResponseController) error {
	if err := bw.Flush(); err != nil {
		return err
	}
	return rc.Flush()
}
