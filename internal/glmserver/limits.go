package glmserver

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits are the caps that the server enforces, as a model API does per API
// key: how many requests may be in progress at once (a stream counts until
// its last event), and how many may start per second, through a token
// bucket. A request over a cap is answered 429 in z.ai's shape, with code
// 1302 (concurrency) or 1303 (rate), and a Retry-After. The zero Limits caps
// nothing. A Limits is a plain value, safe to read concurrently.
type Limits struct {
	Concurrency int     // requests in progress at once; 0: no cap
	Rate        float64 // requests per second, refilled continuously; 0: no cap
	// Burst is how many requests the bucket holds: how many may start at
	// once after an idle spell; default ⌈Rate⌉, a second's worth.
	Burst int
	// RetryAfter is the wait that a 1302 asks for (how long until a slot is
	// free cannot be known); default 1s. A 1303 asks for the time until the
	// bucket has a token, which it knows exactly.
	RetryAfter time.Duration
}

// Validate reports negative or NaN caps.
func (l Limits) Validate() error {
	if l.Concurrency < 0 || l.Burst < 0 || l.RetryAfter < 0 {
		return errors.New("glmserver: negative Concurrency, Burst or RetryAfter in Limits")
	}
	if !(l.Rate >= 0) || math.IsInf(l.Rate, 0) {
		return errors.New("glmserver: Limits.Rate must be a finite number ≥ 0")
	}
	return nil
}

// LimitStats counts the requests refused by [Limits], by cap. They are also
// counted in [Stats].RateLimited. A LimitStats is a snapshot, a plain value.
type LimitStats struct {
	Concurrency int64 // 429 with code 1302
	Rate        int64 // 429 with code 1303
	Peak        int   // the most requests in progress at once that the caps let in
}

// limiter enforces the Limits. Its time is time.Now, so that it runs on the
// fake clock of a testing/synctest bubble; it starts no goroutine.
type limiter struct {
	mu       sync.Mutex // protects everything below
	l        Limits
	inFlight int
	tokens   float64
	last     time.Time // when tokens was last brought up to date
	stats    LimitStats
}

// SetLimits puts l in force from now on; it may be called at any time, also
// while requests are in progress (a lowered concurrency refuses new requests
// until enough of those have ended). The bucket keeps its tokens, up to the
// new Burst. It returns an error, and changes nothing, when l is invalid.
func (s *Server) SetLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if l.Burst == 0 {
		l.Burst = max(1, int(math.Ceil(l.Rate)))
	}
	if l.RetryAfter == 0 {
		l.RetryAfter = time.Second
	}
	m := &s.limits
	m.mu.Lock()
	defer m.mu.Unlock()
	t := time.Now()
	m.refill(t)
	if m.l.Rate == 0 {
		m.tokens = float64(l.Burst) // a bucket that was off starts full
	}
	m.l = l
	m.tokens = min(m.tokens, float64(l.Burst))
	m.last = t
	return nil
}

// Limits returns the caps in force, with their defaults filled in.
func (s *Server) Limits() Limits {
	s.limits.mu.Lock()
	defer s.limits.mu.Unlock()
	return s.limits.l
}

// LimitStats returns what the caps have refused so far.
func (s *Server) LimitStats() LimitStats {
	s.limits.mu.Lock()
	defer s.limits.mu.Unlock()
	return s.limits.stats
}

func (m *limiter) refill(t time.Time) {
	if m.l.Rate > 0 {
		m.tokens = min(m.tokens+t.Sub(m.last).Seconds()*m.l.Rate, float64(m.l.Burst))
	}
	m.last = t
}

// admit lets a request in, or answers it with a 429 and reports false. A
// request let in must call release when it ends.
func (s *Server) admit(w http.ResponseWriter) bool {
	m := &s.limits
	m.mu.Lock()
	t := time.Now()
	m.refill(t)
	var code string
	var wait time.Duration
	switch {
	case m.l.Concurrency > 0 && m.inFlight >= m.l.Concurrency:
		code, wait = "1302", m.l.RetryAfter
		m.stats.Concurrency++
	case m.l.Rate > 0 && m.tokens < 1:
		code = "1303"
		wait = time.Duration(math.Ceil((1 - m.tokens) / m.l.Rate * float64(time.Second)))
		m.stats.Rate++
	default:
		if m.l.Rate > 0 {
			m.tokens--
		}
		m.inFlight++
		m.stats.Peak = max(m.stats.Peak, m.inFlight)
		m.mu.Unlock()
		return true
	}
	m.mu.Unlock()
	s.counts[cRateLimited].Add(1)
	writeLimited(w, code, wait)
	return false
}

func (s *Server) release() {
	s.limits.mu.Lock()
	s.limits.inFlight--
	s.limits.mu.Unlock()
}

// The messages of z.ai's 1302 and 1303, in English.
var limitMessages = map[string]string{
	"1302": "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits",
	"1303": "High frequency usage of this API, please reduce frequency or contact customer service to increase limits",
}

// writeLimited answers 429 as z.ai does for its concurrency and rate
// limits, with the wait as retry-after-ms and as Retry-After in whole
// seconds, rounded up so that a client never waits less than asked.
func writeLimited(w http.ResponseWriter, code string, wait time.Duration) {
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": limitMessages[code]}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("retry-after-ms", strconv.FormatInt(max(wait.Milliseconds(), 1), 10))
	h.Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(body)
}
