package backoff_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
)

const maxDuration = time.Duration(math.MaxInt64)

// justBelowOne is the largest float64 below 1: the top of Attempt.Random.
var justBelowOne = math.Nextafter(1, 0)

// oddRandoms are Random values that Retry never draws but a hand-made Attempt
// may hold.
var oddRandoms = []float64{math.NaN(), math.Inf(-1), -1, -math.SmallestNonzeroFloat64, 1, 1.5, math.Inf(1), math.MaxFloat64}

// oddNumbers are Attempt.Number values at and beyond the edges.
var oddNumbers = []int{math.MinInt, -1, 0, 1, 2, 62, 63, 64, 65, 1 << 20, math.MaxInt - 1, math.MaxInt}

// oddDurations are field and Prev values at and beyond the edges.
var oddDurations = []time.Duration{math.MinInt64, -time.Second, -1, 0, 1, 3, time.Millisecond, time.Second, time.Hour, maxDuration / 3, maxDuration/2 + 1, maxDuration - 1, maxDuration}

type strategyCase struct {
	name     string
	s        backoff.Strategy
	a        backoff.Attempt
	want     time.Duration
	wantStop bool
}

func runStrategyCases(t *testing.T, cases []strategyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.s.Delay(tc.a)
			if tc.wantStop {
				assert.False(t, ok, "Delay should stop")
				assert.Zero(t, got)
				return
			}
			assert.True(t, ok, "Delay should not stop")
			assert.Equal(t, tc.want, got)
		})
	}
}

func n(number int) backoff.Attempt { return backoff.Attempt{Number: number} }

func TestFixed(t *testing.T) {
	runStrategyCases(t, []strategyCase{
		{name: "zero", s: backoff.Fixed(0), a: n(1), want: 0},
		{name: "one second", s: backoff.Fixed(time.Second), a: n(1), want: time.Second},
		{name: "same for a late attempt", s: backoff.Fixed(time.Second), a: n(math.MaxInt), want: time.Second},
		{name: "Number zero", s: backoff.Fixed(time.Second), a: n(0), want: time.Second},
		{name: "Number negative", s: backoff.Fixed(time.Second), a: n(math.MinInt), want: time.Second},
		{name: "ignores Random and Prev", s: backoff.Fixed(time.Second), a: backoff.Attempt{Number: 3, Prev: time.Hour, Random: math.NaN()}, want: time.Second},
		{name: "negative waits 0", s: backoff.Fixed(-time.Second), a: n(1), want: 0},
		{name: "most negative waits 0", s: backoff.Fixed(math.MinInt64), a: n(1), want: 0},
		{name: "largest", s: backoff.Fixed(maxDuration), a: n(1), want: maxDuration},
	})
}

func TestLinear(t *testing.T) {
	l := backoff.Linear{Initial: time.Second, Step: 500 * time.Millisecond}
	capped := backoff.Linear{Initial: time.Second, Step: 500 * time.Millisecond, Max: 2 * time.Second}
	runStrategyCases(t, []strategyCase{
		{name: "first retry is Initial", s: l, a: n(1), want: time.Second},
		{name: "second adds one Step", s: l, a: n(2), want: 1500 * time.Millisecond},
		{name: "fifth adds four Steps", s: l, a: n(5), want: 3 * time.Second},
		{name: "below the cap", s: capped, a: n(2), want: 1500 * time.Millisecond},
		{name: "exactly at the cap", s: capped, a: n(3), want: 2 * time.Second},
		{name: "past the cap", s: capped, a: n(4), want: 2 * time.Second},
		{name: "capped at MaxInt", s: capped, a: n(math.MaxInt), want: 2 * time.Second},
		{name: "uncapped saturates at MaxInt", s: l, a: n(math.MaxInt), want: maxDuration},
		{name: "uncapped saturates with a huge Step", s: backoff.Linear{Initial: time.Second, Step: maxDuration}, a: n(2), want: maxDuration},
		{name: "just below saturation", s: backoff.Linear{Initial: 1, Step: maxDuration / 2}, a: n(3), want: maxDuration},
		{name: "just below saturation one less", s: backoff.Linear{Initial: 0, Step: maxDuration / 2}, a: n(3), want: maxDuration - 1},
		{name: "Number zero counts as 1", s: l, a: n(0), want: time.Second},
		{name: "Number negative counts as 1", s: l, a: n(-7), want: time.Second},
		{name: "Number MinInt counts as 1", s: l, a: n(math.MinInt), want: time.Second},
		{name: "zero value waits 0", s: backoff.Linear{}, a: n(10), want: 0},
		{name: "zero Initial", s: backoff.Linear{Step: time.Second}, a: n(3), want: 2 * time.Second},
		{name: "zero Step is constant", s: backoff.Linear{Initial: time.Second}, a: n(100), want: time.Second},
		{name: "negative Initial counts as 0", s: backoff.Linear{Initial: -time.Hour, Step: time.Second}, a: n(3), want: 2 * time.Second},
		{name: "negative Step counts as 0", s: backoff.Linear{Initial: time.Second, Step: -time.Second}, a: n(3), want: time.Second},
		{name: "negative Max is uncapped", s: backoff.Linear{Initial: time.Second, Step: time.Second, Max: -1}, a: n(100), want: 100 * time.Second},
		{name: "Initial above Max waits Max", s: backoff.Linear{Initial: time.Hour, Step: time.Second, Max: time.Minute}, a: n(1), want: time.Minute},
		{name: "largest Initial", s: backoff.Linear{Initial: maxDuration, Step: maxDuration}, a: n(math.MaxInt), want: maxDuration},
	})
}

