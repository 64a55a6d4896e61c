package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backoff-go/backoff"
)

// Settings says where and how often a shared object meets the fleet. The
// value is copied by the constructors; it is not safe for concurrent writes.
type Settings struct {
	// Client is the Redis the fleet shares; required. The objects only
	// run scripts on it. For a slow Redis to be abandoned within a round's
	// bound (half a Period), make it with ContextTimeoutEnabled: without,
	// go-redis waits for its own ReadTimeout; the objects still fall back
	// in time (see Period), but Trace.Shared says so only then.
	Client goredis.Scripter

	// Prefix starts every key the objects write; default "backoff:". Two
	// fleets with different prefixes on one Redis do not see each other.
	Prefix string

	// Period bounds how stale a replica's view of the fleet may be;
	// default 200ms. Each object meets the fleet twice a Period, and a
	// round that takes longer than half a Period is abandoned, so a
	// replica falls back to its local state within one Period of Redis
	// going away.
	Period time.Duration

	// ID names this replica in the fleet; default a random one. Two
	// replicas must not share one.
	ID string

	// Trace is told through its Shared field when an object stops sharing
	// (with why) and when it shares again; nil, or a nil Shared, is fine.
	// Give the same Trace as WithTrace does, and SlogTrace and otel.Trace
	// record these beside the calls. Shared runs on the object's own
	// goroutine, once per change; a slow one delays the object's next round.
	Trace *backoff.Trace
}

// ErrGarbage is the error Trace.Shared gets when the keys held something
// that the objects did not write there. The keys are deleted, so the next
// round starts the fleet's state afresh.
var ErrGarbage = errors.New("backoff: redis: garbage under the keys; they were reset")

const (
	defaultPrefix = "backoff:"
	defaultPeriod = 200 * time.Millisecond
)

// filled checks s and fills in its defaults; it panics on a programmer's
// error, as the backoff constructors do.
func (s Settings) filled(who string) Settings {
	if s.Client == nil {
		panic("backoff: redis: " + who + ": Settings.Client is nil")
	}
	if s.Period < 0 {
		panic("backoff: redis: " + who + ": negative Period " + s.Period.String())
	}
	if s.Period == 0 {
		s.Period = defaultPeriod
	}
	if s.Prefix == "" {
		s.Prefix = defaultPrefix
	}
	if s.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand's contract)
		s.ID = hex.EncodeToString(b[:])
	}
	return s
}

// keys returns the hash and the members set of one object. The braces are
// a Redis Cluster hash tag: both keys live in one slot, as a script needs.
func (s Settings) keys(kind, key string) []string {
	base := s.Prefix + kind + ":{" + key + "}"
	return []string{base, base + ":members"}
}

// args starts every script's arguments: the replica and the period, in ms.
func (s Settings) args(extra ...any) []any {
	return append([]any{s.ID, s.Period.Milliseconds()}, extra...)
}

// loop runs an object's rounds, twice a Period, on its own goroutine, until
// stop.
type loop struct {
	s      Settings
	key    string
	round  func(ctx context.Context) error // one meeting with the fleet
	cancel context.CancelFunc
	done   chan struct{}
	shared atomic.Bool // the last round succeeded
}

func startLoop(s Settings, key string, round func(context.Context) error) *loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{s: s, key: key, round: round, cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

func (l *loop) run(ctx context.Context) {
	defer close(l.done)
	every := max(l.s.Period/2, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, every)
		err := l.round(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			failing = true
			l.shared.Store(false)
			l.tell(err)
		case err == nil && failing:
			failing = false
			l.shared.Store(true)
			l.tell(nil)
		case err == nil:
			l.shared.Store(true)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tell gives a change between shared (err nil) and alone to the Trace.
func (l *loop) tell(err error) {
	if t := l.s.Trace; t != nil && t.Shared != nil {
		t.Shared(l.key, err)
	}
}

// close stops the loop and waits until its goroutine has ended.
func (l *loop) close() {
	l.cancel()
	<-l.done
}

// ints reads a script's reply, an array of numbers (or numbers as strings).
func ints(v any, n int) ([]float64, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return nil, errors.New("backoff: redis: unexpected reply from the script")
	}
	out := make([]float64, len(a))
	for i, x := range a {
		switch x := x.(type) {
		case int64:
			out[i] = float64(x)
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil, errors.New("backoff: redis: unexpected reply from the script: " + strconv.Quote(x))
			}
			out[i] = f
		default:
			return nil, errors.New("backoff: redis: unexpected reply from the script")
		}
	}
	if out[0] == -1 {
		return nil, ErrGarbage
	}
	if len(out) != n {
		return nil, errors.New("backoff: redis: unexpected reply from the script")
	}
	return out, nil
}
