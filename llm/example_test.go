package llm_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/llm"
)

// Three 429s that need opposite answers: z.ai's concurrency limit is
// retried, its usage limit waits until the reset it names, and an exhausted
// balance is never retried.
func ExampleClassify() {
	date := "Tue, 01 Dec 2026 23:00:00 GMT" // 07:00 in Beijing, where z.ai prints its times
	for _, body := range []string{
		`{"error":{"code":"1302","message":"High concurrency usage of this API, please reduce concurrency"}}`,
		`{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at 2026-12-02 08:30:00"}}`,
		`{"error":{"code":"1113","message":"Your account is in arrears, please recharge and try again"}}`,
	} {
		err := &backoff.StatusError{
			Code:   http.StatusTooManyRequests,
			Header: http.Header{"Content-Type": {"application/json"}, "Date": {date}},
			Body:   []byte(body),
		}
		fmt.Println(backoff.Classify(err), "->", llm.Classify(err), llm.Delay(err, time.Now()))
	}
	// Output:
	// temporary -> temporary 0s
	// temporary -> temporary 1h30m0s
	// temporary -> permanent 0s
}

// An OpenAI client whose 429s are classified by their body: give llm's
// options after a preset, and turn the SDK's own retries off
// (openai-go: option.WithMaxRetries(0)).
func ExampleOptions() {
	client := backoff.NewClient(backoff.Production(), llm.Options())
	fmt.Println(client.Transport != nil)
	// Output: true
}
