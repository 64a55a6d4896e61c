package llm_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/llm"
)

// FuzzClassify feeds Classify and Delay arbitrary bodies and headers: they
// must never panic, must return a known class and a wait in [0, 24h], and a
// body that encoding/json calls invalid must leave the class to the status.
func FuzzClassify(f *testing.F) {
	seeds := []struct {
		code                     int
		body, ct, retry, rem, rs string
	}{
		{429, zai("1302", "busy"), "application/json", "", "", ""},
		{429, zai("1308", "Your limit will reset at 2026-12-02 08:00:00"), "application/json", "", "", ""},
		{429, zai("1310", "reset at 2026-12-02T08:00:00.123+08:00"), "application/json", "", "", ""},
		{429, openAI("quota", "insufficient_quota", "insufficient_quota"), "application/json; charset=utf-8", "", "", ""},
		{429, openAI("rate", "tokens", "rate_limit_exceeded"), "application/json", "true", "0", "6m0s"},
		{400, `{"error":{"code":"\u0069nsufficient_quota"}}`, "", "false", "0", "-1s"},
		{500, `{"error":{"code":1302,"x":[1,{"y":null},-0.5e+3,true]}}`, "text/html", "", "", ""},
		{409, `{"error":`, "application/problem+json", "maybe", "0", "99999h"},
	}
	for _, s := range seeds {
		f.Add(s.code, []byte(s.body), s.ct, s.retry, s.rem, s.rs)
	}
	now := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, code int, body []byte, ct, shouldRetry, remaining, reset string) {
		h := http.Header{}
		for k, v := range map[string]string{
			"Content-Type": ct, "X-Should-Retry": shouldRetry,
			"X-Ratelimit-Remaining-Tokens": remaining, "X-Ratelimit-Reset-Tokens": reset,
			"Date": reset, "Retry-After": reset,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		se := &backoff.StatusError{Code: code, Header: h, Body: body}
		c := llm.Classify(se)
		if c > backoff.Permanent {
			t.Fatalf("class %d", c)
		}
		if d := llm.Delay(se, now); d < 0 || d > 24*time.Hour {
			t.Fatalf("delay %v", d)
		}
		// What encoding/json rejects, the rules must not read: the class
		// is then the status's, as the header leaves it.
		if !json.Valid(body) && h.Get("X-Should-Retry") == "" {
			want := backoff.Classify(&backoff.StatusError{Code: code})
			if code == http.StatusConflict {
				want = backoff.Transient
			}
			if c != want {
				t.Fatalf("invalid JSON %q on %d: %v, want the status's %v", body, code, c, want)
			}
		}
	})
}
