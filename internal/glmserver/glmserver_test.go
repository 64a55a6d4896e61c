package glmserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/backoff-go/backoff/internal/glmserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start runs a loopback server for the test and a client that does not keep
// connections beyond it.
func start(t *testing.T, cfg glmserver.Config) (*glmserver.Server, *http.Client) {
	t.Helper()
	s, err := glmserver.Start(cfg)
	require.NoError(t, err)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		s.Close()
	})
	return s, &http.Client{Transport: tr}
}

func chatBody(prompt string, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model":    "autoglm-phone-9b",
		"messages": []map[string]any{{"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}},
		"stream":   stream,
	})
	return string(b)
}

func post(t *testing.T, c *http.Client, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+glmserver.Path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return c.Do(req)
}

type completion struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

// readStream reads server-sent events up to [DONE] and returns the content
// they carry and the number of chunks.
func readStream(r io.Reader) (string, int, error) {
	sc := bufio.NewScanner(r)
	var content strings.Builder
	chunks := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return "", chunks, errors.New("not a data line: " + line)
		}
		if data == "[DONE]" {
			return content.String(), chunks, nil
		}
		var c completion
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return "", chunks, err
		}
		if c.Object != "chat.completion.chunk" || len(c.Choices) != 1 {
			return "", chunks, errors.New("bad chunk: " + data)
		}
		chunks++
		content.WriteString(c.Choices[0].Delta.Content)
	}
	if err := sc.Err(); err != nil {
		return "", chunks, err
	}
	return "", chunks, io.ErrUnexpectedEOF
}

func TestAnswersJSON(t *testing.T) {
	s, c := start(t, glmserver.Config{})
	resp, err := post(t, c, s.URL, chatBody("open the camera", false))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got completion
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, "chat.completion", got.Object)
	assert.Equal(t, "autoglm-phone-9b", got.Model)
	require.Len(t, got.Choices, 1)
	assert.Equal(t, "assistant", got.Choices[0].Message.Role)
	assert.Equal(t, glmserver.Answer("open the camera"), got.Choices[0].Message.Content)
	require.NotNil(t, got.Choices[0].FinishReason)
	assert.Equal(t, "stop", *got.Choices[0].FinishReason)

	s.Close()
	assert.Equal(t, glmserver.Stats{Requests: 1, OK: 1}, s.Stats())
}

func TestAnswersStream(t *testing.T) {
	s, c := start(t, glmserver.Config{})
	resp, err := post(t, c, s.URL, chatBody("call mom", true))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	content, chunks, err := readStream(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, glmserver.Answer("call mom"), content)
	// One chunk per word, and the closing chunk with finish_reason.
	assert.Equal(t, len(strings.Fields(content))+1, chunks)

	s.Close()
	assert.Equal(t, glmserver.Stats{Requests: 1, OK: 1, Streams: 1}, s.Stats())
}

