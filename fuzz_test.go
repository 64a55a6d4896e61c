package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
)

// capOrMax turns a Max field into the limit it documents: ≤ 0 means none.
func capOrMax(max time.Duration) time.Duration {
	if max <= 0 {
		return maxDuration
	}
	return max
}

// linearWant computes Linear's wait in big integers: the reference that the
// saturating arithmetic must match exactly.
func linearWant(l backoff.Linear, number int) time.Duration {
	n := int64(max(number, 1)) - 1
	w := new(big.Int).Mul(big.NewInt(int64(max(l.Step, 0))), big.NewInt(n))
	w.Add(w, big.NewInt(int64(max(l.Initial, 0))))
	if limit := big.NewInt(int64(capOrMax(l.Max))); w.Cmp(limit) > 0 {
		return capOrMax(l.Max)
	}
	return time.Duration(w.Int64())
}

// scaled is d·f rounded down, saturated at the largest Duration: the float
// product that the documented formulas describe.
func scaled(d time.Duration, f float64) time.Duration {
	x := float64(d) * f
	switch {
	case !(x > 0):
		return 0
	case x >= float64(maxDuration):
		return maxDuration
	}
	return time.Duration(x)
}

func FuzzStrategies(f *testing.F) {
	f.Add(int64(time.Second), int64(30*time.Second), 2.0, 0.5, 3, int64(0), 0.5, uint8(0))
	f.Add(int64(100*time.Millisecond), int64(0), 1.5, 0.2, 70, int64(time.Second), 0.999, uint8(1))
	f.Add(int64(-1), int64(-1), math.NaN(), math.NaN(), math.MinInt, int64(math.MinInt64), math.NaN(), uint8(2))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), math.Inf(1), 1.0, math.MaxInt, int64(math.MaxInt64), math.Inf(1), uint8(255))
	f.Add(int64(1), int64(0), 2.0, 0.5, 64, int64(math.MaxInt64/3), math.Nextafter(1, 0), uint8(0))
	f.Add(int64(3), int64(math.MaxInt64-1), 3.0, 1.0, 40, int64(7), -1.0, uint8(1))
	f.Add(int64(0), int64(0), 0.0, 0.0, 0, int64(0), 0.0, uint8(0))
	f.Fuzz(func(t *testing.T, d1, d2 int64, mult, factor float64, number int, prev int64, random float64, class uint8) {
		initial, limit := time.Duration(d1), time.Duration(d2)
		a := backoff.Attempt{Number: number, Prev: time.Duration(prev), Random: random, Class: backoff.Class(class)}
		ceiling := capOrMax(limit)
		delay := func(name string, s backoff.Strategy, a backoff.Attempt) time.Duration {
			t.Helper()
			d, ok := s.Delay(a)
			if !ok {
				t.Fatalf("%s %+v stopped on %+v", name, s, a)
			}
			if d < 0 {
				t.Fatalf("%s %+v: Delay(%+v) = %v, negative", name, s, a, d)
			}
			return d
		}

		if got, want := delay("Fixed", backoff.Fixed(initial), a), max(initial, 0); got != want {
			t.Fatalf("Fixed(%v) = %v, want %v", initial, got, want)
		}

		lin := backoff.Linear{Initial: initial, Step: time.Duration(prev), Max: limit}
		if got, want := delay("Linear", lin, a), linearWant(lin, number); got != want {
			t.Fatalf("%+v.Delay(Number %d) = %v, want %v", lin, number, got, want)
		}

		exp := backoff.Exponential{Initial: initial, Multiplier: mult, Max: limit}
		expInitial := initial
		if expInitial <= 0 {
			expInitial = 100 * time.Millisecond
		}
		d := delay("Exponential", exp, a)
		if d < min(expInitial, ceiling) || d > ceiling {
			t.Fatalf("%+v.Delay(Number %d) = %v, outside [%v, %v]", exp, number, d, min(expInitial, ceiling), ceiling)
		}
		if number < math.MaxInt {
			next := a
			next.Number++
			if d2 := delay("Exponential", exp, next); d2 < d {
				t.Fatalf("%+v shrinks: Number %d waits %v, Number %d waits %v", exp, number, d, number+1, d2)
			}
		}

		if got := delay("FullJitter", backoff.FullJitter(exp), a); d == 0 && got != 0 || d > 0 && got >= d {
			t.Fatalf("FullJitter of %v with Random %v = %v, outside [0, %v)", d, random, got, d)
		}
		if got := delay("EqualJitter", backoff.EqualJitter(exp), a); got < d/2 || d > 0 && got >= d || d == 0 && got != 0 {
			t.Fatalf("EqualJitter of %v with Random %v = %v, outside [%v, %v)", d, random, got, d/2, d)
		}

		pf := math.Abs(math.Mod(factor, 1.0000001))
		if math.IsNaN(pf) || pf > 1 {
			pf = 0.5
		}
		got := delay("ProportionalJitter", backoff.ProportionalJitter(exp, pf), a)
		lo, hi := scaled(d, 1-pf), scaled(d, 1+pf)
		switch {
		case pf == 0:
			if got != d {
				t.Fatalf("ProportionalJitter of %v with factor 0 = %v, want it unchanged", d, got)
			}
		case got < lo || got > hi:
			t.Fatalf("ProportionalJitter of %v with factor %v, Random %v = %v, outside [%v, %v]", d, pf, random, got, lo, hi)
		case got == hi && hi < maxDuration && hi > lo && float64(hi) == float64(d)*(1+pf):
			// The top d·(1+f) is left out of the range, at the precision
			// of float64: a wait may be hi only when hi is below the top.
			t.Fatalf("ProportionalJitter of %v with factor %v, Random %v = %v, the excluded top", d, pf, random, got)
		}

		dec := backoff.Decorrelated{Initial: initial, Max: limit}
		got = delay("Decorrelated", dec, a)
		if expInitial >= ceiling {
			if got != ceiling {
				t.Fatalf("%+v with Initial ≥ Max = %v, want Max", dec, got)
			}
		} else {
			upper := ceiling
			if base := max(a.Prev, expInitial); base <= ceiling/3 {
				upper = min(3*base, ceiling)
			}
			if got < expInitial || got >= upper {
				t.Fatalf("%+v.Delay(Prev %v, Random %v) = %v, outside [%v, %v)", dec, a.Prev, random, got, expInitial, upper)
			}
		}

		cl := backoff.Classified{Transient: exp, Temporary: lin}
		w, ok := cl.Delay(a)
		switch a.Class {
		case backoff.Transient:
			if !ok || w != d {
				t.Fatalf("Classified on Transient = %v, %v; want %v, true", w, ok, d)
			}
		case backoff.Temporary:
			if want := linearWant(lin, number); !ok || w != want {
				t.Fatalf("Classified on Temporary = %v, %v; want %v, true", w, ok, want)
			}
		default:
			if ok || w != 0 {
				t.Fatalf("Classified on %v = %v, %v; want a stop", a.Class, w, ok)
			}
		}
		w, ok = backoff.Classified{}.Delay(a)
		if a.Class < backoff.Permanent && (!ok || w < 0 || w > 30*time.Second) {
			t.Fatalf("zero Classified on %v = %v, %v; want within [0, 30s]", a.Class, w, ok)
		}

		// Server-paced: After (or 1s) plus up to a fifth more, saturating.
		ta := a
		ta.Class, ta.After = backoff.Temporary, time.Duration(prev)
		base := time.Second
		if ta.After > 0 {
			base = ta.After
		}
		hi = base + base/5
		if hi < base {
			hi = maxDuration
		}
		w, ok = backoff.Classified{}.Delay(ta)
		switch {
		case !ok:
			t.Fatalf("zero Classified stopped on %+v", ta)
		case base/5 == 0:
			if w != base {
				t.Fatalf("zero Classified on Temporary with After %v = %v, want it exactly", ta.After, w)
			}
		case w < base, w >= hi && !(hi == maxDuration && w == maxDuration):
			t.Fatalf("zero Classified on Temporary with After %v, Random %v = %v, outside [%v, %v)", ta.After, random, w, base, hi)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, time.November, 28, 13, 0, 0, 0, time.UTC).Unix()
	f.Add("", "120", now)
	f.Add("1.5", "120", now)
	f.Add("1500", "", now)
	f.Add("86400000.0000001", "86400", now)
	f.Add("-1", "Sat, 28 Nov 2026 13:01:00 GMT", now)
	f.Add("", "Saturday, 28-Nov-26 13:00:45 GMT", now)
	f.Add("", "Sat Nov 28 13:00:10 2026", now)
	f.Add("NaN", "Sun, 06 Nov 1994 08:49:37 GMT", now)
	f.Add("1e3", "+5", int64(math.MinInt64))
	f.Add(" 007 ", " 99999999999999999999 ", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, ms, ra string, unix int64) {
		h := http.Header{}
		if ms != "" {
			h.Set("Retry-After-Ms", ms)
		}
		if ra != "" {
			h.Set("Retry-After", ra)
		}
		d, ok := backoff.ParseRetryAfter(h, time.Unix(unix, 0))
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(ms %q, %q) = %v, false: a missing value must be 0", ms, ra, d)
		}
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("ParseRetryAfter(ms %q, %q) = %v, outside [0, 24h]", ms, ra, d)
		}
		// Whole numbers are easy to check against strconv.
		if n, err := strconv.ParseUint(strings.TrimSpace(ms), 10, 64); err == nil && strings.TrimSpace(ms)[0] != '+' && n <= 86400000 {
			if !ok || d != time.Duration(n)*time.Millisecond {
				t.Fatalf("ParseRetryAfter(ms %q) = %v, %v; want %v", ms, d, ok, time.Duration(n)*time.Millisecond)
			}
			return
		}
		if strings.TrimSpace(ms) == "" {
			if n, err := strconv.ParseUint(strings.TrimSpace(ra), 10, 64); err == nil && strings.TrimSpace(ra)[0] != '+' {
				want := time.Duration(n) * time.Second
				if n > 86400 {
					want = 0
				}
				if ok != (n <= 86400) || d != want {
					t.Fatalf("ParseRetryAfter(Retry-After %q) = %v, %v; want %v, %v", ra, d, ok, want, n <= 86400)
				}
			}
		}
	})
}

