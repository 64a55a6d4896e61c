package bench_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
)

// countingRT counts the round trips that pass through it.
type countingRT struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// sdkOutcome is how one SDK call ended.
type sdkOutcome int

const (
	sdkRight   sdkOutcome = iota // the right answer
	sdkStatus                    // an *openai.Error: a failed status, returned after the retries
	sdkGaveUp                    // a *backoff.Error: the transport stopped retrying
	sdkBodyCut                   // the answer was cut after its 200 headers
	numSDKOutcomes
)

// TestOpenAISDK drives the official OpenAI Go SDK, with its own retries off,
// through backoff's client against the fault-injecting server, streamed and
// not: every call must end with the right answer or an error that says what
// happened, and the counts must agree with what the server saw.
func TestOpenAISDK(t *testing.T) {
	opts := []backoff.Option{
		backoff.WithMaxAttempts(4),
		backoff.WithStrategy(backoff.Classified{Transient: backoff.Fixed(time.Millisecond), Temporary: backoff.Fixed(time.Millisecond)}),
		backoff.WithAttemptTimeout(500 * time.Millisecond),
	}
	tests := []struct {
		name     string
		stream   bool
		retryAll bool // Transport.RetryNonIdempotent; false: as NewClient builds it
	}{
		{"NewClient/JSON", false, false},
		{"NewClient/stream", true, false},
		{"RetryNonIdempotent/JSON", false, true},
		{"RetryNonIdempotent/stream", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := glmserver.Start(glmserver.Config{
				APIKey: "sk-glm",
				Seed:   11,
				Faults: glmserver.Faults{
					RateLimit: 0.1, Unavailable: 0.05, ServerError: 0.1, Reset: 0.05, ResetMidBody: 0.05, Slow: 0.03,
					RetryAfter: 20 * time.Millisecond, RetryAfterForm: glmserver.RetryAfterMillis,
					SlowDelay: 2 * time.Second,
				},
			})
			require.NoError(t, err)
			defer srv.Close()

			network := &countingRT{next: &http.Transport{}}
			defer network.next.(*http.Transport).CloseIdleConnections()
			hc := backoff.NewClient(opts...)
			tr, ok := hc.Transport.(*backoff.Transport)
			require.True(t, ok, "NewClient's transport is a *backoff.Transport")
			tr.Base = network // a transport of the test's own, so that no connection outlives it
			tr.RetryNonIdempotent = tt.retryAll
			calls := &countingRT{next: tr}
			hc.Transport = calls

			client := openai.NewClient(
				option.WithBaseURL(srv.URL+"/v1/"),
				option.WithAPIKey("sk-glm"),
				option.WithMaxRetries(0),
				option.WithHTTPClient(hc),
			)

			const workers, each = 6, 20
			var (
				mu       sync.Mutex
				outcomes [numSDKOutcomes]int
				unclear  []error
			)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						prompt := fmt.Sprintf("worker %d task %d: open the camera", w, i)
						ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
						got, err := ask(ctx, client, prompt, tt.stream)
						cancel()
						o, ok := classifySDK(got, err, glmserver.Answer(prompt))
						mu.Lock()
						if ok {
							outcomes[o]++
						} else {
							unclear = append(unclear, fmt.Errorf("%q: %w", got, err))
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			srv.Close()
			st := srv.Stats()
			t.Logf("%d right, %d failed statuses, %d gave up, %d cut; server: %+v",
				outcomes[sdkRight], outcomes[sdkStatus], outcomes[sdkGaveUp], outcomes[sdkBodyCut], st)

			assert.Empty(t, unclear, "every call ends with the right answer or a clear error")
			assert.Equal(t, int64(workers*each), calls.n.Load(), "the SDK made one call per request: its retries are off")
			assert.Equal(t, network.n.Load(), st.Requests, "every attempt reached the server once")
			assert.Greater(t, st.Requests, int64(workers*each), "the transport retried")
			assert.Equal(t, int64(outcomes[sdkRight]), st.OK, "each complete answer reached the SDK")
			assert.Equal(t, int64(outcomes[sdkBodyCut]), st.MidBodyResets, "a body cut after its headers is never retried")
			assert.Positive(t, outcomes[sdkRight])
			if tt.stream {
				assert.Equal(t, st.OK, st.Streams)
			} else {
				assert.Zero(t, st.Streams)
			}
		})
	}
}

// ask makes one chat completion, streamed or not, and returns its content.
func ask(ctx context.Context, client openai.Client, prompt string, stream bool) (string, error) {
	params := openai.ChatCompletionNewParams{
		Model:    "autoglm-phone-9b",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
	}
	if !stream {
		c, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			return "", err
		}
		if len(c.Choices) != 1 || c.Choices[0].FinishReason != "stop" {
			return "", fmt.Errorf("unexpected completion %s", c.RawJSON())
		}
		return c.Choices[0].Message.Content, nil
	}
	s := client.Chat.Completions.NewStreaming(ctx, params)
	defer s.Close()
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "stop" {
		return "", errors.New("the stream ended without a finish reason")
	}
	return acc.Choices[0].Message.Content, nil
}

// classifySDK tells how a call ended, and false when it ended in a way that
// does not say what happened: a wrong answer, an error of no known kind.
func classifySDK(got string, err error, want string) (sdkOutcome, bool) {
	if err == nil {
		return sdkRight, got == want
	}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		switch apiErr.StatusCode {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusInternalServerError:
			return sdkStatus, true
		}
		return sdkStatus, false
	}
	var be *backoff.Error
	if errors.As(err, &be) {
		known := errors.Is(be, backoff.ErrExhausted) || errors.Is(be, backoff.ErrPermanent)
		return sdkGaveUp, known && be.Err != nil && be.Attempts >= 1
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return sdkBodyCut, true
	}
	return sdkBodyCut, false
}