func TestContentParts(t *testing.T) {
	s, c := start(t, glmserver.Config{})
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"tap "},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"OK"}]}]}`
	resp, err := post(t, c, s.URL, body)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got completion
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, glmserver.Answer("tap OK"), got.Choices[0].Message.Content)
}

// TestRejectsBadRequests checks each invalid request in both dialects:
// z.ai's business code, and OpenAI's invalid_request_error with its code.
func TestRejectsBadRequests(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		body   string
		code   int
		zai    string // the z.ai business code
		openai string // OpenAI's error code; "": null
	}{
		{"no key", http.MethodPost, glmserver.Path, "", chatBody("hi", false), http.StatusUnauthorized, "1001", ""},
		{"wrong key", http.MethodPost, glmserver.Path, "Bearer sk-other", chatBody("hi", false), http.StatusUnauthorized, "1002", "invalid_api_key"},
		{"GET", http.MethodGet, glmserver.Path, "Bearer sk-test", "", http.StatusMethodNotAllowed, "1210", ""},
		{"unknown path", http.MethodPost, "/v1/completions", "Bearer sk-test", chatBody("hi", false), http.StatusNotFound, "1222", ""},
		{"not JSON", http.MethodPost, glmserver.Path, "Bearer sk-test", "{", http.StatusBadRequest, "1210", ""},
		{"no model", http.MethodPost, glmserver.Path, "Bearer sk-test", `{"messages":[{"role":"user","content":"hi"}]}`, http.StatusBadRequest, "1210", ""},
		{"no messages", http.MethodPost, glmserver.Path, "Bearer sk-test", `{"model":"m","messages":[]}`, http.StatusBadRequest, "1210", ""},
		{"no role", http.MethodPost, glmserver.Path, "Bearer sk-test", `{"model":"m","messages":[{"content":"hi"}]}`, http.StatusBadRequest, "1210", ""},
		{"content a number", http.MethodPost, glmserver.Path, "Bearer sk-test", `{"model":"m","messages":[{"role":"user","content":7}]}`, http.StatusBadRequest, "1210", ""},
		{"no user message", http.MethodPost, glmserver.Path, "Bearer sk-test", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, http.StatusBadRequest, "1210", ""},
		{"right key", http.MethodPost, glmserver.Path, "Bearer sk-test", chatBody("hi", false), http.StatusOK, "", ""},
	}
	for _, dialect := range []glmserver.Dialect{glmserver.ZAI, glmserver.OpenAI} {
		t.Run(dialect.String(), func(t *testing.T) {
			s, c := start(t, glmserver.Config{APIKey: "sk-test", Dialect: dialect})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					req, err := http.NewRequest(tt.method, s.URL+tt.path, strings.NewReader(tt.body))
					require.NoError(t, err)
					if tt.auth != "" {
						req.Header.Set("Authorization", tt.auth)
					}
					resp, err := c.Do(req)
					require.NoError(t, err)
					defer resp.Body.Close()
					assert.Equal(t, tt.code, resp.StatusCode)
					if tt.code == http.StatusOK {
						return
					}
					assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
					var e struct {
						Error struct {
							Message string  `json:"message"`
							Type    *string `json:"type"`
							Code    *string `json:"code"`
						} `json:"error"`
						RequestID string `json:"request_id"`
					}
					require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
					assert.NotEmpty(t, e.Error.Message)
					if dialect == glmserver.ZAI {
						assert.Nil(t, e.Error.Type, "z.ai sends no type")
						require.NotNil(t, e.Error.Code)
						assert.Equal(t, tt.zai, *e.Error.Code)
						assert.NotEmpty(t, e.RequestID)
						return
					}
					require.NotNil(t, e.Error.Type)
					assert.Equal(t, "invalid_request_error", *e.Error.Type)
					if tt.openai == "" {
						assert.Nil(t, e.Error.Code)
					} else {
						require.NotNil(t, e.Error.Code)
						assert.Equal(t, tt.openai, *e.Error.Code)
					}
				})
			}
			s.Close()
			assert.Equal(t, glmserver.Stats{Requests: 11, Unauthorized: 2, BadRequests: 8, OK: 1}, s.Stats())
		})
	}
}

func TestScriptedFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  glmserver.Fault
		stream bool
		code   int    // 0: the request fails at the transport
		body   bool   // the body read fails after a 200
		header string // expected Retry-After, if any
		ms     string // expected retry-after-ms, if any
		stats  glmserver.Stats
	}{
		{name: "429", fault: glmserver.RateLimit, code: 429, header: "2", ms: "1500",
			stats: glmserver.Stats{Requests: 1, RateLimited: 1}},
		{name: "503", fault: glmserver.Unavailable, code: 503, header: "2", ms: "1500",
			stats: glmserver.Stats{Requests: 1, Unavailable: 1}},
		{name: "500", fault: glmserver.ServerError, code: 500,
			stats: glmserver.Stats{Requests: 1, ServerErrors: 1}},
		{name: "reset", fault: glmserver.Reset,
			stats: glmserver.Stats{Requests: 1, Resets: 1}},
		{name: "reset mid JSON", fault: glmserver.ResetMidBody, code: 200, body: true,
			stats: glmserver.Stats{Requests: 1, MidBodyResets: 1}},
		{name: "reset mid stream", fault: glmserver.ResetMidBody, stream: true, code: 200, body: true,
			stats: glmserver.Stats{Requests: 1, MidBodyResets: 1}},
		{name: "none", fault: glmserver.None, code: 200,
			stats: glmserver.Stats{Requests: 1, OK: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := start(t, glmserver.Config{
				Script: []glmserver.Fault{tt.fault},
				Faults: glmserver.Faults{RetryAfter: 1500 * time.Millisecond},
			})
			resp, err := post(t, c, s.URL, chatBody("hi", tt.stream))
			if tt.code == 0 {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				defer resp.Body.Close()
				assert.Equal(t, tt.code, resp.StatusCode)
				assert.Equal(t, tt.header, resp.Header.Get("Retry-After"))
				assert.Equal(t, tt.ms, resp.Header.Get("Retry-After-Ms"))
				var rerr error
				if tt.stream {
					_, _, rerr = readStream(resp.Body)
				} else {
					_, rerr = io.ReadAll(resp.Body)
				}
				if tt.body {
					require.Error(t, rerr, "the body must end in an error, not a clean EOF")
				} else {
					require.NoError(t, rerr)
				}
			}
			s.Close()
			assert.Equal(t, tt.stats, s.Stats())
		})
	}
}

func TestRetryAfterForms(t *testing.T) {
	tests := []struct {
		name   string
		form   glmserver.RetryAfterForm
		after  time.Duration
		header string
		ms     string
	}{
		{"both", glmserver.RetryAfterBoth, 250 * time.Millisecond, "1", "250"},
		{"both whole", glmserver.RetryAfterBoth, 2 * time.Second, "2", "2000"},
		{"seconds", glmserver.RetryAfterSeconds, 1001 * time.Millisecond, "2", ""},
		{"millis", glmserver.RetryAfterMillis, 40 * time.Millisecond, "", "40"},
		{"none", glmserver.RetryAfterNone, time.Second, "", ""},
		{"zero", glmserver.RetryAfterBoth, 0, "0", "0"},
		// synctest's clock starts at midnight: now+1.5s rounds up to 00:00:02.
		{"date", glmserver.RetryAfterDate, 1500 * time.Millisecond, "Sat, 01 Jan 2000 00:00:02 GMT", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, c := startPipe(t, glmserver.Config{
					Faults: glmserver.Faults{RateLimit: 1, RetryAfter: tt.after, RetryAfterForm: tt.form},
				})
				resp, err := post(t, c, s.URL, chatBody("hi", false))
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
				assert.Equal(t, tt.header, resp.Header.Get("Retry-After"))
				assert.Equal(t, tt.ms, resp.Header.Get("Retry-After-Ms"))
			})
		})
	}
}

// startPipe serves a glmserver over in-memory pipes; call it inside a
// synctest bubble.
func startPipe(t *testing.T, cfg glmserver.Config) (*glmserver.Server, *http.Client) {
	t.Helper()
	s, err := glmserver.StartPipe(cfg)
	require.NoError(t, err)
	tr := &http.Transport{DialContext: s.DialContext}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		s.Close()
	})
	return s, &http.Client{Transport: tr}
}

func TestSlowFirstByte(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := startPipe(t, glmserver.Config{
			Faults: glmserver.Faults{Slow: 1, SlowDelay: 3 * time.Second},
		})
		begin := time.Now()
		resp, err := post(t, c, s.URL, chatBody("hi", false))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, 3*time.Second, time.Since(begin))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		_, err = io.ReadAll(resp.Body)
		require.NoError(t, err)
		s.Close()
		assert.Equal(t, glmserver.Stats{Requests: 1, OK: 1, Slow: 1}, s.Stats())
	})
}

func TestSlowFirstByteClientGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := startPipe(t, glmserver.Config{
			Faults: glmserver.Faults{Slow: 1, SlowDelay: time.Hour},
		})
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+glmserver.Path, strings.NewReader(chatBody("hi", false)))
		require.NoError(t, err)
		_, err = c.Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		s.Close() // waits for the handler, which saw the client go
		assert.Equal(t, glmserver.Stats{Requests: 1, Aborted: 1, Slow: 1}, s.Stats())
	})
}

// TestStreamFlushesEachChunk reads the first event while the next one is an
// hour away: it arrives only if the server flushed it.
func TestStreamFlushesEachChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := startPipe(t, glmserver.Config{ChunkDelay: time.Hour})
		resp, err := post(t, c, s.URL, chatBody("hi", true))
		require.NoError(t, err)
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(line, "data: {"), line)
		assert.Contains(t, line, `"role":"assistant"`)

		// Close ends the stream in progress.
		s.Close()
		_, err = io.ReadAll(r)
		require.Error(t, err, "a stream cut short must not end cleanly")
		assert.Equal(t, glmserver.Stats{Requests: 1, Aborted: 1}, s.Stats())
	})
}

func TestSameSeedSameFaults(t *testing.T) {
	faults := glmserver.Faults{RateLimit: 0.15, Unavailable: 0.1, ServerError: 0.1, Reset: 0.1, ResetMidBody: 0.1}
	run := func(seed uint64) []int {
		s, c := start(t, glmserver.Config{Faults: faults, Seed: seed})
		var outcomes []int
		for range 200 {
			resp, err := post(t, c, s.URL, chatBody("hi", false))
			code := 0
			if err == nil {
				code = resp.StatusCode
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					code = -code // cut mid-body
				}
				resp.Body.Close()
			}
			outcomes = append(outcomes, code)
		}
		s.Close()
		st := s.Stats()
		assert.Equal(t, int64(200), st.Requests)
		for name, n := range map[string]int64{"ok": st.OK, "429": st.RateLimited, "503": st.Unavailable,
			"500": st.ServerErrors, "reset": st.Resets, "mid-body": st.MidBodyResets} {
			assert.Positive(t, n, name)
		}
		return outcomes
	}
	a, b, other := run(7), run(7), run(8)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, other)
}

func TestConcurrentCountsAddUp(t *testing.T) {
	s, c := start(t, glmserver.Config{
		Faults: glmserver.Faults{RateLimit: 0.2, Unavailable: 0.1, ServerError: 0.1, Reset: 0.1, ResetMidBody: 0.1},
		Seed:   3,
	})
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				resp, err := post(t, c, s.URL, chatBody("hi", (w+i)%2 == 0))
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	s.Close()
	st := s.Stats()
	assert.Equal(t, int64(workers*each), st.Requests)
	assert.Equal(t, st.Requests, st.Unauthorized+st.BadRequests+st.OK+st.RateLimited+st.Unavailable+
		st.ServerErrors+st.Resets+st.MidBodyResets+st.Aborted)
	assert.LessOrEqual(t, st.Streams, st.OK)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		f    glmserver.Faults
		ok   bool
	}{
		{"zero", glmserver.Faults{}, true},
		{"all", glmserver.Faults{RateLimit: 0.5, Slow: 0.5}, true},
		{"negative", glmserver.Faults{Reset: -0.1}, false},
		{"above one", glmserver.Faults{ServerError: 1.5}, false},
		{"sum above one", glmserver.Faults{RateLimit: 0.6, Unavailable: 0.6}, false},
		{"negative delay", glmserver.Faults{SlowDelay: -time.Second}, false},
		{"unknown form", glmserver.Faults{RetryAfterForm: 99}, false},
		{"account errors", glmserver.Faults{AccountError: 0.5, UsageLimit: 0.5}, true},
		{"account errors above one", glmserver.Faults{RateLimit: 0.5, AccountError: 0.4, UsageLimit: 0.2}, false},
		{"negative account rate", glmserver.Faults{AccountError: -0.1}, false},
		{"negative usage reset", glmserver.Faults{UsageReset: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			_, nerr := glmserver.New(glmserver.Config{Faults: tt.f})
			if tt.ok {
				assert.NoError(t, err)
				assert.NoError(t, nerr)
				return
			}
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "glmserver: "), err.Error())
			assert.Equal(t, err, nerr)
		})
	}
}

func TestDialContext(t *testing.T) {
	t.Run("New has nothing to dial", func(t *testing.T) {
		s, err := glmserver.New(glmserver.Config{})
		require.NoError(t, err)
		_, err = s.DialContext(t.Context(), "tcp", "x:1")
		require.Error(t, err)
	})
	t.Run("Start whatever the address", func(t *testing.T) {
		s, err := glmserver.Start(glmserver.Config{})
		require.NoError(t, err)
		tr := &http.Transport{DialContext: s.DialContext}
		defer s.Close()
		defer tr.CloseIdleConnections()
		resp, err := post(t, &http.Client{Transport: tr}, "http://api.example.invalid", chatBody("hi", false))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("pipe after Close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, err := glmserver.StartPipe(glmserver.Config{})
			require.NoError(t, err)
			s.Close()
			_, err = s.DialContext(t.Context(), "tcp", "x:1")
			require.ErrorIs(t, err, net.ErrClosed)
		})
	})
}

// TestCloseDuringSlowFirstByte checks that a delay ended by Close sends no
// answer at all: the handler aborts (net/http then drops the connection)
// rather than return, which would send an empty 200.
func TestCloseDuringSlowFirstByte(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := glmserver.New(glmserver.Config{Faults: glmserver.Faults{Slow: 1, SlowDelay: time.Hour}})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, glmserver.Path, strings.NewReader(chatBody("hi", false)))
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			s.ServeHTTP(rec, req)
		}()
		synctest.Wait() // the handler is in its delay
		s.Close()
		assert.Equal(t, http.ErrAbortHandler, <-panicked)
		assert.False(t, rec.Flushed)
		assert.Zero(t, rec.Body.Len())
		assert.Empty(t, rec.Header())
		assert.Equal(t, glmserver.Stats{Requests: 1, Aborted: 1, Slow: 1}, s.Stats())
	})
}

// TestKeyedFaults: with KeyedFaults, the fault of a request depends on its
// Idempotency-Key and on how many times that key came before, not on the
// arrival order; requests without a key still follow the sequence.
func TestKeyedFaults(t *testing.T) {
	faults := glmserver.Faults{RateLimit: 0.2, Unavailable: 0.1, ServerError: 0.1, Reset: 0.1}
	const keys = 60
	// outcomes sends each key twice, in the given order of keys, and
	// returns each key's two status codes (0: reset).
	outcomes := func(seed uint64, order []int) map[int][2]int {
		s, _ := start(t, glmserver.Config{Faults: faults, Seed: seed, KeyedFaults: true})
		// net/http re-sends a request with an Idempotency-Key by itself when
		// a reused connection breaks; a fresh connection each time keeps
		// every request one draw.
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr}
		got := map[int][2]int{}
		for round := range 2 {
			for _, k := range order {
				req, err := http.NewRequest(http.MethodPost, s.URL+glmserver.Path, strings.NewReader(chatBody("hi", false)))
				require.NoError(t, err)
				req.Header.Set("Idempotency-Key", "key-"+strconv.Itoa(k))
				code := 0
				if resp, err := c.Do(req); err == nil {
					code = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				g := got[k]
				g[round] = code
				got[k] = g
			}
		}
		return got
	}
	forward := make([]int, keys)
	for i := range forward {
		forward[i] = i
	}
	backward := slices.Clone(forward)
	slices.Reverse(backward)

	a, b, other := outcomes(3, forward), outcomes(3, backward), outcomes(4, forward)
	assert.Equal(t, a, b, "the same keys meet the same faults in any order")
	assert.NotEqual(t, a, other, "another seed draws other faults")
	differ, faulted := 0, 0
	for _, o := range a {
		if o[0] != o[1] {
			differ++
		}
		if o[0] != http.StatusOK {
			faulted++
		}
	}
	assert.Positive(t, differ, "a key's second request draws afresh")
	assert.Positive(t, faulted)
	assert.Less(t, faulted, keys)
}
