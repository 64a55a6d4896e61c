package backoff_test

import (
	"math"
	"testing"

	"github.com/backoff-go/backoff"
)

// FuzzBudget runs random sequences of Deposit, TryWithdraw and Tokens on a
// Budget and checks each step against a count of millionths of a token,
// kept here as DESIGN states the rule: a deposit adds Ratio up to Burst, a
// retry takes one token and is refused when less than one is left.
func FuzzBudget(f *testing.F) {
	f.Add(uint8(0), uint8(0), []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 2})
	f.Add(uint8(3), uint8(1), []byte{1, 0, 0, 0, 1, 0, 2, 1})
	f.Add(uint8(5), uint8(2), []byte{1, 1, 1, 0, 0, 0, 0, 0, 2, 1, 1, 2})
	f.Add(uint8(7), uint8(4), []byte{1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, ratioIdx, burstIdx uint8, ops []byte) {
		ratios := []float64{0, 0.1, 0.2, 0.25, 1.0 / 3, 0.5, 1, 2.5, 1e-7, 0.0000015}
		bursts := []int{0, 1, 2, 3, 10, 50}
		s := backoff.BudgetSettings{Ratio: ratios[int(ratioIdx)%len(ratios)], Burst: bursts[int(burstIdx)%len(bursts)]}
		b := backoff.NewBudget(s)

		// The model, in millionths.
		ratio, burst := s.Ratio, int64(s.Burst)
		if ratio == 0 {
			ratio = 0.1
		}
		if burst == 0 {
			burst = 10
		}
		burst *= 1_000_000
		deposit := min(int64(math.Round(ratio*1_000_000)), burst)
		tokens := burst

		for i, op := range ops {
			switch op % 3 {
			case 0:
				b.Deposit()
				tokens = min(tokens+deposit, burst)
			case 1:
				want := tokens >= 1_000_000
				if want {
					tokens -= 1_000_000
				}
				if got := b.TryWithdraw(); got != want {
					t.Fatalf("op %d: TryWithdraw %v, want %v", i, got, want)
				}
			case 2:
			}
			if got, want := b.Tokens(), float64(tokens)/1_000_000; got != want {
				t.Fatalf("op %d: Tokens %v, want %v", i, got, want)
			}
		}
	})
}
