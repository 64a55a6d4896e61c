package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	failedLine    = regexp.MustCompile(`^  attempt (\d+) failed, (transient|temporary|permanent) +wait (\S+) +\((.+)\)$`)
	succeededLine = regexp.MustCompile(`^  attempt (\d+) succeeded after (\S+): "Hello! How can I help\?"$`)
)

// tourBlock is what run printed for one strategy.
type tourBlock struct {
	name    string
	classes []string
	waits   []time.Duration
	errs    []string
	total   time.Duration
}

func parseTour(t *testing.T, out string) []tourBlock {
	t.Helper()
	require.True(t, strings.HasSuffix(out, "\n\n"), "every block ends with a blank line")
	var blocks []tourBlock
	for _, text := range strings.Split(strings.TrimSuffix(out, "\n\n"), "\n\n") {
		lines := strings.Split(text, "\n")
		require.Len(t, lines, 5, "a name, three failures and a success:\n%s", text)
		b := tourBlock{name: lines[0]}
		for i, line := range lines[1:4] {
			m := failedLine.FindStringSubmatch(line)
			require.NotNil(t, m, "line %q", line)
			assert.Equal(t, strconv.Itoa(i+1), m[1], "attempt number in %q", line)
			wait, err := time.ParseDuration(m[3])
			require.NoError(t, err)
			b.classes = append(b.classes, m[2])
			b.waits = append(b.waits, wait)
			b.errs = append(b.errs, m[4])
		}
		m := succeededLine.FindStringSubmatch(lines[4])
		require.NotNil(t, m, "line %q", lines[4])
		assert.Equal(t, "4", m[1])
		total, err := time.ParseDuration(m[2])
		require.NoError(t, err)
		b.total = total
		blocks = append(blocks, b)
	}
	return blocks
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	// The tour runs on its own virtual clock; the bubble makes sure that no
	// real wait hides in it (one would only move the bubble's fake time).
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		require.NoError(t, run(&out))
		assert.Zero(t, time.Since(start), "the tour waited on the real clock")
	})
	blocks := parseTour(t, out.String())

	var names []string
	for _, s := range strategies() {
		names = append(names, s.name)
	}
	require.Len(t, blocks, len(names))

	exp := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	for i, b := range blocks {
		t.Run(b.name, func(t *testing.T) {
			assert.Equal(t, names[i], b.name, "strategies in order")
			assert.Equal(t, []string{"transient", "temporary", "transient"}, b.classes)
			assert.Equal(t, []string{
				"read response: unexpected EOF",
				"backoff: HTTP status 429 Too Many Requests",
				"dial: connection reset by peer",
			}, b.errs)
			var sum time.Duration
			for _, w := range b.waits {
				sum += w
			}
			assert.Equal(t, sum, b.total, "the virtual clock moves by the waits alone")

			switch {
			case strings.HasPrefix(b.name, "Fixed"):
				assert.Equal(t, []time.Duration{time.Second, time.Second, time.Second}, b.waits)
			case strings.HasPrefix(b.name, "Linear"):
				assert.Equal(t, []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond}, b.waits)
			case strings.HasPrefix(b.name, "Exponential"):
				assert.Equal(t, exp, b.waits)
			case strings.HasPrefix(b.name, "FullJitter"):
				for n, w := range b.waits {
					assert.True(t, w >= 0 && w < exp[n], "wait %d = %v outside [0, %v)", n+1, w, exp[n])
				}
			case strings.HasPrefix(b.name, "EqualJitter"):
				for n, w := range b.waits {
					assert.True(t, w >= exp[n]/2 && w < exp[n], "wait %d = %v outside [%v, %v)", n+1, w, exp[n]/2, exp[n])
				}
			case strings.HasPrefix(b.name, "ProportionalJitter"):
				for n, w := range b.waits {
					lo, hi := exp[n]*8/10, exp[n]*12/10
					assert.True(t, w >= lo && w < hi, "wait %d = %v outside [%v, %v)", n+1, w, lo, hi)
				}
			case strings.HasPrefix(b.name, "Decorrelated"):
				prev := time.Duration(0)
				for n, w := range b.waits {
					hi := 3 * max(prev, 200*time.Millisecond)
					assert.True(t, w >= 200*time.Millisecond && w < hi, "wait %d = %v outside [200ms, %v)", n+1, w, hi)
					prev = w
				}
			case strings.HasPrefix(b.name, "Classified"):
				// Temporary is server-paced: with no wait asked for, 1s
				// plus up to 20%.
				assert.True(t, b.waits[1] >= time.Second && b.waits[1] < 1200*time.Millisecond, "Temporary wait %v outside [1s, 1.2s)", b.waits[1])
				assert.True(t, b.waits[0] < 200*time.Millisecond, "first Transient wait %v", b.waits[0])
				assert.True(t, b.waits[2] < 800*time.Millisecond, "third Transient wait %v", b.waits[2])
			default:
				t.Fatalf("no check for strategy %q", b.name)
			}
		})
	}
}

func TestRunIsDeterministic(t *testing.T) {
	var first, second bytes.Buffer
	require.NoError(t, run(&first))
	require.NoError(t, run(&second))
	assert.Equal(t, first.String(), second.String())
}
