package llm

import (
	"net/http"
	"strings"
	"time"

	"github.com/backoff-go/backoff"
)

// maxWait bounds a wait that a server asks for, as backoff.ParseRetryAfter
// does: a reset more than a day away is treated as absent.
const maxWait = 24 * time.Hour

// Delay is the least wait before the next attempt that a failed response,
// in err's [*backoff.StatusError], asks for; [Options] hands it to
// [backoff.WithServerDelay], and Retry then waits at least that long, or
// stops at once with backoff.ErrDeadline when the wait would end past the
// deadline. It is the largest of:
//
//   - Retry-After and retry-after-ms, read by [backoff.ParseRetryAfter] on any
//     status (Transport reads them only on 429 and 503);
//   - for each of requests and tokens, the x-ratelimit-reset-* duration
//     ("1s", "6m0s", "20ms") when the matching x-ratelimit-remaining-* is 0:
//     OpenAI's rate-limit headers
//     (https://developers.openai.com/api/docs/guides/rate-limits);
//   - for z.ai's usage limits (1304, 1308, 1310), the time until the reset in
//     the message ("... will reset at 2026-08-25 07:41:44", or "将在 ...
//     重置"). A time without a zone is Beijing time (UTC+8), where z.ai and
//     BigModel print it. It is measured from the response's Date header,
//     the server's own clock, or from now when there is none.
//
// A reset in the past is no wait (0); one more than 24 hours away, a
// negative or malformed value, is not present. Delay is 0 for an error
// without a StatusError. It is safe for concurrent use.
func Delay(err error, now time.Time) time.Duration {
	se := statusError(err)
	if se == nil {
		return 0
	}
	var d time.Duration
	if date, ok := responseDate(se.Header); ok {
		now = date
	}
	if ra, ok := backoff.ParseRetryAfter(se.Header, now); ok {
		d = ra
	}
	d = max(d, rateLimitWait(se.Header))
	if e, ok := readBody(se); ok {
		if n, ok := zaiCode(e.code); ok && (n == 1304 || n == 1308 || n == 1310) {
			if reset, ok := messageReset(e.message); ok {
				if w := reset.Sub(now); w > 0 && w <= maxWait {
					d = max(d, w)
				}
			}
		}
	}
	return d
}

// rateLimitWait is the longest x-ratelimit-reset-* wait among the limits
// whose x-ratelimit-remaining-* is 0.
func rateLimitWait(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	var d time.Duration
	if strings.TrimSpace(h.Get("X-Ratelimit-Remaining-Requests")) == "0" {
		d = resetDuration(h.Get("X-Ratelimit-Reset-Requests"))
	}
	if strings.TrimSpace(h.Get("X-Ratelimit-Remaining-Tokens")) == "0" {
		d = max(d, resetDuration(h.Get("X-Ratelimit-Reset-Tokens")))
	}
	return d
}

// resetDuration reads an x-ratelimit-reset-* value, a Go duration such as
// "6m0s"; 0 for a missing, signed or malformed one, or one over a day.
func resetDuration(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" || !(v[0] >= '0' && v[0] <= '9' || v[0] == '.') {
		return 0 // time.ParseDuration would accept a sign
	}
	d, err := time.ParseDuration(v)
	if err != nil || d > maxWait {
		return 0
	}
	return d
}

// messageReset finds the first date and time ("2006-01-02 15:04:05", or
// with a T, optional fraction of a second and optional zone: Z, +08:00,
// +0800) in a raw message. A time without a zone is UTC+8.
func messageReset(msg []byte) (time.Time, bool) {
	for i := 0; i+19 <= len(msg); i++ {
		if t, ok := parseStamp(msg[i:]); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// beijing is the offset of the time z.ai and BigModel print; China has kept
// UTC+8 without summer time since 1991. The 1308 body is
// {"error":{"code":"1308","message":"已达到 5 小时的使用上限。您的限额将在
// 2026-08-25 07:41:44 重置。"}} (https://github.com/dirge-code/dirge/issues/818),
// and clients that read its time as UTC woke 8 hours late
// (https://github.com/diegosouzapw/OmniRoute/issues/14479,
// https://github.com/can1357/oh-my-pi/issues/11014).
const beijing = 8 * time.Hour

func parseStamp(b []byte) (time.Time, bool) {
	num := func(at, n int) (int, bool) {
		v := 0
		for _, c := range b[at : at+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	if b[4] != '-' || b[7] != '-' || (b[10] != ' ' && b[10] != 'T') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec, scale := 0, int(time.Second)
	if len(rest) > 1 && rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9' {
		rest = rest[1:]
		for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
			if scale > 1 {
				scale /= 10
				nsec += int(rest[0]-'0') * scale
			}
			rest = rest[1:]
		}
	}
	offset := beijing
	switch {
	case len(rest) > 0 && (rest[0] == 'Z' || rest[0] == 'z'):
		offset = 0
	case len(rest) >= 5 && (rest[0] == '+' || rest[0] == '-'):
		zone, at := rest[1:], 2 // +0800
		if zone[2] == ':' {
			at = 3 // +08:00
		}
		hh, okh := zoneNum(zone, 0)
		mm, okm := zoneNum(zone, at)
		if okh && okm && hh <= 14 && mm <= 59 {
			offset = time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute
			if rest[0] == '-' {
				offset = -offset
			}
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // February 30th and the like
	}
	return t.Add(-offset), true
}

func zoneNum(z []byte, at int) (int, bool) {
	if len(z) < at+2 || z[at] < '0' || z[at] > '9' || z[at+1] < '0' || z[at+1] > '9' {
		return 0, false
	}
	return int(z[at]-'0')*10 + int(z[at+1]-'0'), true
}

// responseDate reads the response's Date header: the server's clock, which
// also printed the reset time, so that a skewed local clock does not skew
// the wait. It reads IMF-fixdate ("Mon, 02 Jan 2006 15:04:05 GMT", what
// servers must send) by hand, without the allocation of time.Parse, and the
// older forms through http.ParseTime.
func responseDate(h http.Header) (time.Time, bool) {
	v := h.Get("Date")
	if v == "" {
		return time.Time{}, false
	}
	if t, ok := imfFixdate(v); ok {
		return t, true
	}
	t, err := http.ParseTime(v)
	return t, err == nil
}

func imfFixdate(v string) (time.Time, bool) {
	if len(v) != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' ||
		v[16] != ' ' || v[19] != ':' || v[22] != ':' || v[25:] != " GMT" {
		return time.Time{}, false
	}
	month := 0
	for i, m := range [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"} {
		if v[8:11] == m {
			month = i + 1
		}
	}
	digits := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	day, ok1 := digits(v[5:7])
	year, ok2 := digits(v[12:16])
	hour, ok3 := digits(v[17:19])
	minute, ok4 := digits(v[20:22])
	sec, ok5 := digits(v[23:25])
	if month == 0 || !(ok1 && ok2 && ok3 && ok4 && ok5) || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}
