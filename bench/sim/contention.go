package sim

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/backoff-go/backoff"
)

// The contention simulation replicates the model of "Exponential Backoff And
// Jitter" (AWS Architecture Blog, 2015): clients that all start at once, each
// wanting one successful optimistic-concurrency write to a single versioned
// row.

// Contention strategies, by the names the CSV uses, in the order of the
// blog: base 5ms, cap 2s.
var (
	contentionExp = backoff.Exponential{Initial: 10 * time.Millisecond, Max: 2 * time.Second}

	ContentionStrategies = []NamedStrategy{
		{Name: "none", Strategy: backoff.Fixed(0)},
		{Name: "exponential", Strategy: contentionExp},
		{Name: "equal", Strategy: backoff.EqualJitter(contentionExp)},
		{Name: "full", Strategy: backoff.FullJitter(contentionExp)},
		{Name: "decorrelated", Strategy: backoff.Decorrelated{Initial: 5 * time.Millisecond, Max: 2 * time.Second}},
	}
)

// NamedStrategy is a strategy and the name it goes by in a table. It is as
// safe for concurrent use as its Strategy; the built-in strategies are.
type NamedStrategy struct {
	Name     string
	Strategy backoff.Strategy
}

// Hop is the time one message takes between a client and the server:
// |Normal(HopMean, HopSD)|.
const (
	HopMean = 10 * time.Millisecond
	HopSD   = 2 * time.Millisecond
)

// ContentionResult is what one run measured. It is a plain value: safe to read from many goroutines, not to change while others read it.
type ContentionResult struct {
	Calls    int           // writes made by all clients (reads are not counted)
	Time     time.Duration // when the last client learned that its write succeeded
	Attempts []int         // writes made by each client
}

// contentionEvent is a message arriving: at the server (a read or a write)
// or back at a client (a write's result).
type contentionEvent struct {
	kind   uint8
	client int32
	ok     bool // for a result: the write succeeded
}

const (
	evRead uint8 = iota
	evWrite
	evResult
)

// RunContention runs one contention run with n clients and the strategy s,
// seeded by seed. An attempt is a read (client→server), the version's reply,
// a write carrying that version and its result, each hop taking
// |Normal(10ms, 2ms)|. A write succeeds only if the row's version is
// unchanged when the server processes it, and then bumps the version. A
// client whose write failed asks s for a wait, with Attempt.Number its
// failures so far, Attempt.Prev its previous wait and Attempt.Random drawn
// from the run's generator, then starts a new attempt; there is no attempt
// limit. A strategy that says stop makes the client give up, which the result
// shows as a client with no success (Time counts successes only).
//
// Events are taken in (time, sequence) order from a heap, and the network
// and the jitter draw from two streams of one seed, so a run is a pure
// function of (n, s, seed).
func RunContention(n int, s backoff.Strategy, seed uint64) ContentionResult {
	if n <= 0 {
		panic("sim: RunContention: clients must be positive")
	}
	net, jitter := newRand(seed, 1), newRand(seed, 2)
	hop := func() time.Duration {
		return time.Duration(math.Abs(float64(HopMean) + float64(HopSD)*net.NormFloat64()))
	}
	type client struct {
		read     uint64        // the version the last read saw
		failures int           // failed writes so far
		prev     time.Duration // the last wait
	}
	clients := make([]client, n)
	res := ContentionResult{Attempts: make([]int, n)}
	var version uint64
	var q queue[contentionEvent]
	for i := range n {
		q.push(hop(), contentionEvent{kind: evRead, client: int32(i)})
	}
	for q.len() > 0 {
		now, ev := q.pop()
		c := &clients[ev.client]
		switch ev.kind {
		case evRead:
			c.read = version
			// The reply travels back, and the write travels out.
			q.push(now+hop()+hop(), contentionEvent{kind: evWrite, client: ev.client})
		case evWrite:
			res.Calls++
			res.Attempts[ev.client]++
			ok := c.read == version
			if ok {
				version++
			}
			q.push(now+hop(), contentionEvent{kind: evResult, client: ev.client, ok: ok})
		case evResult:
			if ev.ok {
				res.Time = max(res.Time, now)
				continue
			}
			c.failures++
			wait, more := s.Delay(backoff.Attempt{Number: c.failures, Prev: c.prev, Random: jitter.Float64()})
			if !more {
				continue
			}
			c.prev = wait
			q.push(now+wait+hop(), contentionEvent{kind: evRead, client: ev.client})
		}
	}
	return res
}

