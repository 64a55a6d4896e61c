package bench_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	goopenai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
	"github.com/backoff-go/backoff/llm"
)

// The tests below drive real OpenAI clients through
// backoff.NewClient(backoff.Production(), llm.Options()) against glmserver,
// over in-memory pipes inside synctest bubbles, so that Production's waits
// and the servers' Retry-After pass on the bubble's clock.

// llmClient is backoff's client for a model API, with a count of the
// attempts that reach the network and of the sends that the SDK makes.
type llmClient struct {
	hc      *http.Client
	network *countingRT // attempts, as the server sees them
	sends   *sendsRT    // the SDK's sends, each one Transport.RoundTrip
}

// sendsRT counts the sends that pass through it, and those that the
// breaker or the budget refused before any attempt.
type sendsRT struct {
	next               http.RoundTripper
	n, circuit, budget atomic.Int64
}

func (s *sendsRT) RoundTrip(r *http.Request) (*http.Response, error) {
	s.n.Add(1)
	resp, err := s.next.RoundTrip(r)
	switch {
	case errors.Is(err, backoff.ErrCircuitOpen):
		s.circuit.Add(1)
	case errors.Is(err, backoff.ErrBudget):
		s.budget.Add(1)
	}
	return resp, err
}

// newLLMClient builds the client for srv, and closes its connections when the
// test ends. Call it inside the bubble.
func newLLMClient(t *testing.T, srv *glmserver.Server) *llmClient {
	t.Helper()
	base := &http.Transport{DialContext: srv.DialContext}
	t.Cleanup(base.CloseIdleConnections)
	hc := backoff.NewClient(backoff.Production(), llm.Options())
	tr, ok := hc.Transport.(*backoff.Transport)
	require.True(t, ok, "NewClient's transport is a *backoff.Transport")
	c := &llmClient{hc: hc, network: &countingRT{next: base}}
	tr.Base = c.network
	c.sends = &sendsRT{next: tr}
	hc.Transport = c.sends
	return c
}

func startPipeServer(t *testing.T, cfg glmserver.Config) *glmserver.Server {
	t.Helper()
	srv, err := glmserver.StartPipe(cfg)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// apiFailure is what a client's error says of a failed status.
type apiFailure struct {
	status  int
	code    string // the body's error.code, as text
	message string // the body's error.message
	body    string // the whole body, where the client keeps it; "" where it does not
}

// sdkClient is one real client, as these tests use it.
type sdkClient struct {
	name string
	// chat makes one chat completion, streamed or not, through hc against
	// the API at base, and returns the content.
	chat func(ctx context.Context, hc *http.Client, base, prompt string, stream bool) (string, error)
	// failure reads a failed status from the client's error.
	failure func(err error) (apiFailure, bool)
}

var sdkClients = []sdkClient{
	{
		name: "openai-go",
		chat: func(ctx context.Context, hc *http.Client, base, prompt string, stream bool) (string, error) {
			client := openai.NewClient(option.WithBaseURL(base), option.WithAPIKey("sk-glm"),
				option.WithMaxRetries(0), option.WithHTTPClient(hc))
			return ask(ctx, client, prompt, stream)
		},
		failure: func(err error) (apiFailure, bool) {
			var e *openai.Error
			if !errors.As(err, &e) {
				return apiFailure{}, false
			}
			f := apiFailure{status: e.StatusCode, code: e.Code, message: e.Message}
			if e.Response != nil {
				// openai-go gives the body it read back to the response.
				b, _ := io.ReadAll(e.Response.Body)
				f.body = string(b)
			}
			return f, true
		},
	},
	{
		name: "go-openai",
		chat: func(ctx context.Context, hc *http.Client, base, prompt string, stream bool) (string, error) {
			cfg := goopenai.DefaultConfig("sk-glm")
			cfg.BaseURL = strings.TrimSuffix(base, "/")
			cfg.HTTPClient = hc
			return askGoOpenAI(ctx, goopenai.NewClientWithConfig(cfg), prompt, stream)
		},
		failure: func(err error) (apiFailure, bool) {
			var e *goopenai.APIError
			if !errors.As(err, &e) {
				return apiFailure{}, false
			}
			return apiFailure{status: e.HTTPStatusCode, code: fmt.Sprint(e.Code), message: e.Message}, true
		},
	},
}

// askGoOpenAI is ask for github.com/sashabaranov/go-openai.
func askGoOpenAI(ctx context.Context, client *goopenai.Client, prompt string, stream bool) (string, error) {
	req := goopenai.ChatCompletionRequest{
		Model:    "autoglm-phone-9b",
		Messages: []goopenai.ChatCompletionMessage{{Role: goopenai.ChatMessageRoleUser, Content: prompt}},
	}
	if !stream {
		c, err := client.CreateChatCompletion(ctx, req)
		if err != nil {
			return "", err
		}
		if len(c.Choices) != 1 || c.Choices[0].FinishReason != goopenai.FinishReasonStop {
			return "", fmt.Errorf("unexpected completion %+v", c)
		}
		return c.Choices[0].Message.Content, nil
	}
	req.Stream = true
	s, err := client.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return "", err
	}
	defer s.Close()
	var content strings.Builder
	finished := false
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		for _, c := range chunk.Choices {
			content.WriteString(c.Delta.Content)
			finished = finished || c.FinishReason == goopenai.FinishReasonStop
		}
	}
	if !finished {
		return "", errors.New("the stream ended without a finish reason")
	}
	return content.String(), nil
}

