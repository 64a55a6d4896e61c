package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestContentionCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{"contention", "-clients", "5, 10", "-runs", "3", "-seed", "4", "-out", dir}, &out, &errs)
	require.NoError(t, err, errs.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Equal(t, "clients,strategy,runs,calls_mean,time_ms_mean,attempts_p50,attempts_p99", lines[0])
	require.Len(t, lines, 1+2*5)
	require.True(t, strings.HasPrefix(lines[1], "5,none,3,"), lines[1])
	require.True(t, strings.HasPrefix(lines[10], "10,decorrelated,3,"), lines[10])
	for _, f := range []string{"contention_calls.png", "contention_time.png"} {
		_, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
	}

	// The same seed gives the same table.
	var again bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"contention", "-clients", "5,10", "-runs", "3", "-seed", "4"}, &again, &errs))
	require.Equal(t, out.String(), again.String())
}

func TestOutageCommand(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{"outage", "-seeds", "1", "-seed", "2"}, &out, &errs)
	require.NoError(t, err, errs.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Equal(t, "policy,amplification,peak_ratio,success_rate,p50_ms,p99_ms,recovery_s,stall_attempts_per_caller,stall_probes_per_caller", lines[0])
	require.Len(t, lines, 12)
	require.True(t, strings.HasPrefix(lines[1], "none,1.00,"), lines[1])
	require.Contains(t, lines[3], ",never,", "plain full-jitter retries never recover: %s", lines[3])
}

func TestLongOutageCommand(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{"longoutage", "-seeds", "1", "-clients", "5"}, &out, &errs)
	require.NoError(t, err, errs.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 12)
	require.True(t, strings.HasPrefix(lines[11], "production,"), lines[11])
	// Five probes per caller in the 60s the server is down.
	require.True(t, strings.HasSuffix(lines[11], ",5"), lines[11])
}

func TestBadUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		help bool
	}{
		{name: "no command", args: nil, help: true},
		{name: "unknown command", args: []string{"weather"}, help: true},
		{name: "unknown flag", args: []string{"contention", "-nope"}},
		{name: "bad clients", args: []string{"contention", "-clients", "10,x"}},
		{name: "zero clients", args: []string{"contention", "-clients", "0"}},
		{name: "zero runs", args: []string{"contention", "-clients", "10", "-runs", "0"}},
		{name: "zero seeds", args: []string{"outage", "-seeds", "0"}},
		{name: "run ends before the stall", args: []string{"outage", "-duration", "2s"}},
		{name: "no clients", args: []string{"longoutage", "-clients", "0"}},
		{name: "ratelimit: zero clients", args: []string{"ratelimit", "-clients", "0"}},
		{name: "ratelimit: zero seeds", args: []string{"ratelimit", "-seeds", "0"}},
		{name: "ratelimit: phase not whole bins", args: []string{"ratelimit", "-phase", "1ms"}},
		{name: "ratelimit: zero capacity", args: []string{"ratelimit", "-capacity", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errs)
			require.Error(t, err)
			require.Equal(t, tt.help, errors.Is(err, flag.ErrHelp), "%v", err)
			require.Empty(t, out.String())
		})
	}
}