func TestExponential(t *testing.T) {
	zero := backoff.Exponential{}
	runStrategyCases(t, []strategyCase{
		{name: "zero value starts at 100ms", s: zero, a: n(1), want: 100 * time.Millisecond},
		{name: "zero value doubles", s: zero, a: n(2), want: 200 * time.Millisecond},
		{name: "zero value fourth", s: zero, a: n(4), want: 800 * time.Millisecond},
		{name: "multiplier 3", s: backoff.Exponential{Initial: time.Second, Multiplier: 3}, a: n(3), want: 9 * time.Second},
		{name: "multiplier 1.5", s: backoff.Exponential{Initial: time.Second, Multiplier: 1.5}, a: n(3), want: 2250 * time.Millisecond},
		{name: "multiplier 1 is constant", s: backoff.Exponential{Initial: time.Second, Multiplier: 1}, a: n(math.MaxInt), want: time.Second},
		{name: "below the cap", s: backoff.Exponential{Initial: time.Second, Max: 5 * time.Second}, a: n(3), want: 4 * time.Second},
		{name: "past the cap", s: backoff.Exponential{Initial: time.Second, Max: 5 * time.Second}, a: n(4), want: 5 * time.Second},
		{name: "exactly at the cap", s: backoff.Exponential{Initial: time.Second, Max: 8 * time.Second}, a: n(4), want: 8 * time.Second},
		{name: "capped at MaxInt", s: backoff.Exponential{Initial: time.Second, Max: 30 * time.Second}, a: n(math.MaxInt), want: 30 * time.Second},
		{name: "uncapped saturates at MaxInt", s: zero, a: n(math.MaxInt), want: maxDuration},
		{name: "1ns doubled 62 times", s: backoff.Exponential{Initial: 1}, a: n(63), want: 1 << 62},
		{name: "1ns doubled 63 times saturates", s: backoff.Exponential{Initial: 1}, a: n(64), want: maxDuration},
		{name: "3ns doubled 61 times fits", s: backoff.Exponential{Initial: 3}, a: n(62), want: 3 << 61},
		{name: "4ns doubled 61 times saturates", s: backoff.Exponential{Initial: 4}, a: n(62), want: maxDuration},
		{name: "Number zero counts as 1", s: zero, a: n(0), want: 100 * time.Millisecond},
		{name: "Number negative counts as 1", s: zero, a: n(-3), want: 100 * time.Millisecond},
		{name: "Number MinInt counts as 1", s: zero, a: n(math.MinInt), want: 100 * time.Millisecond},
		{name: "Number MinInt counts as 1 with multiplier 3", s: backoff.Exponential{Multiplier: 3}, a: n(math.MinInt), want: 100 * time.Millisecond},
		{name: "negative Initial means 100ms", s: backoff.Exponential{Initial: -time.Second}, a: n(2), want: 200 * time.Millisecond},
		{name: "negative Multiplier means 2", s: backoff.Exponential{Initial: time.Second, Multiplier: -3}, a: n(3), want: 4 * time.Second},
		{name: "NaN Multiplier means 2", s: backoff.Exponential{Initial: time.Second, Multiplier: math.NaN()}, a: n(3), want: 4 * time.Second},
		{name: "-Inf Multiplier means 2", s: backoff.Exponential{Initial: time.Second, Multiplier: math.Inf(-1)}, a: n(3), want: 4 * time.Second},
		{name: "Multiplier below 1 counts as 1", s: backoff.Exponential{Initial: time.Second, Multiplier: 0.5}, a: n(5), want: time.Second},
		{name: "tiny Multiplier counts as 1", s: backoff.Exponential{Initial: time.Second, Multiplier: math.SmallestNonzeroFloat64}, a: n(5), want: time.Second},
		{name: "+Inf Multiplier first retry", s: backoff.Exponential{Initial: time.Second, Multiplier: math.Inf(1)}, a: n(1), want: time.Second},
		{name: "+Inf Multiplier saturates", s: backoff.Exponential{Initial: time.Second, Multiplier: math.Inf(1)}, a: n(2), want: maxDuration},
		{name: "+Inf Multiplier capped", s: backoff.Exponential{Initial: time.Second, Multiplier: math.Inf(1), Max: time.Minute}, a: n(2), want: time.Minute},
		{name: "huge Multiplier saturates", s: backoff.Exponential{Initial: time.Second, Multiplier: math.MaxFloat64}, a: n(3), want: maxDuration},
		{name: "negative Max is uncapped", s: backoff.Exponential{Initial: time.Second, Max: -time.Second}, a: n(4), want: 8 * time.Second},
		{name: "Initial above Max waits Max", s: backoff.Exponential{Initial: time.Hour, Max: time.Minute}, a: n(1), want: time.Minute},
		{name: "largest Initial", s: backoff.Exponential{Initial: maxDuration, Multiplier: 1.5}, a: n(2), want: maxDuration},
		{name: "largest Max", s: backoff.Exponential{Initial: time.Second, Max: maxDuration}, a: n(4), want: 8 * time.Second},
	})
}

