package redis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// addr is the Redis the tests share: BACKOFF_REDIS_ADDR, or one that
// TestMain started; "" when there is none (noRedis says why).
var addr, noRedis string

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the tests kill servers on purpose.
	goredis.SetLogger(quiet{})
	addr = os.Getenv("BACKOFF_REDIS_ADDR")
	var srv *server
	if addr == "" {
		var err error
		if srv, err = startServer(0); err != nil {
			if os.Getenv("CI") == "true" {
				fmt.Fprintln(os.Stderr, "backoff/redis: CI=true and no Redis:", err)
				os.Exit(1)
			}
			noRedis = "no Redis: set BACKOFF_REDIS_ADDR or install redis-server (" + err.Error() + ")"
		} else {
			addr = srv.addr
		}
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if srv != nil {
			srv.stop()
		}
		os.Exit(code)
	}))
}

// server is a redis-server process of a test's own.
type server struct {
	addr string
	cmd  *exec.Cmd
}

// freePort returns a port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts redis-server on 127.0.0.1:port (0: a free port) and
// waits until it answers.
func startServer(port int) (*server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--enable-debug-command", "yes")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	c := goredis.NewClient(&goredis.Options{Addr: s.addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("redis-server on %s did not answer", s.addr)
}

// stop kills the server and waits for it.
func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// needRedis skips t, with the reason, when there is no Redis; TestMain has
// already failed the run under CI.
func needRedis(t *testing.T) string {
	t.Helper()
	if addr == "" {
		t.Skip(noRedis)
	}
	return addr
}

// client returns a client of the Redis at a, closed at the end of t.
func client(t testing.TB, a string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{
		Addr:                  a,
		ContextTimeoutEnabled: true,
		DialTimeout:           100 * time.Millisecond,
		MaxRetries:            -1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 10s", what)
		}
	}
}

// prefix returns a key prefix of t's own, so tests do not see each other.
func prefix(t *testing.T) string {
	return fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())
}

// startServerOn restarts a server on a port given as text.
func startServerOn(port string) (*server, error) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	return startServer(p)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