// TestClientsStreamWhole shows streamed and plain completions arriving
// whole after the transport retried the rate limits and overloads before
// them, in both dialects: the SDK made one send, the server saw every
// retry.
func TestClientsStreamWhole(t *testing.T) {
	for _, sdk := range sdkClients {
		for _, dialect := range []glmserver.Dialect{glmserver.ZAI, glmserver.OpenAI} {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/stream=%v", sdk.name, dialect, stream), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						srv := startPipeServer(t, glmserver.Config{
							Dialect: dialect,
							Script:  []glmserver.Fault{glmserver.RateLimit, glmserver.Unavailable, glmserver.RateLimit},
							Faults:  glmserver.Faults{RetryAfter: 50 * time.Millisecond},
						})
						c := newLLMClient(t, srv)
						got, err := sdk.chat(t.Context(), c.hc, srv.URL+"/v1/", "open the camera", stream)
						require.NoError(t, err)
						assert.Equal(t, glmserver.Answer("open the camera"), got)
						assert.Equal(t, int64(1), c.sends.n.Load(), "one send by the SDK")
						assert.Equal(t, int64(4), c.network.n.Load(), "three retries by the transport")
						srv.Close()
						st := srv.Stats()
						assert.Equal(t, glmserver.Stats{Requests: 4, RateLimited: 2, Unavailable: 1, OK: 1, Streams: st.Streams}, st)
						assert.Equal(t, map[bool]int64{false: 0, true: 1}[stream], st.Streams)
					})
				})
			}
		}
	}
}

// TestClientsPermanentOneAttempt shows each account error that no wait
// fixes, and a usage limit whose reset comes after the deadline, costing one
// attempt and no time, the client receiving the server's code and message.
func TestClientsPermanentOneAttempt(t *testing.T) {
	tests := []struct {
		dialect glmserver.Dialect
		fault   glmserver.Fault
		code    string
		message string // its start
	}{
		{glmserver.ZAI, glmserver.AccountError, "1113", "Your account is in arrears"},
		{glmserver.OpenAI, glmserver.AccountError, "insufficient_quota", "You exceeded your current quota"},
		{glmserver.ZAI, glmserver.UsageLimit, "1308", "Usage limit reached for 5 hour. Your limit will reset at 2000-01-01 09:00:00"},
		{glmserver.OpenAI, glmserver.UsageLimit, "rate_limit_exceeded", "Rate limit reached for tokens"},
	}
	for _, sdk := range sdkClients {
		for _, tt := range tests {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/%s/stream=%v", sdk.name, tt.dialect, tt.fault, stream), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						srv := startPipeServer(t, glmserver.Config{
							Dialect: tt.dialect,
							Script:  []glmserver.Fault{tt.fault},
						})
						c := newLLMClient(t, srv)
						ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
						defer cancel()
						start := time.Now()
						_, err := sdk.chat(ctx, c.hc, srv.URL+"/v1/", "open the camera", stream)
						require.Error(t, err)
						f, ok := sdk.failure(err)
						require.True(t, ok, "a failed status: %v", err)
						assert.Equal(t, http.StatusTooManyRequests, f.status)
						assert.Equal(t, tt.code, f.code)
						assert.True(t, strings.HasPrefix(f.message, tt.message), f.message)
						assert.Equal(t, int64(1), c.network.n.Load(), "one attempt")
						assert.Equal(t, time.Duration(0), time.Since(start), "no wait")
					})
				})
			}
		}
	}
}