// ContentionRow is one cell of a sweep: one client count and one strategy
// over several runs. It is a plain value: safe to read from many goroutines, not to change while others read it.
type ContentionRow struct {
	Clients     int
	Strategy    string
	Runs        int
	CallsMean   float64 // writes per run
	TimeMSMean  float64 // completion time per run, in milliseconds
	AttemptsP50 int     // writes per client, over every client of every run
	AttemptsP99 int
}

// ContentionSweep runs every strategy for every client count, runs times
// each, on up to workers goroutines (≤ 0: GOMAXPROCS). Run r with c clients
// is seeded from (seed, c, r) and every strategy sees the same seeds, so the
// rows depend only on the arguments, never on scheduling. The rows come
// ordered by clients, then by the order of strategies. It returns early with
// ctx's error if ctx ends.
func ContentionSweep(ctx context.Context, clients []int, strategies []NamedStrategy, runs int, seed uint64, workers int) ([]ContentionRow, error) {
	if runs <= 0 {
		return nil, fmt.Errorf("sim: runs must be positive, not %d", runs)
	}
	for _, c := range clients {
		if c <= 0 {
			return nil, fmt.Errorf("sim: client counts must be positive, not %d", c)
		}
	}
	rows := make([]ContentionRow, len(clients)*len(strategies))
	err := parallel(ctx, len(rows), workers, func(i int) {
		c, s := clients[i/len(strategies)], strategies[i%len(strategies)]
		rows[i] = contentionCell(c, s, runs, seed)
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// parallel calls job(i) for every i in [0, n) on up to workers goroutines
// (≤ 0: GOMAXPROCS), and returns once every started job has ended. If ctx
// ends first, no further job starts and it returns ctx's error.
func parallel(ctx context.Context, n, workers int, job func(i int)) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				job(i)
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return err
}

func contentionCell(clients int, s NamedStrategy, runs int, seed uint64) ContentionRow {
	row := ContentionRow{Clients: clients, Strategy: s.Name, Runs: runs}
	attempts := make([]int, 0, clients*runs)
	var calls, ms float64
	for r := range runs {
		res := RunContention(clients, s.Strategy, runSeed(seed, uint64(clients), uint64(r)))
		calls += float64(res.Calls)
		ms += float64(res.Time) / float64(time.Millisecond)
		attempts = append(attempts, res.Attempts...)
	}
	row.CallsMean = calls / float64(runs)
	row.TimeMSMean = ms / float64(runs)
	slices.Sort(attempts)
	row.AttemptsP50 = percentile(attempts, 0.50)
	row.AttemptsP99 = percentile(attempts, 0.99)
	return row
}

// percentile returns the nearest-rank p-quantile of sorted, which must not
// be empty.
func percentile[T cmp.Ordered](sorted []T, p float64) T {
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// ContentionHeader is the CSV header of WriteContentionCSV.
var ContentionHeader = []string{"clients", "strategy", "runs", "calls_mean", "time_ms_mean", "attempts_p50", "attempts_p99"}

// WriteContentionCSV writes rows as CSV, with ContentionHeader first.
func WriteContentionCSV(w io.Writer, rows []ContentionRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ContentionHeader); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{
			strconv.Itoa(r.Clients),
			r.Strategy,
			strconv.Itoa(r.Runs),
			strconv.FormatFloat(r.CallsMean, 'f', 1, 64),
			strconv.FormatFloat(r.TimeMSMean, 'f', 1, 64),
			strconv.Itoa(r.AttemptsP50),
			strconv.Itoa(r.AttemptsP99),
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
