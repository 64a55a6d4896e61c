package llm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/glmserver"
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

// A client for a model API: llm's options after a preset. An exhausted
// balance costs one attempt, and a usage limit that resets after the
// request's deadline is refused at once rather than waited for (a wait of 5
// hours would end past the minute); the caller gets each 429 with its body
// whole. (With openai-go, also turn its own retries off:
// option.WithMaxRetries(0).)
func ExampleOptions() {
	srv, err := glmserver.Start(glmserver.Config{
		Script: []glmserver.Fault{glmserver.AccountError, glmserver.UsageLimit},
		Faults: glmserver.Faults{UsageReset: 5 * time.Hour},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	client := backoff.NewClient(backoff.Production(), llm.Options())
	defer client.CloseIdleConnections()

	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+glmserver.Path,
			strings.NewReader(`{"model":"glm-4.5","messages":[{"role":"user","content":"open the camera"}]}`))
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			cancel()
			return
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		cancel()
		fmt.Printf("%d %s %.28q\n", resp.StatusCode, e.Error.Code, e.Error.Message)
	}
	fmt.Println("attempts:", srv.Stats().Requests)
	// Output:
	// 429 1113 "Your account is in arrears, "
	// 429 1308 "Usage limit reached for 5 ho"
	// attempts: 2
}
