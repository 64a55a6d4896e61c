package backoff

import (
	"math"
	"strconv"
	"sync/atomic"
)

// BudgetSettings configures [NewBudget]. A zero field means its default; a
// negative or NaN field makes NewBudget panic. NewBudget copies the
// settings; the value itself is not safe for concurrent writes.
type BudgetSettings struct {
	// Ratio is the retries allowed per first attempt; default 0.1. It is
	// kept to the nearest millionth of a token (see Budget).
	Ratio float64

	// Burst is the tokens the budget holds at most, and starts with;
	// default 10. A Burst too large to count in millionths in an int64
	// (above about 9.2e12) holds math.MaxInt64 millionths.
	Burst int
}

// Budget is a retry budget: it keeps retries under a share of the first
// attempts, whatever the number of callers, so that retries cannot multiply
// the load on a service that is already failing (the rule of gRPC's retry
// throttling, the AWS retry quota and Finagle's retry budget).
//
// It holds tokens: it starts with Burst of them, each first attempt adds
// Ratio (up to Burst) through Deposit, and each retry takes one through
// TryWithdraw; a retry that finds less than one token is refused. [Retry]
// does both itself when given [WithBudget]; share one Budget among all the
// calls to one service.
//
// Tokens are counted in millionths, exactly, so that ten deposits of 0.1
// make one token (in floating point they would fall short of it).
//
// Use [NewBudget] to make one. A Budget is safe for concurrent use by
// multiple goroutines; it takes no lock and allocates nothing.
type Budget struct {
	tokens atomic.Int64 // in millionths of a token
	ratio  int64        // a deposit, in millionths
	burst  int64        // the most tokens, in millionths
}

// tokenUnit is one token in a Budget's count.
const tokenUnit = 1_000_000

// NewBudget returns a full budget with settings s. A negative or NaN Ratio,
// or a negative Burst, panics.
func NewBudget(s BudgetSettings) *Budget {
	if !(s.Ratio >= 0) {
		panic("backoff: NewBudget: Ratio " + strconv.FormatFloat(s.Ratio, 'g', -1, 64) + " is negative or NaN")
	}
	if s.Burst < 0 {
		panic("backoff: NewBudget: negative Burst " + strconv.Itoa(s.Burst))
	}
	ratio, burst := s.Ratio, int64(s.Burst)
	if ratio == 0 {
		ratio = 0.1
	}
	if burst == 0 {
		burst = 10
	}
	b := &Budget{burst: math.MaxInt64}
	if burst <= math.MaxInt64/tokenUnit {
		b.burst = burst * tokenUnit
	}
	// A deposit beyond Burst could never be held anyway; capping it keeps
	// the conversion in range.
	b.ratio = b.burst
	if r := math.Round(ratio * tokenUnit); r < float64(b.burst) {
		b.ratio = int64(r)
	}
	b.tokens.Store(b.burst)
	return b
}

// Deposit adds Ratio tokens, up to Burst: a first attempt was made.
func (b *Budget) Deposit() {
	for {
		t := b.tokens.Load()
		n := b.burst
		if t < b.burst-b.ratio {
			n = t + b.ratio
		}
		if n == t || b.tokens.CompareAndSwap(t, n) {
			return
		}
	}
}

// TryWithdraw takes one token for a retry, and reports false, taking
// nothing, when less than one token is left: the retry should not be made.
func (b *Budget) TryWithdraw() bool {
	for {
		t := b.tokens.Load()
		if t < tokenUnit {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-tokenUnit) {
			return true
		}
	}
}

// Tokens returns the tokens the budget holds now.
func (b *Budget) Tokens() float64 {
	return float64(b.tokens.Load()) / tokenUnit
}

// refund gives back the token that TryWithdraw took for a retry that is not
// made after all (a [Trace]'s Wait panicked before the wait), up to Burst.
func (b *Budget) refund() {
	for {
		t := b.tokens.Load()
		n := b.burst
		if t < b.burst-tokenUnit {
			n = t + tokenUnit
		}
		if n == t || b.tokens.CompareAndSwap(t, n) {
			return
		}
	}
}
