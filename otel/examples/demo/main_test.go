package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, 30, 4, 1, false))
	// One span per attempt sent: as many as the server saw requests.
	m := regexp.MustCompile(`attempt spans: (\d+); server: \{Requests:(\d+) `).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	assert.Equal(t, m[2], m[1])
	for _, name := range []string{"backoff.client.attempt.started", "backoff.client.attempt.duration", "backoff.client.calls", "backoff.limiter.concurrency"} {
		assert.Contains(t, out.String(), `"Name": "`+name+`"`)
	}
	assert.Error(t, run(&out, 0, 1, 1, false))
}
