package llm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/llm"
)

// zai is a z.ai / BigModel error body, in the shape those APIs send
// (https://docs.z.ai/api-reference/api-code): the business code as a string.
func zai(code, message string) string {
	return `{"error":{"code":"` + code + `","message":"` + message + `"},"request_id":"20261201221033a1b2c3d4e5f64a7b"}`
}

// openAI is an OpenAI error body
// (https://developers.openai.com/api/docs/guides/error-codes): code and
// param may be null, written here as "null".
func openAI(message, typ, code string) string {
	if code != "null" {
		code = `"` + code + `"`
	}
	return `{"error":{"message":"` + message + `","type":"` + typ + `","param":null,"code":` + code + `}}`
}

// status builds what Transport hands the classifier: the status, its
// Retry-After (read on 429 and 503 only), the header and the body.
func status(code int, body string, header ...string) *backoff.StatusError {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	se := &backoff.StatusError{Code: code, Header: h, Body: []byte(body)}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		se.RetryAfter, _ = backoff.ParseRetryAfter(h, time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC))
	}
	return se
}

const (
	transient = backoff.Transient
	temporary = backoff.Temporary
	permanent = backoff.Permanent
)

// date is the Date header of the responses whose reset times are measured:
// 2026-12-01 23:00:00 UTC, which is 2026-12-02 07:00:00 in Beijing.
const date = "Tue, 01 Dec 2026 23:00:00 GMT"

// TestClassifyZAI has one case per business code of z.ai's error-code page
// (https://docs.z.ai/api-reference/api-code; the same codes in Chinese at
// https://docs.bigmodel.cn/cn/api/api-code), with the HTTP status that the
// page gives for its kind.
func TestClassifyZAI(t *testing.T) {
	tests := []struct {
		name string
		err  *backoff.StatusError
		want backoff.Class
	}{
		{"500 internal error", status(500, zai("500", "Internal Error")), transient},
		{"1000 authentication failed", status(401, zai("1000", "Authentication Failed")), permanent},
		{"1001 no authentication header", status(401, zai("1001", "Authentication parameter not received in Header, unable to authenticate")), permanent},
		{"1002 invalid token", status(401, zai("1002", "Invalid Authentication Token, please confirm the correct transmission of the Authentication Token")), permanent},
		{"1003 token expired", status(401, zai("1003", "Authentication Token expired, please regenerate/obtain")), permanent},
		{"1004 token rejected", status(401, zai("1004", "Authentication failed with the provided Authentication Token")), permanent},
		{"1110 account inactive", status(429, zai("1110", "Your account is currently inactive. Please check your account information")), permanent},
		{"1111 no account", status(429, zai("1111", "Your account does not exist")), permanent},
		{"1112 account locked", status(429, zai("1112", "Your account has been locked, please contact customer service to unlock")), permanent},
		{"1113 in arrears on 429", status(429, zai("1113", "Your account is in arrears, please recharge and try again")), permanent},
		{"1113 in arrears, Chinese", status(429, zai("1113", "您的账户已欠费,请充值后重试")), permanent},
		{"1120 account unreachable", status(429, zai("1120", "Unable to successfully access your account, please try again later")), transient},
		{"1121 irregular activity", status(429, zai("1121", "Account has irregular activities and has been locked")), permanent},
		{"1210 bad parameters", status(400, zai("1210", "Incorrect API call parameters, please check the documentation")), permanent},
		{"1211 no such model", status(400, zai("1211", "Model does not exist, please check the model code")), permanent},
		{"1212 method unsupported", status(400, zai("1212", "Current model does not support sse call method")), permanent},
		{"1213 missing field", status(400, zai("1213", "messages parameter not received properly")), permanent},
		{"1214 invalid field", status(400, zai("1214", "Invalid messages parameter. Please check the documentation")), permanent},
		{"1215 exclusive fields", status(400, zai("1215", "temperature and top_p cannot be set simultaneously, please check the documentation")), permanent},
		{"1220 no permission", status(403, zai("1220", "You do not have permission to access glm-4.5")), permanent},
		{"1221 API offline", status(404, zai("1221", "API glm-3 has been taken offline")), permanent},
		{"1222 no such API", status(404, zai("1222", "API foo does not exist")), permanent},
		{"1261 prompt too long", status(400, zai("1261", "Prompt 超长")), permanent},
		{"1300 blocked by policy", status(400, zai("1300", "API call blocked by policy")), permanent},
		{"1301 unsafe content", status(400, zai("1301", "System detected potentially unsafe or sensitive content in input or generation.")), permanent},
		{"1302 concurrency", status(429, zai("1302", "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits")), temporary},
		{"1302 as a number", status(429, `{"error":{"code":1302,"message":"Rate limit reached for requests"}}`), temporary},
		{"1303 frequency", status(429, zai("1303", "High frequency usage of this API, please reduce frequency or contact customer service to increase limits")), temporary},
		{"1304 daily limit, no reset", status(429, zai("1304", "The daily call limit for this API has been reached")), permanent},
		{"1304 daily limit, Retry-After", status(429, zai("1304", "The daily call limit for this API has been reached"), "Retry-After", "3600"), temporary},
		{"1305 traffic limit", status(429, zai("1305", "The service may be temporarily overloaded, please try again later")), temporary},
		{"1308 usage limit, reset in the message", status(429, zai("1308", "Usage limit reached for 5 hour. Your limit will reset at 2026-12-02 08:00:00"), "Date", date), temporary},
		{"1308 usage limit, Chinese", status(429, zai("1308", "已达到 5 小时的使用上限。您的限额将在 2026-12-02 08:00:00 重置。"), "Date", date), temporary},
		{"1308 usage limit, reset passed", status(429, zai("1308", "Usage limit reached for 5 hour. Your limit will reset at 2026-12-02 06:00:00"), "Date", date), temporary},
		{"1308 usage limit, no Date header", status(429, zai("1308", "Usage limit reached for 5 hour. Your limit will reset at 2026-12-02 08:00:00")), temporary},
		{"1308 usage limit, no reset time", status(429, zai("1308", "Usage limit reached for 5 hour.")), permanent},
		{"1308 usage limit, reset 3 days away", status(429, zai("1308", "Usage limit reached. Your limit will reset at 2026-12-05 08:00:00"), "Date", date), permanent},
		{"1309 plan expired", status(429, zai("1309", "Your GLM Coding Plan package has expired")), permanent},
		{"1310 weekly limit, reset in 20 h", status(429, zai("1310", "Weekly/Monthly Limit Exhausted. Your limit will reset at 2026-12-02T19:00:00Z"), "Date", date), temporary},
		{"1310 weekly limit, reset in 4 days", status(429, zai("1310", "Weekly/Monthly Limit Exhausted. Your limit will reset at 2026-12-06 00:00:00"), "Date", date), permanent},
		{"1311 plan lacks the model", status(429, zai("1311", "Your current plan does not include glm-5")), permanent},
		{"1312 model busy", status(429, zai("1312", "This model is under heavy load, please try again later")), temporary},
		{"1313 fair use", status(429, zai("1313", "Your account's current usage pattern does not comply with the Fair Usage Policy")), permanent},
		{"unknown code on 429", status(429, zai("1999", "something new")), temporary},
		{"unknown code on 400", status(400, zai("1999", "something new")), permanent},
		{"unknown code on 502", status(502, zai("1999", "something new")), transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, llm.Classify(tt.err))
			assert.Equal(t, tt.want, llm.Classify(fmt.Errorf("chat: %w", tt.err)), "through wrapping")
		})
	}
}

