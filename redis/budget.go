package redis

import (
	"context"
	"math"

	"github.com/backoff-go/backoff"
)

// Budget is a [backoff.Budget] whose tokens are the fleet's: Burst and
// Ratio count for the whole fleet, not per replica. Each replica spends
// from a local share; twice a Period it hands the fleet the deposits and
// withdrawals it made since its last round, in one batch, and takes as its
// share the fleet's tokens divided among the replicas seen lately.
// Deposit and TryWithdraw are the local Budget's: no round trip, no lock,
// no allocation.
//
// While Redis is away the local budget goes on alone (refilling up to
// Burst), and what it did is handed to the fleet at the next round that
// succeeds.
//
// Pass Budget.Budget to [backoff.WithBudget]. Close stops its goroutine.
// A Budget is safe for concurrent use by multiple goroutines.
type Budget struct {
	*backoff.Budget
	loop *loop
	// The loop's own: the local share the last round set, and whether a
	// round has ended yet.
	set     float64
	started bool
}

// NewBudget returns the Budget named key of the fleet that s describes,
// with the fleet's settings b. It panics, as [backoff.NewBudget] does, on
// bad settings, and when s has no Client. It does not wait for Redis: its
// first round starts at once, in the background.
func NewBudget(key string, b backoff.BudgetSettings, s Settings) *Budget {
	s = s.filled("NewBudget")
	bb := &Budget{Budget: backoff.NewBudget(b)}
	// A replica starts with nothing until the fleet gives it its share:
	// a fleet of n full budgets would start with n times the Burst. If the
	// first round fails, it falls back to a full local budget.
	bb.AddTokens(-bb.Burst())
	keys := s.keys("budget", key)
	burst := toMillionths(bb.Burst())
	bb.loop = startLoop(s, key, func(ctx context.Context) error {
		return bb.round(ctx, s, keys, burst)
	})
	return bb
}

func toMillionths(t float64) int64 {
	return int64(math.Round(t * 1e6))
}

func (b *Budget) round(ctx context.Context, s Settings, keys []string, burst int64) error {
	seen := b.Tokens()
	delta := toMillionths(seen - b.set)
	v, err := budgetScript.Run(ctx, s.Client, keys, s.args(delta, burst)...).Result()
	var r []float64
	if err == nil {
		r, err = ints(v, 2)
	}
	if err != nil {
		// Nothing was handed over: the next round hands it all.
		if !b.started {
			b.started = true
			before := b.Tokens()
			b.set += b.AddTokens(b.Burst()) - before
		}
		return err
	}
	b.started = true
	share := r[0] / 1e6 / max(r[1], 1)
	// What Deposit and TryWithdraw did during the round trip stays, and
	// is handed over next time, as the difference from set.
	b.AddTokens(share - seen)
	b.set = share
	return nil
}

// Close stops the Budget's goroutine and waits for it to end. The Budget
// goes on working on its local tokens.
func (b *Budget) Close() { b.loop.close() }