// fuzzError builds one of the errors Classify has a rule for, from fuzzed
// parts.
func fuzzError(kind uint8, msg string, code int, d int64, flag bool) error {
	switch kind % 11 {
	case 0:
		return errors.New(msg)
	case 1:
		return &backoff.StatusError{Code: code, RetryAfter: time.Duration(d)}
	case 2:
		return &net.DNSError{Err: msg, Name: "api.example.invalid", IsNotFound: flag, IsTimeout: code%2 == 0}
	case 3:
		return &timeoutError{timeout: flag, err: errors.New(msg)}
	case 4:
		return context.Canceled
	case 5:
		return context.DeadlineExceeded
	case 6:
		return io.EOF
	case 7:
		return io.ErrUnexpectedEOF
	case 8:
		return errors.Join(errors.New(msg), &backoff.StatusError{Code: code})
	case 9:
		return backoff.RetryAfter(time.Duration(d), errors.New(msg))
	default:
		return backoff.Mark(errors.New(msg), backoff.Class(code))
	}
}

func FuzzClassify(f *testing.F) {
	f.Add("backend said no", uint8(0), uint8(0), 503, int64(time.Second), false)
	f.Add(`unsupported protocol scheme "ftp"`, uint8(2), uint8(0), 404, int64(0), true)
	f.Add("no such host", uint8(1), uint8(2), 429, int64(-1), true)
	f.Add("i/o timeout", uint8(255), uint8(3), 0, int64(math.MaxInt64), true)
	f.Add("", uint8(1), uint8(8), 500, int64(math.MinInt64), false)
	f.Add("%w %v", uint8(7), uint8(10), 7, int64(3), false)
	f.Fuzz(func(t *testing.T, msg string, class, kind uint8, code int, d int64, flag bool) {
		c := backoff.Class(class)
		plain := errors.New(msg)
		wantPlain := backoff.Transient
		if strings.HasPrefix(msg, "unsupported protocol scheme") {
			wantPlain = backoff.Permanent
		}
		if got := backoff.Classify(plain); got != wantPlain {
			t.Fatalf("Classify(errors.New(%q)) = %v, want %v", msg, got, wantPlain)
		}
		if got := backoff.Classify(backoff.Mark(plain, c)); got != c {
			t.Fatalf("Classify(Mark(%q, %v)) = %v", msg, c, got)
		}
		if got := backoff.Classify(wrap(backoff.Mark(plain, c))); got != c {
			t.Fatalf("Classify(wrapped Mark(%q, %v)) = %v", msg, c, got)
		}
		if got := backoff.Classify(backoff.RetryAfter(time.Duration(d), wrap(plain))); got != backoff.Temporary {
			t.Fatalf("Classify(RetryAfter(%v, %q)) = %v", time.Duration(d), msg, got)
		}

		err := fuzzError(kind, msg, code, d, flag)
		class0 := backoff.Classify(err)
		if class0 > backoff.Permanent && kind%11 != 10 {
			t.Fatalf("Classify(%v) = %v, not a defined class", err, class0)
		}
		for name, w := range map[string]error{
			"%w":            fmt.Errorf("calling the model API: %w", err),
			"%w twice":      wrap2(err),
			"Join":          errors.Join(err),
			"Join with nil": errors.Join(nil, err, nil),
			"%w %w":         fmt.Errorf("%w; %w", err, errors.New("and a plain one")),
		} {
			if got := backoff.Classify(w); got != class0 {
				t.Fatalf("Classify(%s of %v) = %v, but Classify of it unwrapped = %v", name, err, got, class0)
			}
		}
		m := backoff.Mark(wrap(err), c)
		if got := backoff.Classify(m); got != c {
			t.Fatalf("Classify(Mark(%v, %v)) = %v", err, c, got)
		}
		if !errors.Is(m, err) {
			t.Fatalf("errors.Is(Mark(%v), it) = false", err)
		}
	})
}
