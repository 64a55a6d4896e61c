package llm

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/backoff-go/backoff"
)

// Classify is a [backoff.Classifier] for OpenAI-compatible model APIs: it
// reads what the server said in a [*backoff.StatusError]'s Header and Body,
// where backoff.Classify reads only the status. The rules, first match wins:
//
//   - an error without a StatusError, or whose class backoff.Classify finds
//     elsewhere than in its status (a backoff.Mark or RetryAfter around it, a
//     cancelled context, a timeout), has backoff.Classify's class;
//   - the header x-should-retry: false is Permanent, and x-should-retry: true
//     is retried whatever the status, as the official OpenAI SDKs do:
//     Temporary on 429 and 503 or with a rate-limit code, else Transient;
//   - a JSON body {"error": {"code", "type", "message", ...}} with a code or
//     type listed below has that code's class;
//   - a 409 Conflict is Transient (OpenAI's SDKs retry it: a lock timed out);
//   - anything else, including a body that is not well-formed JSON, one cut
//     at 4 KiB, a Content-Type other than JSON and an unknown code, has
//     backoff.Classify's class of the status.
//
// OpenAI (https://developers.openai.com/api/docs/guides/error-codes and
// https://help.openai.com/en/articles/6614457): an account or billing error
// is Permanent even on a 429, since no wait restores the account:
// insufficient_quota, credit_balance_exhausted,
// organization_spend_limit_exceeded, project_spend_limit_exceeded,
// organization_usage_limit_exceeded, billing_hard_limit_reached,
// billing_not_active, access_terminated, account_deactivated,
// invalid_api_key and unsupported_country_region_territory, in either code
// or type. rate_limit_exceeded and slow_down (code), and requests, tokens
// and rate_limit_error (type), are Temporary. An account error in either
// field wins over a rate limit in the other.
//
// z.ai and Zhipu BigModel (https://docs.z.ai/api-reference/api-code and
// https://docs.bigmodel.cn/cn/api/api-code), whose business code comes as a
// string or a number:
//
//   - 1302 (concurrency), 1303 (frequency), 1305 (traffic limit) and 1312
//     (the model is busy, try later) are Temporary;
//   - 1304 (daily limit), 1308 (usage limit of N hours) and 1310 (weekly or
//     monthly limit) are Temporary when the reset time is known (in the
//     message, in Retry-After or in exhausted x-ratelimit-* headers), and
//     [Delay] then waits until it; without one, or with one more than 24
//     hours after the response's Date, they are Permanent;
//   - 500 (internal error) and 1120 (account unreachable, try later) are
//     Transient;
//   - 1000–1004 (authentication), 1110–1113 and 1121 (account inactive,
//     missing, locked, in arrears), 1210–1215, 1220–1222 and 1261 (bad call,
//     no permission, prompt too long), 1300, 1301, 1309, 1311 and 1313
//     (blocked by policy or content, plan expired or without the model, fair
//     use) are Permanent.
//
// Classify allocates nothing. It is safe for concurrent use.
func Classify(err error) backoff.Class {
	se := statusError(err)
	if se == nil {
		return backoff.Classify(err)
	}
	class := backoff.Classify(err)
	if status := backoff.Classify(se); class != status {
		return class
	}
	return classifyStatus(se, class)
}

// classifyStatus applies the header and body rules to se, whose class by
// status alone is status.
func classifyStatus(se *backoff.StatusError, status backoff.Class) backoff.Class {
	retry := false
	switch v := strings.TrimSpace(se.Header.Get("X-Should-Retry")); {
	case strings.EqualFold(v, "false"):
		return backoff.Permanent
	case strings.EqualFold(v, "true"):
		retry = true
	}
	class, known := backoff.Transient, false
	if e, ok := readBody(se); ok {
		class, known = vendorClass(e, se)
	}
	switch {
	case retry && (known && class == backoff.Temporary ||
		se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable):
		return backoff.Temporary
	case retry:
		return backoff.Transient
	case known:
		return class
	case se.Code == http.StatusConflict:
		return backoff.Transient
	}
	return status
}

// vendorClass is the class of a body's code or type, and false for one the
// rules do not list.
func vendorClass(e errorBody, se *backoff.StatusError) (backoff.Class, bool) {
	if n, ok := zaiCode(e.code); ok {
		return zaiClass(n, e, se)
	}
	var cb, tb [maxName]byte
	code, typ := unquote(e.code, &cb), unquote(e.typ, &tb)
	switch {
	case accountError(code) || accountError(typ):
		return backoff.Permanent, true
	case rateLimitCode(code) || rateLimitType(typ):
		return backoff.Temporary, true
	}
	return backoff.Transient, false
}

