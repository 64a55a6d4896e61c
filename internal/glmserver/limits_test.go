package glmserver_test

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backoff-go/backoff/internal/glmserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limited reads a 429 of the caps, and returns its z.ai code and headers.
func limited(t *testing.T, resp *http.Response) (code string, h http.Header) {
	t.Helper()
	defer resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.NotEmpty(t, body.Error.Message)
	return body.Error.Code, resp.Header
}

func okay(t *testing.T, resp *http.Response, err error) {
	t.Helper()
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestLimitsRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := startPipe(t, glmserver.Config{})
		require.NoError(t, s.SetLimits(glmserver.Limits{Rate: 2}))
		assert.Equal(t, glmserver.Limits{Rate: 2, Burst: 2, RetryAfter: time.Second}, s.Limits())
		for range 2 { // a full bucket of two
			resp, err := post(t, c, s.URL, chatBody("hi", false))
			okay(t, resp, err)
		}
		resp, err := post(t, c, s.URL, chatBody("hi", false))
		require.NoError(t, err)
		code, h := limited(t, resp)
		assert.Equal(t, "1303", code)
		assert.Equal(t, "500", h.Get("retry-after-ms"), "a token comes in 1/2 s")
		assert.Equal(t, "1", h.Get("Retry-After"))

		time.Sleep(500 * time.Millisecond)
		resp, err = post(t, c, s.URL, chatBody("hi", false))
		okay(t, resp, err)

		// The cap changes during the run: one request per 4 s.
		require.NoError(t, s.SetLimits(glmserver.Limits{Rate: 0.25}))
		resp, err = post(t, c, s.URL, chatBody("hi", false))
		require.NoError(t, err)
		code, h = limited(t, resp)
		assert.Equal(t, "1303", code)
		assert.Equal(t, "4000", h.Get("retry-after-ms"))
		assert.Equal(t, "4", h.Get("Retry-After"))

		assert.Equal(t, glmserver.LimitStats{Rate: 2, Peak: 1}, s.LimitStats())
		s.Close()
		assert.Equal(t, glmserver.Stats{Requests: 5, OK: 3, RateLimited: 2}, s.Stats())
	})
}

func TestLimitsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := startPipe(t, glmserver.Config{ChunkDelay: time.Second})
		require.NoError(t, s.SetLimits(glmserver.Limits{Concurrency: 1, RetryAfter: 1500 * time.Millisecond}))
		// An open stream holds its slot until its last event.
		stream, err := post(t, c, s.URL, chatBody("hello there", true))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, stream.StatusCode)

		resp, err := post(t, c, s.URL, chatBody("hi", false))
		require.NoError(t, err)
		code, h := limited(t, resp)
		assert.Equal(t, "1302", code)
		assert.Equal(t, "1500", h.Get("retry-after-ms"))
		assert.Equal(t, "2", h.Get("Retry-After"), "rounded up")

		_, err = io.ReadAll(stream.Body)
		require.NoError(t, err)
		stream.Body.Close()
		synctest.Wait() // the handler has returned
		resp, err = post(t, c, s.URL, chatBody("hi", false))
		okay(t, resp, err)

		// Raised during the run: two at once.
		require.NoError(t, s.SetLimits(glmserver.Limits{Concurrency: 2}))
		stream, err = post(t, c, s.URL, chatBody("hello there", true))
		require.NoError(t, err)
		resp, err = post(t, c, s.URL, chatBody("hi", false))
		okay(t, resp, err)
		_, err = io.ReadAll(stream.Body)
		require.NoError(t, err)
		stream.Body.Close()

		s.Close()
		assert.Equal(t, glmserver.LimitStats{Concurrency: 1, Peak: 2}, s.LimitStats())
	})
}

func TestLimitsValidate(t *testing.T) {
	s, err := glmserver.New(glmserver.Config{})
	require.NoError(t, err)
	defer s.Close()
	for _, l := range []glmserver.Limits{
		{Concurrency: -1}, {Rate: -1}, {Rate: math.NaN()}, {Rate: math.Inf(1)}, {Burst: -1}, {RetryAfter: -time.Second},
	} {
		assert.Error(t, s.SetLimits(l), "%+v", l)
	}
	assert.Equal(t, glmserver.Limits{}, s.Limits(), "an invalid Limits changes nothing")
}
