package glmserver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Dialect is the vocabulary of the server's error answers. Like any
// integer, it is safe for concurrent use.
type Dialect uint8

const (
	// ZAI answers as z.ai and Zhipu BigModel do
	// (https://docs.z.ai/api-reference/api-code): a business code, as a
	// string, and a message, {"error":{"code":"1302","message":"..."}}. It is
	// the default, as Open-AutoGLM calls those APIs.
	ZAI Dialect = iota
	// OpenAI answers as OpenAI does
	// (https://developers.openai.com/api/docs/guides/error-codes):
	// {"error":{"message","type","param","code"}}, with the x-ratelimit-*
	// headers of its rate-limit guide on a rate limit and x-should-retry on
	// injected faults.
	OpenAI
)

func (d Dialect) String() string {
	switch d {
	case ZAI:
		return "zai"
	case OpenAI:
		return "openai"
	}
	return "dialect(" + strconv.Itoa(int(d)) + ")"
}

// ParseDialect reads a dialect's name, as String writes it.
func ParseDialect(s string) (Dialect, bool) {
	switch s {
	case "zai":
		return ZAI, true
	case "openai":
		return OpenAI, true
	}
	return 0, false
}

// answer is one kind of error answer, which each dialect words its own way.
type answer uint8

const (
	aNotFound    answer = iota // 404: not the chat completions path
	aMethod                    // 405: not a POST
	aNoKey                     // 401: no API key
	aWrongKey                  // 401: a wrong API key
	aBadRequest                // 400: not a valid chat completion request
	aShutdown                  // 503: the server is closing
	aRateLimit                 // 429: the RateLimit fault
	aUnavailable               // 503: the Unavailable fault
	aServerError               // 500: the ServerError fault
	aAccount                   // 429: the AccountError fault
	aUsageLimit                // 429: the UsageLimit fault
)

// zaiAnswers are the status, business code and message of each answer in
// the ZAI dialect, from z.ai's error-code page.
var zaiAnswers = [...]struct {
	status  int
	code    string
	message string
}{
	aNotFound:    {http.StatusNotFound, "1222", "API does not exist"},
	aMethod:      {http.StatusMethodNotAllowed, "1210", "Incorrect API call parameters, please check the documentation"},
	aNoKey:       {http.StatusUnauthorized, "1001", "Authentication parameter not received in Header, unable to authenticate"},
	aWrongKey:    {http.StatusUnauthorized, "1002", "Invalid Authentication Token, please confirm the correct transmission of the Authentication Token"},
	aBadRequest:  {http.StatusBadRequest, "1210", "Incorrect API call parameters, please check the documentation"},
	aShutdown:    {http.StatusServiceUnavailable, "500", "Internal Error"},
	aRateLimit:   {http.StatusTooManyRequests, "1302", "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits"},
	aUnavailable: {http.StatusServiceUnavailable, "1305", "The service may be temporarily overloaded, please try again later"},
	aServerError: {http.StatusInternalServerError, "500", "Internal Error"},
	aAccount:     {http.StatusTooManyRequests, "1113", "Your account is in arrears, please recharge and try again"},
	aUsageLimit:  {http.StatusTooManyRequests, "1308", "Usage limit reached for 5 hour. Your limit will reset at "},
}

// openAIAnswers are the status, type, code ("" for null) and message of
// each answer in the OpenAI dialect, from OpenAI's error-code guide.
var openAIAnswers = [...]struct {
	status         int
	typ, code, msg string
}{
	aNotFound:    {http.StatusNotFound, "invalid_request_error", "", "Invalid URL"},
	aMethod:      {http.StatusMethodNotAllowed, "invalid_request_error", "", "Invalid method: use POST"},
	aNoKey:       {http.StatusUnauthorized, "invalid_request_error", "", "You didn't provide an API key."},
	aWrongKey:    {http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."},
	aBadRequest:  {http.StatusBadRequest, "invalid_request_error", "", "Invalid request"},
	aShutdown:    {http.StatusServiceUnavailable, "server_error", "", "The server is shutting down."},
	aRateLimit:   {http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "Rate limit reached for requests."},
	aUnavailable: {http.StatusServiceUnavailable, "server_error", "", "The engine is currently overloaded, please try again later."},
	aServerError: {http.StatusInternalServerError, "server_error", "", "The server had an error while processing your request."},
	aAccount:     {http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota", "You exceeded your current quota, please check your plan and billing details."},
	aUsageLimit:  {http.StatusTooManyRequests, "tokens", "rate_limit_exceeded", "Rate limit reached for tokens."},
}

// fail writes answer a in the server's dialect; detail, if any, is added to
// the message.
func (s *Server) fail(w http.ResponseWriter, a answer, detail string) {
	h := w.Header()
	var status int
	var body []byte
	if s.cfg.Dialect == OpenAI {
		o := openAIAnswers[a]
		status = o.status
		msg := o.msg
		if detail != "" {
			msg += " " + detail
		}
		var code any // null
		if o.code != "" {
			code = o.code
		}
		body, _ = json.Marshal(map[string]any{"error": map[string]any{
			"message": msg, "type": o.typ, "param": nil, "code": code,
		}})
		s.openAIHeaders(h, a)
	} else {
		z := zaiAnswers[a]
		status = z.status
		msg := z.message
		switch {
		case a == aUsageLimit:
			msg += s.usageReset().UTC().Add(beijing).Format("2006-01-02 15:04:05")
		case detail != "":
			msg += ": " + detail
		}
		body, _ = json.Marshal(map[string]any{
			"error":      map[string]any{"code": z.code, "message": msg},
			"request_id": "glm-" + strconv.FormatInt(s.nextErrID.Add(1), 10),
		})
	}
	if a == aRateLimit || a == aUnavailable {
		s.setRetryAfter(h)
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// beijing is the offset of the times z.ai prints, without a zone.
const beijing = 8 * time.Hour

// usageReset is when a usage limit hit now resets: UsageReset ahead,
// rounded up to a whole second, as the message has no fraction.
func (s *Server) usageReset() time.Time {
	return time.Now().Add(s.cfg.Faults.UsageReset + time.Second - 1).Truncate(time.Second)
}

// openAIHeaders adds the headers OpenAI sends with an answer: x-should-retry
// on the injected faults, true but on an account error, and on a rate
// limit the x-ratelimit-* of the limit that ran out, whose reset is the
// configured wait (none with RetryAfterNone).
func (s *Server) openAIHeaders(h http.Header, a answer) {
	switch a {
	case aRateLimit, aUnavailable, aServerError, aUsageLimit:
		h.Set("x-should-retry", "true")
	case aAccount:
		h.Set("x-should-retry", "false")
	}
	switch a {
	case aRateLimit:
		h.Set("x-ratelimit-limit-requests", "500")
		h.Set("x-ratelimit-remaining-requests", "0")
		if s.cfg.Faults.RetryAfterForm != RetryAfterNone {
			h.Set("x-ratelimit-reset-requests", s.cfg.Faults.RetryAfter.String())
		}
	case aUsageLimit:
		h.Set("x-ratelimit-limit-tokens", "30000")
		h.Set("x-ratelimit-remaining-tokens", "0")
		h.Set("x-ratelimit-reset-tokens", s.cfg.Faults.UsageReset.String())
	}
}