// TestClassifyOpenAI has one case per error of OpenAI's error-code guide
// (https://developers.openai.com/api/docs/guides/error-codes) and of its
// billing help (https://help.openai.com/en/articles/6614457), with the
// bodies the API sends.
func TestClassifyOpenAI(t *testing.T) {
	const quota = "You exceeded your current quota, please check your plan and billing details."
	tests := []struct {
		name string
		err  *backoff.StatusError
		want backoff.Class
	}{
		{"401 invalid authentication", status(401, openAI("Invalid Authentication", "invalid_request_error", "null")), permanent},
		{"401 invalid_api_key", status(401, openAI("Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")), permanent},
		{"401 account_deactivated", status(401, openAI("The OpenAI account associated with this API key has been deactivated.", "invalid_request_error", "account_deactivated")), permanent},
		{"403 unsupported country", status(403, openAI("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory")), permanent},
		{"429 insufficient_quota", status(429, openAI(quota, "insufficient_quota", "insufficient_quota")), permanent},
		{"429 insufficient_quota type, null code", status(429, openAI(quota, "insufficient_quota", "null")), permanent},
		{"429 credit_balance_exhausted", status(429, openAI(quota, "insufficient_quota", "credit_balance_exhausted")), permanent},
		{"429 organization_spend_limit_exceeded", status(429, openAI(quota, "insufficient_quota", "organization_spend_limit_exceeded")), permanent},
		{"429 project_spend_limit_exceeded", status(429, openAI(quota, "insufficient_quota", "project_spend_limit_exceeded")), permanent},
		{"429 organization_usage_limit_exceeded", status(429, openAI(quota, "insufficient_quota", "organization_usage_limit_exceeded")), permanent},
		{"429 billing_not_active", status(429, openAI("Your account is not active, please check your billing details on our website.", "billing_not_active", "billing_not_active")), permanent},
		{"429 access_terminated", status(429, openAI("Your access was terminated due to violation of our policies, please check your email for more information.", "access_terminated", "null")), permanent},
		{"400 billing_hard_limit_reached", status(400, openAI("Billing hard limit has been reached", "invalid_request_error", "billing_hard_limit_reached")), permanent},
		{"429 rate_limit_exceeded, requests", status(429, openAI("Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1.", "requests", "rate_limit_exceeded")), temporary},
		{"429 rate_limit_exceeded, tokens", status(429, openAI("Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.", "tokens", "rate_limit_exceeded")), temporary},
		{"429 slow_down", status(429, openAI("Please reduce your rate of requests.", "rate_limit_error", "slow_down")), temporary},
		{"400 rate_limit_exceeded", status(400, openAI("Rate limit reached", "requests", "rate_limit_exceeded")), temporary},
		{"400 invalid_request_error", status(400, openAI("Invalid service_tier argument", "invalid_request_error", "null")), permanent},
		{"409 conflict", status(409, openAI("The request conflicted with another request.", "invalid_request_error", "null")), transient},
		{"500 server_error", status(500, openAI("The server had an error while processing your request. Sorry about that!", "server_error", "null")), transient},
		{"503 overloaded", status(503, openAI("The engine is currently overloaded, please try again later.", "server_error", "null")), temporary},
		{"account error beats a rate limit", status(429, openAI(quota, "requests", "insufficient_quota")), permanent},
		{"escaped code", status(429, `{"error":{"message":"quota","type":"x","code":"\u0069nsufficient\u005fquota"}}`), permanent},
		{"vLLM shape, numeric HTTP code", status(400, `{"object":"error","message":"max_tokens too large","type":"BadRequestError","param":null,"code":400}`), permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, llm.Classify(tt.err))
		})
	}
}