func TestFullJitter(t *testing.T) {
	ten := backoff.FullJitter(backoff.Fixed(10 * time.Second))
	r := func(x float64) backoff.Attempt { return backoff.Attempt{Number: 1, Random: x} }
	runStrategyCases(t, []strategyCase{
		{name: "Random 0 waits 0", s: ten, a: r(0), want: 0},
		{name: "Random 0.25", s: ten, a: r(0.25), want: 2500 * time.Millisecond},
		{name: "Random 0.5", s: ten, a: r(0.5), want: 5 * time.Second},
		{name: "Random just below 1 stays below d", s: ten, a: r(justBelowOne), want: 10*time.Second - 1},
		{name: "Random 1 counts as just below 1", s: ten, a: r(1), want: 10*time.Second - 1},
		{name: "Random 7 counts as just below 1", s: ten, a: r(7), want: 10*time.Second - 1},
		{name: "Random +Inf counts as just below 1", s: ten, a: r(math.Inf(1)), want: 10*time.Second - 1},
		{name: "Random negative counts as 0", s: ten, a: r(-0.5), want: 0},
		{name: "Random -Inf counts as 0", s: ten, a: r(math.Inf(-1)), want: 0},
		{name: "Random NaN counts as 0", s: ten, a: r(math.NaN()), want: 0},
		{name: "of the exponential", s: backoff.FullJitter(backoff.Exponential{Initial: time.Second}), a: backoff.Attempt{Number: 3, Random: 0.5}, want: 2 * time.Second},
		{name: "of 1ns is 0", s: backoff.FullJitter(backoff.Fixed(1)), a: r(justBelowOne), want: 0},
		{name: "of 0 is 0", s: backoff.FullJitter(backoff.Fixed(0)), a: r(0.5), want: 0},
		{name: "of a negative wait is 0", s: backoff.FullJitter(backoff.StrategyFunc(func(backoff.Attempt) (time.Duration, bool) { return -time.Hour, true })), a: r(0.5), want: 0},
		{name: "of the largest wait", s: backoff.FullJitter(backoff.Fixed(maxDuration)), a: r(0.5), want: 1 << 62},
		{name: "of the largest wait, Random near 1", s: backoff.FullJitter(backoff.Fixed(maxDuration)), a: r(justBelowOne), want: 1<<63 - 1<<10}, // exact in float64
		{name: "stops when the strategy stops", s: backoff.FullJitter(stopper), a: r(0.5), wantStop: true},
	})
}