// TestClientsFinalErrorBodyWhole shows the client receiving the whole body
// of the last failed answer: a 404 whose body is longer than the 4 KiB that
// the transport reads to classify it, and a 429 after the retries ran out.
func TestClientsFinalErrorBodyWhole(t *testing.T) {
	long := strings.Repeat("x", 6000)
	for _, sdk := range sdkClients {
		for _, dialect := range []glmserver.Dialect{glmserver.ZAI, glmserver.OpenAI} {
			t.Run(sdk.name+"/"+dialect.String()+"/404 over 4 KiB", func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv := startPipeServer(t, glmserver.Config{Dialect: dialect})
					c := newLLMClient(t, srv)
					_, err := sdk.chat(t.Context(), c.hc, srv.URL+"/v1/"+long+"/", "hi", false)
					require.Error(t, err)
					f, ok := sdk.failure(err)
					require.True(t, ok, "a failed status: %v", err)
					assert.Equal(t, http.StatusNotFound, f.status)
					assert.Contains(t, f.message, "/v1/"+long+"/chat/completions", "the message past 4 KiB")
					if f.body != "" {
						assert.Greater(t, len(f.body), 6000)
						assert.Contains(t, f.body, long)
					}
					assert.Equal(t, int64(1), c.network.n.Load(), "a 404 is not retried")
				})
			})
			t.Run(sdk.name+"/"+dialect.String()+"/429 after the retries", func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv := startPipeServer(t, glmserver.Config{Dialect: dialect,
						Faults: glmserver.Faults{RateLimit: 1, RetryAfter: 100 * time.Millisecond}})
					c := newLLMClient(t, srv)
					_, err := sdk.chat(t.Context(), c.hc, srv.URL+"/v1/", "hi", false)
					require.Error(t, err)
					f, ok := sdk.failure(err)
					require.True(t, ok, "a failed status: %v", err)
					assert.Equal(t, http.StatusTooManyRequests, f.status)
					want := map[glmserver.Dialect]string{glmserver.ZAI: "1302", glmserver.OpenAI: "rate_limit_exceeded"}[dialect]
					assert.Equal(t, want, f.code)
					assert.NotEmpty(t, f.message)
					assert.Equal(t, int64(4), c.network.n.Load(), "Production's 4 attempts")
				})
			})
		}
	}
}

// TestOpenAIGoStackedRetries leaves openai-go's own retries on (2 by
// default) around backoff's transport, with one attempt in three rate
// limited: the SDK resends what the transport gave up on, and the transport
// counts each resend (X-Stainless-Retry-Count above 0) against the budget as
// a retry. The attempts then stay within the budget's bound: one per
// request, plus the budget's Burst, plus its Ratio per request (0.2 here,
// DESIGN's Production budget, at least the preset's).
func TestOpenAIGoStackedRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startPipeServer(t, glmserver.Config{
			Seed:   5,
			Faults: glmserver.Faults{RateLimit: 0.3, RetryAfter: 20 * time.Millisecond},
		})
		c := newLLMClient(t, srv)
		client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-glm"),
			option.WithHTTPClient(c.hc)) // the SDK's own retries left on
		const requests = 400
		right, failed := 0, 0
		for i := range requests {
			prompt := fmt.Sprintf("task %d", i)
			got, err := ask(t.Context(), client, prompt, i%2 == 1)
			switch {
			case err == nil && got == glmserver.Answer(prompt):
				right++
			case err != nil:
				failed++
			default:
				t.Errorf("task %d: wrong answer %q", i, got)
			}
		}
		const burst, ratio = 10, 0.2
		bound := int64(requests + burst + ratio*requests)
		attempts, sends := c.network.n.Load(), c.sends.n.Load()
		t.Logf("%d requests: %d right, %d failed; %d SDK sends (%d refused by the budget), %d attempts (bound %d)",
			requests, right, failed, sends, c.sends.budget.Load(), attempts, bound)
		assert.Greater(t, sends, int64(requests), "the SDK resent")
		assert.Zero(t, c.sends.circuit.Load(), "the breaker stayed closed: the budget alone bounds the attempts")
		assert.LessOrEqual(t, attempts, bound, "attempts within the budget's bound")
		assert.Equal(t, requests, right+failed)
	})
}
