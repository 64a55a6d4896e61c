package backoff_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

// Stacked retries: a client that resends on its own (the OpenAI SDKs number
// their resends in X-Stainless-Retry-Count) has each resend's first attempt
// counted against the Budget as a retry.

func TestTransportClientResendIsARetry(t *testing.T) {
	trips := 0
	base := roundTripFunc(func(*http.Request) (*http.Response, error) {
		trips++
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	budget := backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.5, Burst: 3})
	tr := &backoff.Transport{Base: base, Options: []backoff.Option{backoff.WithBudget(budget)}}
	send := func(count string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, "http://glm.test/", strings.NewReader("{}"))
		if count != "" {
			req.Header.Set("X-Stainless-Retry-Count", count)
		}
		return tr.RoundTrip(req)
	}

	require.Equal(t, 3.0, budget.Tokens())
	for _, tc := range []struct {
		count  string
		tokens float64
	}{
		{count: "1", tokens: 2},      // a resend takes a token
		{count: "2", tokens: 1},      // and so does the next
		{count: "0", tokens: 1.5},    // the SDK's first send deposits
		{count: "", tokens: 2},       // as does a request without the header
		{count: "junk", tokens: 2.5}, // or with one that is no count
		{count: "-1", tokens: 3},
		{count: " 3 ", tokens: 2},
	} {
		resp, err := send(tc.count)
		require.NoError(t, err, "count %q", tc.count)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, tc.tokens, budget.Tokens(), "count %q", tc.count)
	}
	assert.Equal(t, 7, trips)

	// Refused: no attempt, and the request's body is closed.
	send("1")
	require.Equal(t, 1.0, budget.Tokens())
	send("1")
	require.Equal(t, 0.0, budget.Tokens())
	body := &closeCounter{ReadCloser: http.NoBody}
	req, _ := http.NewRequest(http.MethodPost, "http://glm.test/", body)
	req.Header.Set("X-Stainless-Retry-Count", "2")
	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	e := requireRetryError(t, err, 0, nil, backoff.ErrBudget)
	assert.Nil(t, e.Err)
	assert.Equal(t, 9, trips)
	assert.EqualValues(t, 1, body.closed.Load())
	assert.Equal(t, 0.0, budget.Tokens())

	// Without a budget the header changes nothing.
	resp, err = (&backoff.Transport{Base: base}).RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
}