func TestEqualJitter(t *testing.T) {
	ten := backoff.EqualJitter(backoff.Fixed(10 * time.Second))
	r := func(x float64) backoff.Attempt { return backoff.Attempt{Number: 1, Random: x} }
	runStrategyCases(t, []strategyCase{
		{name: "Random 0 waits d/2", s: ten, a: r(0), want: 5 * time.Second},
		{name: "Random 0.5", s: ten, a: r(0.5), want: 7500 * time.Millisecond},
		{name: "Random 0.25", s: ten, a: r(0.25), want: 6250 * time.Millisecond},
		{name: "Random just below 1 stays below d", s: ten, a: r(justBelowOne), want: 10*time.Second - 1},
		{name: "Random 1 counts as just below 1", s: ten, a: r(1), want: 10*time.Second - 1},
		{name: "Random +Inf counts as just below 1", s: ten, a: r(math.Inf(1)), want: 10*time.Second - 1},
		{name: "Random negative counts as 0", s: ten, a: r(-3), want: 5 * time.Second},
		{name: "Random NaN counts as 0", s: ten, a: r(math.NaN()), want: 5 * time.Second},
		{name: "of the exponential", s: backoff.EqualJitter(backoff.Exponential{Initial: time.Second}), a: backoff.Attempt{Number: 3, Random: 0.5}, want: 3 * time.Second},
		{name: "of 1ns is 0", s: backoff.EqualJitter(backoff.Fixed(1)), a: r(0.5), want: 0},
		{name: "of 3ns rounds down", s: backoff.EqualJitter(backoff.Fixed(3)), a: r(justBelowOne), want: 1},
		{name: "of a negative wait is 0", s: backoff.EqualJitter(backoff.Fixed(-time.Second)), a: r(0.5), want: 0},
		{name: "of the largest wait", s: backoff.EqualJitter(backoff.Fixed(maxDuration)), a: r(0), want: maxDuration / 2},
		{name: "of the largest wait, Random near 1", s: backoff.EqualJitter(backoff.Fixed(maxDuration)), a: r(justBelowOne), want: maxDuration/2 + 1<<62 - 1<<9}, // exact in float64
		{name: "stops when the strategy stops", s: backoff.EqualJitter(stopper), a: r(0.5), wantStop: true},
	})
}

