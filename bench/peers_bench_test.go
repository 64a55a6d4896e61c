package bench_test

import (
	"context"
	"errors"
	"testing"
	"time"

	avast "github.com/avast/retry-go/v4"
	cenkalti "github.com/cenkalti/backoff/v5"
	"github.com/eapache/go-resiliency/retrier"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	sethvargo "github.com/sethvargo/go-retry"

	"github.com/backoff-go/backoff"
)

// The peer benchmarks give every library the same work: an op that succeeds
// at once, and one that fails twice and then succeeds, with waits of 0 and of
// 1ns (so that timers run), at most 3 attempts. Each library's configuration
// is built once, outside the loop, wherever its API allows reuse; the op and
// its error are built once too, so that the op itself allocates nothing and
// only the library's own cost is measured. bench/compare.sh runs them and
// prints the table.

var (
	errPeerFlaky     = errors.New("flaky")
	errPeerRetryable = sethvargo.RetryableError(errPeerFlaky) // go-retry retries only errors marked so
	peerSinkInt      int
	peerSinkErr      error
)

// peerOp fails its first fails attempts of each call with err, then succeeds.
// reset starts a new call.
type peerOp struct {
	fails int
	n     int
	err   error
}

func (f *peerOp) reset() { f.n = 0 }

func (f *peerOp) call() (int, error) {
	f.n++
	if f.n <= f.fails {
		return 0, f.err
	}
	return f.n, nil
}

func (f *peerOp) callCtx(context.Context) (int, error) { return f.call() }

func (f *peerOp) run(context.Context) error {
	_, err := f.call()
	return err
}

// check fails the benchmark unless the last call succeeded after the
// expected number of attempts: a benchmark of a retry that silently did
// something else would measure nothing.
func (f *peerOp) check(b *testing.B) {
	b.Helper()
	if peerSinkErr != nil || f.n != f.fails+1 {
		b.Fatalf("last call: %d attempts, err %v; want %d attempts and no error", f.n, peerSinkErr, f.fails+1)
	}
}

type peerCase struct {
	name  string
	fails int
	wait  time.Duration
}

var peerCases = []peerCase{
	{name: "success", fails: 0, wait: 0},
	{name: "fail2-wait0", fails: 2, wait: 0},
	{name: "fail2-wait1ns", fails: 2, wait: time.Nanosecond},
}

func BenchmarkPeers(b *testing.B) {
	for _, pc := range peerCases {
		b.Run(pc.name, func(b *testing.B) {
			b.Run("backoff", func(b *testing.B) { peerBackoff(b, pc) })
			b.Run("cenkalti", func(b *testing.B) { peerCenkalti(b, pc) })
			b.Run("retry-go", func(b *testing.B) { peerAvast(b, pc) })
			b.Run("go-retry", func(b *testing.B) { peerSethvargo(b, pc) })
			b.Run("failsafe-go", func(b *testing.B) { peerFailsafe(b, pc) })
			b.Run("go-resiliency", func(b *testing.B) { peerResiliency(b, pc) })
		})
	}
}

func peerBackoff(b *testing.B, pc peerCase) {
	ctx := context.Background()
	f := &peerOp{fails: pc.fails, err: errPeerFlaky}
	op := f.callCtx
	opts := []backoff.Option{backoff.WithStrategy(backoff.Fixed(pc.wait)), backoff.WithMaxAttempts(3)}
	b.ReportAllocs()
	for b.Loop() {
		f.reset()
		peerSinkInt, peerSinkErr = backoff.Retry(ctx, op, opts...)
	}
	f.check(b)
}

func peerCenkalti(b *testing.B, pc peerCase) {
	ctx := context.Background()
	f := &peerOp{fails: pc.fails, err: errPeerFlaky}
	op := f.call
	opts := []cenkalti.RetryOption{
		cenkalti.WithBackOff(cenkalti.NewConstantBackOff(pc.wait)),
		cenkalti.WithMaxTries(3),
	}
	b.ReportAllocs()
	for b.Loop() {
		f.reset()
		peerSinkInt, peerSinkErr = cenkalti.Retry(ctx, op, opts...)
	}
	f.check(b)
}

func peerAvast(b *testing.B, pc peerCase) {
	ctx := context.Background()
	f := &peerOp{fails: pc.fails, err: errPeerFlaky}
	op := f.call
	opts := []avast.Option{
		avast.Context(ctx),
		avast.Attempts(3),
		avast.Delay(pc.wait),
		avast.DelayType(avast.FixedDelay),
		avast.LastErrorOnly(true),
	}
	b.ReportAllocs()
	for b.Loop() {
		f.reset()
		peerSinkInt, peerSinkErr = avast.DoWithData(op, opts...)
	}
	f.check(b)
}

func peerSethvargo(b *testing.B, pc peerCase) {
	ctx := context.Background()
	f := &peerOp{fails: pc.fails, err: errPeerRetryable}
	op := f.callCtx
	wait := pc.wait
	// retry.NewConstant panics on 0; a BackoffFunc is the documented way
	// to write any other backoff.
	constant := sethvargo.BackoffFunc(func() (time.Duration, bool) { return wait, false })
	b.ReportAllocs()
	for b.Loop() {
		f.reset()
		// WithMaxRetries counts the retries inside the Backoff and has no
		// reset, so it must be built for each call.
		peerSinkInt, peerSinkErr = sethvargo.DoValue(ctx, sethvargo.WithMaxRetries(2, constant), op)
	}
	f.check(b)
}

func peerFailsafe(b *testing.B, pc peerCase) {
	ctx := context.Background()
	f := &peerOp{fails: pc.fails, err: errPeerFlaky}
	op := f.call
	policy := retrypolicy.NewBuilder[int]().WithMaxAttempts(3).WithDelay(pc.wait).Build()
	exec := failsafe.With(policy).WithContext(ctx)
	b.ReportAllocs()
	for b.Loop() {
		f.reset()
		peerSinkInt, peerSinkErr = exec.Get(op)
	}
	f.check(b)
}

func peerResiliency(b *testing.B, pc peerCase) {
	ctx := context.Background()
	f := &peerOp{fails: pc.fails, err: errPeerFlaky}
	op := f.run
	r := retrier.New(retrier.ConstantBackoff(2, pc.wait), nil)
	b.ReportAllocs()
	for b.Loop() {
		f.reset()
		peerSinkErr = r.RunCtx(ctx, op)
	}
	f.check(b)
}
