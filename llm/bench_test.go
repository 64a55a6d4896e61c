package llm_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/llm"
)

var sinkClass backoff.Class
var sinkDelay time.Duration

// BenchmarkClassify measures Classify and Delay on the failures Transport
// hands them, next to backoff.Classify on the same errors: each must
// allocate nothing.
func BenchmarkClassify(b *testing.B) {
	h := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "Date": {date}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name string
		err  *backoff.StatusError
	}{
		{"zai-1302", &backoff.StatusError{Code: 429, Header: h(), Body: []byte(zai("1302", "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits"))}},
		{"zai-1308", &backoff.StatusError{Code: 429, Header: h(), Body: []byte(zai("1308", "Usage limit reached for 5 hour. Your limit will reset at 2026-12-02 08:00:00"))}},
		{"openai-quota", &backoff.StatusError{Code: 429, Header: h(), Body: []byte(openAI("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota"))}},
		{"openai-ratelimit", &backoff.StatusError{Code: 429, Header: h("X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "6m0s"),
			Body: []byte(openAI("Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.", "tokens", "rate_limit_exceeded"))}},
		{"no-body-500", &backoff.StatusError{Code: 500, Header: h()}},
	}
	now := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	for _, c := range cases {
		b.Run(c.name+"/backoff.Classify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkClass = backoff.Classify(c.err)
			}
		})
		b.Run(c.name+"/llm.Classify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkClass = llm.Classify(c.err)
			}
		})
		b.Run(c.name+"/llm.Delay", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkDelay = llm.Delay(c.err, now)
			}
		})
	}
	b.Run("zai-1302/llm.Classify/parallel", func(b *testing.B) {
		b.ReportAllocs()
		err := cases[0].err
		b.RunParallel(func(pb *testing.PB) {
			var c backoff.Class
			for pb.Next() {
				c = llm.Classify(err)
			}
			_ = c
		})
	})
}