func TestProportionalJitter(t *testing.T) {
	ten := backoff.Fixed(10 * time.Second)
	r := func(x float64) backoff.Attempt { return backoff.Attempt{Number: 1, Random: x} }
	runStrategyCases(t, []strategyCase{
		{name: "half, Random 0", s: backoff.ProportionalJitter(ten, 0.5), a: r(0), want: 5 * time.Second},
		{name: "half, Random 0.25", s: backoff.ProportionalJitter(ten, 0.5), a: r(0.25), want: 7500 * time.Millisecond},
		{name: "half, Random 0.5", s: backoff.ProportionalJitter(ten, 0.5), a: r(0.5), want: 10 * time.Second},
		{name: "half, Random 0.75", s: backoff.ProportionalJitter(ten, 0.5), a: r(0.75), want: 12500 * time.Millisecond},
		{name: "half, Random just below 1 stays below 1.5d", s: backoff.ProportionalJitter(ten, 0.5), a: r(justBelowOne), want: 15*time.Second - 1},
		{name: "half, Random 1 counts as just below 1", s: backoff.ProportionalJitter(ten, 0.5), a: r(1), want: 15*time.Second - 1},
		{name: "half, Random NaN counts as 0", s: backoff.ProportionalJitter(ten, 0.5), a: r(math.NaN()), want: 5 * time.Second},
		{name: "half, Random negative counts as 0", s: backoff.ProportionalJitter(ten, 0.5), a: r(-1), want: 5 * time.Second},
		{name: "gRPC's 0.2, Random 0", s: backoff.ProportionalJitter(ten, 0.2), a: r(0), want: 8 * time.Second},
		{name: "gRPC's 0.2, Random 0.5", s: backoff.ProportionalJitter(ten, 0.2), a: r(0.5), want: 10 * time.Second},
		{name: "quarter, Random 0.5", s: backoff.ProportionalJitter(ten, 0.25), a: r(0.5), want: 10 * time.Second},
		{name: "zero factor is exact", s: backoff.ProportionalJitter(ten, 0), a: r(0.9), want: 10 * time.Second},
		{name: "zero factor is exact for a wait no float64 holds", s: backoff.ProportionalJitter(backoff.Fixed(1<<60+1), 0), a: r(0.9), want: 1<<60 + 1},
		{name: "factor 1, Random 0", s: backoff.ProportionalJitter(ten, 1), a: r(0), want: 0},
		{name: "factor 1, Random 0.5", s: backoff.ProportionalJitter(ten, 1), a: r(0.5), want: 10 * time.Second},
		{name: "factor 1, Random near 1 stays below 2d", s: backoff.ProportionalJitter(ten, 1), a: r(justBelowOne), want: 20*time.Second - 1},
		{name: "may exceed the cap of s", s: backoff.ProportionalJitter(backoff.Exponential{Initial: time.Second, Max: 2 * time.Second}, 0.5), a: backoff.Attempt{Number: 10, Random: 0.75}, want: 2500 * time.Millisecond},
		{name: "saturates at the largest wait", s: backoff.ProportionalJitter(backoff.Fixed(maxDuration), 0.5), a: r(0.75), want: maxDuration},
		{name: "saturates with factor 1", s: backoff.ProportionalJitter(backoff.Fixed(maxDuration), 1), a: r(justBelowOne), want: maxDuration},
		{name: "of a negative wait is 0", s: backoff.ProportionalJitter(backoff.Fixed(-time.Second), 0.5), a: r(0.5), want: 0},
		{name: "stops when the strategy stops", s: backoff.ProportionalJitter(stopper, 0.5), a: r(0.5), wantStop: true},
	})
}

func TestDecorrelated(t *testing.T) {
	d := backoff.Decorrelated{Initial: time.Second, Max: 10 * time.Second}
	a := func(prev time.Duration, random float64) backoff.Attempt {
		return backoff.Attempt{Number: 2, Prev: prev, Random: random}
	}
	runStrategyCases(t, []strategyCase{
		{name: "first retry, Random 0", s: d, a: a(0, 0), want: time.Second},
		{name: "first retry, Random 0.5", s: d, a: a(0, 0.5), want: 2 * time.Second},
		{name: "first retry, Random near 1", s: d, a: a(0, justBelowOne), want: 3*time.Second - 1},
		{name: "grows from Prev", s: d, a: a(2*time.Second, 0.5), want: 3500 * time.Millisecond},
		{name: "Prev below Initial counts as Initial", s: d, a: a(time.Millisecond, 0.5), want: 2 * time.Second},
		{name: "negative Prev counts as Initial", s: d, a: a(-time.Hour, 0.5), want: 2 * time.Second},
		{name: "soft cap", s: d, a: a(5*time.Second, 0.5), want: 5500 * time.Millisecond},
		{name: "soft cap, Random near 1", s: d, a: a(5*time.Second, justBelowOne), want: 10*time.Second - 1},
		{name: "largest Prev", s: d, a: a(maxDuration, 0.5), want: 5500 * time.Millisecond},
		{name: "Random NaN counts as 0", s: d, a: a(5*time.Second, math.NaN()), want: time.Second},
		{name: "Random 1 counts as just below 1", s: d, a: a(5*time.Second, 1), want: 10*time.Second - 1},
		{name: "Random -Inf counts as 0", s: d, a: a(5*time.Second, math.Inf(-1)), want: time.Second},
		{name: "ignores Number", s: d, a: backoff.Attempt{Number: math.MaxInt, Prev: 2 * time.Second, Random: 0.5}, want: 3500 * time.Millisecond},
		{name: "zero value starts at 100ms", s: backoff.Decorrelated{}, a: a(0, 0.5), want: 200 * time.Millisecond},
		{name: "negative Initial means 100ms", s: backoff.Decorrelated{Initial: -1}, a: a(0, 0), want: 100 * time.Millisecond},
		{name: "uncapped, largest Prev", s: backoff.Decorrelated{Initial: 1}, a: a(maxDuration, justBelowOne), want: 1 + 1<<63 - 1<<10}, // exact in float64
		{name: "uncapped, Prev a third of the largest", s: backoff.Decorrelated{Initial: 1}, a: a(maxDuration/3, 0), want: 1},
		{name: "negative Max is uncapped", s: backoff.Decorrelated{Initial: time.Second, Max: -1}, a: a(time.Hour, 0.5), want: time.Second + (3*time.Hour-time.Second)/2},
		{name: "Max below Initial waits Max", s: backoff.Decorrelated{Initial: time.Minute, Max: time.Second}, a: a(0, 0.5), want: time.Second},
		{name: "Max equal to Initial waits Max", s: backoff.Decorrelated{Initial: time.Second, Max: time.Second}, a: a(time.Hour, 0.9), want: time.Second},
	})
}

