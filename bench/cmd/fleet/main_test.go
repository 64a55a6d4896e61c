package main

import (
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the test binary as a replica when the fleet starts it so
// (spawn re-executes os.Executable, which under go test is this binary).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		if err := run(os.Args[1:]); err != nil {
			os.Stderr.WriteString("fleet child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestFleetSmoke runs a small fleet end to end: two processes, both
// limiters, and the breaker's spread.
func TestFleetSmoke(t *testing.T) {
	if os.Getenv("BACKOFF_REDIS_ADDR") == "" {
		if _, err := exec.LookPath("redis-server"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("CI=true and no Redis:", err)
			}
			t.Skip("no Redis: set BACKOFF_REDIS_ADDR or install redis-server")
		}
	}
	err := run([]string{"-replicas", "2", "-workers", "2", "-cap", "50", "-seeds", "1",
		"-duration", "1500ms", "-warmup", "500ms", "-period", "50ms"})
	if err != nil {
		t.Fatal(err)
	}
}
