package backoff

import "math"

// AddTokens adds d tokens (d may be negative) to the budget, within
// [0, Burst], in one atomic step, and returns the tokens it then holds.
// It is the hook for a budget whose tokens are shared beyond one process
// (module github.com/backoff-go/backoff/redis): a replica reads Tokens,
// hands the change since its last round to the fleet, and adds the
// difference between its new share and what it read, so that what Deposit
// and TryWithdraw did meanwhile is kept. Deposit and TryWithdraw are not
// touched. A NaN d adds nothing.
func (b *Budget) AddTokens(d float64) float64 {
	n := int64(0)
	switch {
	case d >= float64(b.burst)/tokenUnit:
		n = b.burst
	case d <= -float64(b.burst)/tokenUnit:
		n = -b.burst
	case d > 0 || d < 0:
		n = int64(math.Round(d * tokenUnit))
	}
	for {
		t := b.tokens.Load()
		v := min(max(t+n, 0), b.burst) // |n| ≤ burst and 0 ≤ t ≤ burst: no overflow
		if b.tokens.CompareAndSwap(t, v) {
			return float64(v) / tokenUnit
		}
	}
}

// Burst returns the most tokens the budget holds.
func (b *Budget) Burst() float64 { return float64(b.burst) / tokenUnit }

// Ratio returns the tokens each Deposit adds.
func (b *Budget) Ratio() float64 { return float64(b.ratio) / tokenUnit }