func TestClassified(t *testing.T) {
	custom := backoff.Classified{Transient: backoff.Fixed(2 * time.Second), Temporary: backoff.Linear{Initial: time.Second, Step: time.Second}}
	a := func(c backoff.Class, number int) backoff.Attempt {
		return backoff.Attempt{Number: number, Class: c, Random: 0.5}
	}
	after := func(d time.Duration, random float64) backoff.Attempt {
		return backoff.Attempt{Number: 2, Class: backoff.Temporary, Random: random, After: d}
	}
	runStrategyCases(t, []strategyCase{
		{name: "zero value, Transient, first retry", s: backoff.Classified{}, a: a(backoff.Transient, 1), want: 100 * time.Millisecond},
		{name: "zero value, Transient, third retry", s: backoff.Classified{}, a: a(backoff.Transient, 3), want: 400 * time.Millisecond},
		{name: "zero value, Transient, capped at 30s", s: backoff.Classified{}, a: a(backoff.Transient, math.MaxInt), want: 15 * time.Second},
		{name: "zero value, Temporary, no server wait: 1s plus up to 20%", s: backoff.Classified{}, a: a(backoff.Temporary, 5), want: 1100 * time.Millisecond},
		{name: "zero value, Temporary, Random 0", s: backoff.Classified{}, a: after(0, 0), want: time.Second},
		{name: "zero value, Temporary, Random just below 1", s: backoff.Classified{}, a: after(0, justBelowOne), want: 1200*time.Millisecond - 1},
		{name: "zero value, Temporary, server-paced", s: backoff.Classified{}, a: after(300*time.Millisecond, 0.5), want: 330 * time.Millisecond},
		{name: "zero value, Temporary, server-paced, never less than asked", s: backoff.Classified{}, a: after(300*time.Millisecond, 0), want: 300 * time.Millisecond},
		{name: "zero value, Temporary, server-paced below 1s", s: backoff.Classified{}, a: after(time.Millisecond, justBelowOne), want: 1200*time.Microsecond - 1},
		{name: "zero value, Temporary, server-paced, long wait exact", s: backoff.Classified{}, a: after(1<<62+1, 0), want: 1<<62 + 1},
		{name: "zero value, Temporary, server-paced, saturates", s: backoff.Classified{}, a: after(maxDuration, 0.5), want: maxDuration},
		{name: "zero value, Temporary, negative After is none", s: backoff.Classified{}, a: after(-time.Second, 0.5), want: 1100 * time.Millisecond},
		{name: "custom Temporary ignores After", s: custom, a: backoff.Attempt{Number: 1, Class: backoff.Temporary, After: time.Hour}, want: time.Second},
		{name: "zero value, Permanent stops", s: backoff.Classified{}, a: a(backoff.Permanent, 1), wantStop: true},
		{name: "zero value, unknown class stops", s: backoff.Classified{}, a: a(backoff.Class(200), 1), wantStop: true},
		{name: "custom Transient", s: custom, a: a(backoff.Transient, 4), want: 2 * time.Second},
		{name: "custom Temporary", s: custom, a: a(backoff.Temporary, 4), want: 4 * time.Second},
		{name: "custom, Permanent stops", s: custom, a: a(backoff.Permanent, 1), wantStop: true},
		{name: "negative wait of a field is 0", s: backoff.Classified{Temporary: backoff.StrategyFunc(func(backoff.Attempt) (time.Duration, bool) { return -time.Second, true })}, a: a(backoff.Temporary, 1), want: 0},
		{name: "a field that stops stops", s: backoff.Classified{Transient: stopper}, a: a(backoff.Transient, 1), wantStop: true},
	})
}

