package backoff_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/backoff-go/backoff"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, time.November, 28, 13, 0, 0, 0, time.UTC)
	at := func(d time.Duration, layout string) string { return now.Add(d).Format(layout) }
	const (
		rfc850  = "Monday, 02-Jan-06 15:04:05 GMT" // http.ParseTime's second form
		asctime = time.ANSIC                       // and its third
	)
	cases := []struct {
		name    string
		ms, ra  string // retry-after-ms and Retry-After; "" leaves it out
		want    time.Duration
		present bool
	}{
		{name: "neither header", want: 0, present: false},

		{name: "seconds", ra: "120", want: 2 * time.Minute, present: true},
		{name: "zero seconds", ra: "0", want: 0, present: true},
		{name: "leading zeros", ra: "007", want: 7 * time.Second, present: true},
		{name: "seconds with spaces", ra: "  5 ", want: 5 * time.Second, present: true},
		{name: "seconds with tabs", ra: "\t5\t", want: 5 * time.Second, present: true},
		{name: "exactly 24 hours", ra: "86400", want: 24 * time.Hour, present: true},
		{name: "over 24 hours", ra: "86401", present: false},
		{name: "beyond int64", ra: "99999999999999999999999", present: false},
		{name: "fraction", ra: "1.5", present: false},
		{name: "negative", ra: "-1", present: false},
		{name: "plus sign", ra: "+5", present: false},
		{name: "word", ra: "soon", present: false},
		{name: "unit", ra: "5s", present: false},
		{name: "exponent", ra: "1e3", present: false},
		{name: "hex", ra: "0x10", present: false},
		{name: "two numbers", ra: "5 6", present: false},
		{name: "only spaces", ra: "   ", present: false},

		{name: "IMF-fixdate", ra: at(30*time.Second, http.TimeFormat), want: 30 * time.Second, present: true},
		{name: "RFC 1123 literally", ra: "Sat, 28 Nov 2026 13:01:00 GMT", want: time.Minute, present: true},
		{name: "RFC 850", ra: at(90*time.Second, rfc850), want: 90 * time.Second, present: true},
		{name: "RFC 850 literally", ra: "Saturday, 28-Nov-26 13:00:45 GMT", want: 45 * time.Second, present: true},
		{name: "asctime", ra: at(time.Hour, asctime), want: time.Hour, present: true},
		{name: "asctime literally", ra: "Sat Nov 28 13:00:10 2026", want: 10 * time.Second, present: true},
		{name: "asctime with a one-digit day", ra: "Sun Nov 29  1:00:00 2026", want: 12 * time.Hour, present: true},
		{name: "date with spaces", ra: " " + at(30*time.Second, http.TimeFormat) + " ", want: 30 * time.Second, present: true},
		{name: "date now", ra: at(0, http.TimeFormat), want: 0, present: true},
		{name: "date in the past", ra: at(-time.Hour, http.TimeFormat), want: 0, present: true},
		{name: "date long past", ra: "Sun, 06 Nov 1994 08:49:37 GMT", want: 0, present: true},
		{name: "date exactly 24 hours ahead", ra: at(24*time.Hour, http.TimeFormat), want: 24 * time.Hour, present: true},
		{name: "date over 24 hours ahead", ra: at(24*time.Hour+time.Second, http.TimeFormat), present: false},
		{name: "RFC 3339 is no HTTP date", ra: now.Add(time.Minute).Format(time.RFC3339), present: false},
		{name: "date with a bad month", ra: "Sat, 28 Foo 2026 13:01:00 GMT", present: false},

		{name: "ms", ms: "1500", want: 1500 * time.Millisecond, present: true},
		{name: "ms zero", ms: "0", want: 0, present: true},
		{name: "ms fraction", ms: "1.5", want: 1500 * time.Microsecond, present: true},
		{name: "ms fraction below float64's reach", ms: "1.001", want: 1001 * time.Microsecond, present: true},
		{name: "ms fraction of a second", ms: "1234.567", want: 1234567 * time.Microsecond, present: true},
		{name: "ms nanosecond", ms: "0.000001", want: 1, present: true},
		{name: "ms below a nanosecond", ms: "0.0000009", want: 0, present: true},
		{name: "ms with spaces", ms: " 250 ", want: 250 * time.Millisecond, present: true},
		{name: "ms exactly 24 hours", ms: "86400000", want: 24 * time.Hour, present: true},
		{name: "ms exactly 24 hours with zero decimals", ms: "86400000.000000000", want: 24 * time.Hour, present: true},
		{name: "ms takes precedence", ms: "250", ra: "120", want: 250 * time.Millisecond, present: true},
		{name: "ms takes precedence over a date", ms: "0.5", ra: at(time.Minute, http.TimeFormat), want: 500 * time.Microsecond, present: true},
		{name: "ms over 24 hours falls back", ms: "86400001", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms a hair over 24 hours falls back", ms: "86400000.0000001", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms beyond int64 falls back", ms: "99999999999999999999999", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms over 24 hours alone", ms: "86400001", present: false},
		{name: "ms whose fraction takes it over 24 hours falls back", ms: "86400000.5", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms whose fraction takes it over 24 hours alone", ms: "86400000.000001", present: false},
		{name: "ms with a fraction just under 24 hours", ms: "86399999.9999999", want: 24*time.Hour - 1, present: true},
		{name: "ms negative falls back", ms: "-5", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms plus sign falls back", ms: "+5", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms word falls back", ms: "soon", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms exponent falls back", ms: "1e3", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms NaN falls back", ms: "NaN", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms Inf falls back", ms: "Inf", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms leading dot falls back", ms: ".5", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms trailing dot falls back", ms: "5.", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms two dots falls back", ms: "1.2.3", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms hex falls back", ms: "0x10", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms underscore falls back", ms: "1_000", ra: "3", want: 3 * time.Second, present: true},
		{name: "ms invalid, Retry-After junk", ms: "soon", ra: "later", present: false},
		{name: "ms invalid alone", ms: "-1", present: false},
		{name: "ms only spaces falls back", ms: "  ", ra: "3", want: 3 * time.Second, present: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.ms != "" {
				h.Set("retry-after-ms", tc.ms)
			}
			if tc.ra != "" {
				h.Set("Retry-After", tc.ra)
			}
			got, ok := backoff.ParseRetryAfter(h, now)
			assert.Equal(t, tc.present, ok, "present")
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseRetryAfterNilHeader(t *testing.T) {
	got, ok := backoff.ParseRetryAfter(nil, time.Now())
	assert.False(t, ok)
	assert.Zero(t, got)
}

// TestParseRetryAfterFromAResponse reads the headers the way a client gets
// them from the wire, where the names arrive in any case.
func TestParseRetryAfterFromAResponse(t *testing.T) {
	h := http.Header{}
	h.Add("RETRY-AFTER-MS", "750")
	h.Add("retry-after", "2")
	got, ok := backoff.ParseRetryAfter(h, time.Now())
	assert.True(t, ok)
	assert.Equal(t, 750*time.Millisecond, got)
}