// TestClassifyHeaders has one case per header rule: x-should-retry, as
// OpenAI's SDKs read it, before the body and the status.
func TestClassifyHeaders(t *testing.T) {
	quota := openAI("You exceeded your current quota.", "insufficient_quota", "insufficient_quota")
	tests := []struct {
		name string
		err  *backoff.StatusError
		want backoff.Class
	}{
		{"false on a 429", status(429, zai("1302", "busy"), "X-Should-Retry", "false"), permanent},
		{"false on a 500", status(500, "", "X-Should-Retry", "false"), permanent},
		{"true on a 400", status(400, openAI("bad", "invalid_request_error", "null"), "X-Should-Retry", "true"), transient},
		{"true on a 401", status(401, "", "X-Should-Retry", "true"), transient},
		{"true on an account error's 429", status(429, quota, "X-Should-Retry", "true"), temporary},
		{"true on a 503", status(503, "", "X-Should-Retry", "true"), temporary},
		{"true with a rate-limit code", status(400, openAI("slow", "rate_limit_error", "slow_down"), "X-Should-Retry", "true"), temporary},
		{"true, spelled True", status(404, "", "X-Should-Retry", " True "), transient},
		{"junk is ignored", status(429, quota, "X-Should-Retry", "maybe"), permanent},
		{"exhausted rate limit does not change the class", status(400, openAI("bad", "invalid_request_error", "null"),
			"X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "1s"), permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, llm.Classify(tt.err))
		})
	}
}

// TestClassifyFallsBack shows every input the rules cannot read falling back
// to backoff.Classify of the status, and what lies around a status deciding
// first.
func TestClassifyFallsBack(t *testing.T) {
	quota := openAI("You exceeded your current quota.", "insufficient_quota", "insufficient_quota")
	long := `{"error":{"message":"` + strings.Repeat("x", 5000) + `","type":"insufficient_quota","code":"insufficient_quota"}}`
	html := status(429, quota)
	html.Header.Set("Content-Type", "text/html")
	noHeader := &backoff.StatusError{Code: 429, Body: []byte(quota)}
	tests := []struct {
		name string
		err  error
		want backoff.Class
	}{
		{"no status", errors.New("connection reset"), transient},
		{"nil", nil, transient},
		{"empty body", status(429, ""), temporary},
		{"malformed JSON", status(429, `{"error":{"code":"insufficient_quota"`), temporary},
		{"trailing junk", status(429, quota+"x"), temporary},
		{"cut at 4 KiB", status(429, long[:4096]), temporary},
		{"wrong Content-Type", html, temporary},
		{"no header at all", noHeader, permanent},
		{"error is a string", status(429, `{"error":"insufficient_quota"}`), temporary},
		{"error is null", status(429, `{"error":null}`), temporary},
		{"array body", status(429, `[{"error":{"code":"insufficient_quota"}}]`), temporary},
		{"deep nesting", status(429, `{"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`,"error":{"code":"insufficient_quota"}}`), temporary},
		{"Mark wins", backoff.Mark(status(429, quota), backoff.Transient), transient},
		{"RetryAfter around an account error", backoff.RetryAfter(time.Second, status(400, zai("1113", "arrears"))), temporary},
		{"canceled", errors.Join(context.Canceled, status(429, zai("1302", "busy"))), permanent},
		{"409 without a body", status(409, ""), transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, llm.Classify(tt.err))
		})
	}
}