func TestClassifiedZeroValueAllocatesNothing(t *testing.T) {
	var s backoff.Strategy = backoff.Classified{}
	a := backoff.Attempt{Number: 3, Class: backoff.Transient, Random: 0.5}
	allocs := testing.AllocsPerRun(100, func() { _, _ = s.Delay(a) })
	assert.Zero(t, allocs)
}

var stopper = backoff.StrategyFunc(func(backoff.Attempt) (time.Duration, bool) { return 0, false })

func TestStrategyFunc(t *testing.T) {
	var seen backoff.Attempt
	want := backoff.Attempt{Number: 3, Err: errors.New("boom"), Class: backoff.Temporary, Prev: time.Second, Random: 0.25}
	s := backoff.StrategyFunc(func(a backoff.Attempt) (time.Duration, bool) {
		seen = a
		return time.Duration(a.Number) * time.Second, a.Class != backoff.Permanent
	})
	d, ok := s.Delay(want)
	assert.Equal(t, want, seen, "StrategyFunc passes the Attempt through")
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)

	d, ok = s.Delay(backoff.Attempt{Number: 1, Class: backoff.Permanent})
	assert.False(t, ok)
	assert.Equal(t, time.Second, d, "StrategyFunc returns what the function returns")
}

func TestJitterConstructorsPanic(t *testing.T) {
	cases := []struct {
		name string
		make func()
	}{
		{"FullJitter nil", func() { backoff.FullJitter(nil) }},
		{"EqualJitter nil", func() { backoff.EqualJitter(nil) }},
		{"ProportionalJitter nil", func() { backoff.ProportionalJitter(nil, 0.5) }},
		{"ProportionalJitter negative factor", func() { backoff.ProportionalJitter(backoff.Fixed(1), -0.01) }},
		{"ProportionalJitter factor above 1", func() { backoff.ProportionalJitter(backoff.Fixed(1), 1.01) }},
		{"ProportionalJitter NaN factor", func() { backoff.ProportionalJitter(backoff.Fixed(1), math.NaN()) }},
		{"ProportionalJitter +Inf factor", func() { backoff.ProportionalJitter(backoff.Fixed(1), math.Inf(1)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := panicMessage(t, tc.make)
			assert.True(t, strings.HasPrefix(msg, "backoff: "), "panic %q lacks the backoff: prefix", msg)
		})
	}
}

// boundedStrategy is a built-in strategy with the bounds that any Delay
// result of it must respect, whatever the Attempt.
type boundedStrategy struct {
	name   string
	s      backoff.Strategy
	lo, hi time.Duration // inclusive
}

// builtins builds every built-in strategy from the fields d1 and d2 and the
// factor f in [0,1], with the bounds their documentation promises.
func builtins(d1, d2 time.Duration, f float64, mult float64) []boundedStrategy {
	capOf := func(max time.Duration) time.Duration {
		if max <= 0 {
			return maxDuration
		}
		return max
	}
	expInitial := d1
	if expInitial <= 0 {
		expInitial = 100 * time.Millisecond
	}
	decInitial := expInitial
	exp := backoff.Exponential{Initial: d1, Multiplier: mult, Max: d2}
	lin := backoff.Linear{Initial: d1, Step: d1, Max: d2}
	dec := backoff.Decorrelated{Initial: d1, Max: d2}
	decLo := min(decInitial, capOf(d2))
	return []boundedStrategy{
		{"Fixed", backoff.Fixed(d1), max(d1, 0), max(d1, 0)},
		{"Linear", lin, 0, capOf(d2)},
		{"Exponential", exp, min(expInitial, capOf(d2)), capOf(d2)},
		{"FullJitter", backoff.FullJitter(exp), 0, max(capOf(d2)-1, 0)},
		{"EqualJitter", backoff.EqualJitter(exp), min(expInitial, capOf(d2)) / 2, capOf(d2)},
		{"ProportionalJitter", backoff.ProportionalJitter(exp, f), 0, maxDuration},
		{"Decorrelated", dec, decLo, capOf(d2)},
		{"Classified", backoff.Classified{Transient: exp, Temporary: lin}, 0, capOf(d2)},
	}
}

// TestStrategiesOddInputs sweeps every built-in strategy over odd fields and
// odd Attempts: none may panic, return a negative wait or pass its cap.
// Prev is swept only for Decorrelated, Class only for Classified, and the
// multiplier only for the strategies built on Exponential: the others do
// not read them.
func TestStrategiesOddInputs(t *testing.T) {
	mults := []float64{math.NaN(), math.Inf(-1), -2, 0, 0.5, 1, 1.0000001, 2, 3, 1e300, math.Inf(1)}
	randoms := append([]float64{0, 0.5, justBelowOne}, oddRandoms...)
	prevs := []time.Duration{math.MinInt64, 0, time.Second, maxDuration / 3, maxDuration}
	classes := []backoff.Class{backoff.Transient, backoff.Temporary, backoff.Permanent, 99}
	usesMult := map[string]bool{"Exponential": true, "FullJitter": true, "EqualJitter": true, "ProportionalJitter": true, "Classified": true}
	for _, d1 := range oddDurations {
		for _, d2 := range oddDurations {
			for i, mult := range mults {
				for _, bs := range builtins(d1, d2, 0.5, mult) {
					if i > 0 && !usesMult[bs.name] {
						continue
					}
					ps, cs := []time.Duration{0}, []backoff.Class{backoff.Transient}
					switch bs.name {
					case "Decorrelated":
						ps = prevs
					case "Classified":
						cs = classes
					}
					for _, number := range oddNumbers {
						for _, random := range randoms {
							for _, prev := range ps {
								for _, class := range cs {
									a := backoff.Attempt{Number: number, Prev: prev, Random: random, Class: class}
									got, ok := bs.s.Delay(a)
									if !ok {
										if bs.name != "Classified" || class < backoff.Permanent {
											t.Fatalf("%s %+v d1=%v d2=%v mult=%v: stopped on %+v", bs.name, bs.s, d1, d2, mult, a)
										}
										continue
									}
									if got < bs.lo || got > bs.hi {
										t.Fatalf("%s %+v: Delay(%+v) = %v, outside [%v, %v]", bs.name, bs.s, a, got, bs.lo, bs.hi)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// recorder is a Strategy and an Observer that records the outcomes it is
// told.
type recorder struct {
	backoff.Strategy
	mu       sync.Mutex
	outcomes []backoff.Outcome
}

func (r *recorder) Observe(o backoff.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, o)
}

func TestJittersPassOutcomesToAnObserver(t *testing.T) {
	cases := []struct {
		name string
		wrap func(backoff.Strategy) backoff.Strategy
	}{
		{"FullJitter", backoff.FullJitter},
		{"EqualJitter", backoff.EqualJitter},
		{"ProportionalJitter", func(s backoff.Strategy) backoff.Strategy { return backoff.ProportionalJitter(s, 0.2) }},
		{"FullJitter of EqualJitter", func(s backoff.Strategy) backoff.Strategy { return backoff.FullJitter(backoff.EqualJitter(s)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, plainIsObserver := tc.wrap(backoff.Fixed(time.Second)).(backoff.Observer)
			assert.False(t, plainIsObserver, "the jitter of a plain strategy must not be an Observer, or Retry reads the clock for nothing")

			rec := &recorder{Strategy: backoff.Fixed(time.Second)}
			s := tc.wrap(rec)
			require.Implements(t, (*backoff.Observer)(nil), s)
			synctest.Test(t, func(t *testing.T) {
				errBusy := errors.New("busy")
				calls := 0
				err := backoff.Do(context.Background(), func(context.Context) error {
					calls++
					time.Sleep(time.Duration(calls) * 10 * time.Millisecond)
					if calls < 3 {
						return errBusy
					}
					return nil
				}, backoff.WithStrategy(s))
				require.NoError(t, err)
			})
			assert.Equal(t, []backoff.Outcome{
				{Err: errors.New("busy"), Latency: 10 * time.Millisecond},
				{Err: errors.New("busy"), Latency: 20 * time.Millisecond},
				{Err: nil, Latency: 30 * time.Millisecond},
			}, rec.outcomes)

			// The jitter still jitters what the observer's strategy returns.
			d, ok := s.Delay(backoff.Attempt{Number: 1, Random: 0})
			assert.True(t, ok)
			assert.Less(t, d, 2*time.Second)
		})
	}
}