// accountError reports the OpenAI codes and types of an account or billing
// error, which no retry fixes. Beyond the guides cited on Classify, three
// come from the API's own answers as users reported them: billing_not_active
// on a 429 (https://github.com/BerriAI/litellm/issues/2743), access_terminated
// as a type with a null code (https://github.com/ztjhz/BetterChatGPT/issues/105)
// and account_deactivated on a 401
// (https://github.com/nat/openplayground/issues/143).
func accountError(name []byte) bool {
	switch string(name) {
	case "insufficient_quota",
		"credit_balance_exhausted",
		"organization_spend_limit_exceeded",
		"project_spend_limit_exceeded",
		"organization_usage_limit_exceeded",
		"billing_hard_limit_reached",
		"billing_not_active",
		"access_terminated",
		"account_deactivated",
		"invalid_api_key",
		"unsupported_country_region_territory":
		return true
	}
	return false
}

func rateLimitCode(name []byte) bool {
	switch string(name) {
	case "rate_limit_exceeded", "slow_down":
		return true
	}
	return false
}

// rateLimitType reports the error types of a rate limit: OpenAI names the
// limit that was hit (requests or tokens) in the type of a
// rate_limit_exceeded, and rate_limit_error in the type of a slow_down.
func rateLimitType(name []byte) bool {
	switch string(name) {
	case "requests", "tokens", "rate_limit_error":
		return true
	}
	return false
}

// zaiCode reads a z.ai business code: 3 to 5 digits, as a string or a number.
func zaiCode(b []byte) (int, bool) {
	if len(b) < 3 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func zaiClass(code int, e errorBody, se *backoff.StatusError) (backoff.Class, bool) {
	switch {
	case code == 1302, code == 1303, code == 1305, code == 1312:
		return backoff.Temporary, true
	case code == 1304, code == 1308, code == 1310:
		if resetKnown(e, se) {
			return backoff.Temporary, true
		}
		return backoff.Permanent, true
	case code == 500, code == 1120:
		return backoff.Transient, true
	case code >= 1000 && code <= 1004,
		code >= 1110 && code <= 1113, code == 1121,
		code >= 1210 && code <= 1215, code >= 1220 && code <= 1222, code == 1261,
		code == 1300, code == 1301, code == 1309, code == 1311, code == 1313:
		return backoff.Permanent, true
	}
	return backoff.Transient, false
}

// resetKnown reports whether a usage limit says when it resets, less than a
// day after the response (a reset in the past counts: it is known, and
// the wait is 0).
func resetKnown(e errorBody, se *backoff.StatusError) bool {
	if se.RetryAfter > 0 || rateLimitWait(se.Header) > 0 {
		return true
	}
	reset, ok := messageReset(e.message)
	if !ok {
		return false
	}
	date, ok := responseDate(se.Header)
	return !ok || reset.Sub(date) <= maxWait
}

// maxName bounds the codes and types that unquote decodes: every name the
// rules know is shorter.
const maxName = 64

// unquote returns a raw JSON string's contents decoded, using buf when
// there are escapes to decode; nil for one too long to be a known name, or
// with escapes of characters beyond ASCII, which no known name has.
func unquote(raw []byte, buf *[maxName]byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	n := 0
	for i := 0; i < len(raw); i++ {
		if n == len(buf) {
			return nil
		}
		c := raw[i]
		if c == '\\' {
			i++ // readBody checked the escape
			switch raw[i] {
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'u':
				r := 0
				for _, h := range raw[i+1 : i+5] {
					r = r<<4 | hexValue(h)
				}
				if r >= 0x80 {
					return nil
				}
				c = byte(r)
				i += 4
			default:
				c = raw[i]
			}
		}
		buf[n] = c
		n++
	}
	return buf[:n]
}

func hexValue(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// statusError finds the outermost *backoff.StatusError in err's tree, in
// the order errors.As looks, without errors.As's allocation of a target.
func statusError(err error) *backoff.StatusError {
	for err != nil {
		switch e := err.(type) {
		case *backoff.StatusError:
			return e
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if se := statusError(inner); se != nil {
					return se
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}
