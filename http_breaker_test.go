package backoff_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

func TestTransportBreaker(t *testing.T) {
	srv, c, n := statusServer(t, nil, 500)
	b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 2})
	tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait, backoff.WithBreaker(b)}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	// The second 500 opens the breaker, which would refuse the retry after
	// the wait: that 500 is returned at once, body intact, not drained.
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 500, resp.StatusCode)
	assert.Equal(t, "attempt 2", readBody(t, resp))
	assert.EqualValues(t, 2, n.Load())
	assert.EqualValues(t, 2, c.closed.Load(), "the first drained, the second closed by readBody")
	assert.Equal(t, backoff.Open, b.State())

	resp, err = tr.RoundTrip(req)
	assert.Nil(t, resp)
	require.ErrorIs(t, err, backoff.ErrCircuitOpen)
	assert.EqualValues(t, 2, n.Load(), "no request while open")
}

func TestTransportBreakerIgnoresPermanent(t *testing.T) {
	srv, c, n := statusServer(t, nil, 404)
	b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 1})
	tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait, backoff.WithBreaker(b)}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	for range 3 {
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 404, resp.StatusCode)
		readBody(t, resp)
	}
	assert.EqualValues(t, 3, n.Load())
	assert.Equal(t, backoff.Closed, b.State())
}

func TestTransportBreakerCountsPOST500(t *testing.T) {
	srv, c, n := statusServer(t, nil, 500)
	b := backoff.NewBreaker(backoff.BreakerSettings{ConsecutiveFailures: 2})
	tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait, backoff.WithBreaker(b)}}
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 500, resp.StatusCode)
		readBody(t, resp)
	}
	assert.EqualValues(t, 2, n.Load())
	assert.Equal(t, backoff.Open, b.State())
}

func TestTransportBudget(t *testing.T) {
	srv, c, n := statusServer(t, nil, 503)
	bud := backoff.NewBudget(backoff.BudgetSettings{Ratio: 0.1, Burst: 1})
	tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait, backoff.WithBudget(bud)}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err, "a refused retry returns the last response")
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "attempt 2", readBody(t, resp))
	assert.EqualValues(t, 2, n.Load())
}

func TestTransportProduction(t *testing.T) {
	srv, c, n := statusServer(t, nil, 200)
	tr := &backoff.Transport{Base: c, Options: []backoff.Option{backoff.Production()}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readBody(t, resp)
	assert.EqualValues(t, 1, n.Load())
}

func BenchmarkHTTPGetProduction(b *testing.B) {
	srv, base := benchServer(b)
	for _, tt := range []struct {
		name string
		rt   http.RoundTripper
	}{{"bare", base}, {"production", &backoff.Transport{Base: base, Options: []backoff.Option{backoff.Production()}}}} {
		b.Run(tt.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			b.ReportAllocs()
			for b.Loop() {
				send(b, tt.rt, req)
			}
		})
	}
}
