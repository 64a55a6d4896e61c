package llm

import (
	"bytes"
	"strings"

	"github.com/backoff-go/backoff"
)

// errorBody is what the rules read of an error body's "error" object: the
// raw contents of its strings (escapes not decoded), or a number's text.
// nil means absent (or null, or of a kind the rules do not read).
type errorBody struct {
	code    []byte // error.code: "1302", 1302 or "insufficient_quota"
	typ     []byte // error.type: "insufficient_quota", "requests", ...
	message []byte // error.message, searched for a reset time
}

// readBody finds the error object in a failed response's body. It reports
// false for a body that is not a whole, well-formed JSON object (junk, HTML
// from a proxy, a body cut at 4 KiB), for a Content-Type that is not JSON,
// and for a body without an "error" object: the status alone then decides.
//
// It is a scanner of its own, rather than encoding/json, because it runs on
// every failed attempt: it validates the whole body and keeps only slices
// of it, so it allocates nothing.
func readBody(se *backoff.StatusError) (errorBody, bool) {
	if len(se.Body) == 0 || !jsonType(se.Header.Get("Content-Type")) {
		return errorBody{}, false
	}
	s := scanner{b: se.Body}
	var e errorBody
	found := false
	s.ws()
	if !s.byte('{') {
		return errorBody{}, false
	}
	s.ws()
	if !s.byte('}') {
		for {
			s.ws()
			key, ok := s.str()
			if !ok || !s.colon() {
				return errorBody{}, false
			}
			s.ws()
			if string(key) == "error" && s.peek() == '{' {
				e, ok = s.errorObject()
				found = true
			} else {
				ok = s.value(1)
			}
			if !ok {
				return errorBody{}, false
			}
			s.ws()
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return errorBody{}, false
			}
		}
	}
	s.ws()
	if s.i != len(s.b) || !found {
		return errorBody{}, false
	}
	return e, true
}

// jsonType reports whether a Content-Type names JSON: application/json or a
// +json type, parameters ignored. A missing Content-Type is let through, as
// a StatusError made by hand may carry a body and no header.
func jsonType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/json") ||
		len(mt) > 5 && strings.EqualFold(mt[len(mt)-5:], "+json")
}

// maxDepth bounds the nesting that the scanner follows: an error body is
// shallow, and a deeper one is treated as junk rather than recursed into.
const maxDepth = 32

// scanner is a JSON scanner over a body: each method reads one token or
// value at i, moves past it, and reports false on malformed input.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// byte moves past c if it comes next.
func (s *scanner) byte(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) colon() bool {
	s.ws()
	return s.byte(':')
}

// errorObject reads the "error" object, keeping code, type and message.
func (s *scanner) errorObject() (errorBody, bool) {
	var e errorBody
	s.i++ // '{'
	s.ws()
	if s.byte('}') {
		return e, true
	}
	for {
		s.ws()
		key, ok := s.str()
		if !ok || !s.colon() {
			return e, false
		}
		s.ws()
		var field *[]byte
		switch string(key) {
		case "code":
			field = &e.code
		case "type":
			field = &e.typ
		case "message":
			field = &e.message
		}
		switch c := s.peek(); {
		case field != nil && c == '"':
			*field, ok = s.str()
		case field == &e.code && (c == '-' || c >= '0' && c <= '9'):
			*field, ok = s.num()
		default:
			if field != nil {
				*field = nil // a later duplicate wins, as in encoding/json
			}
			ok = s.value(2)
		}
		if !ok {
			return e, false
		}
		s.ws()
		if s.byte('}') {
			return e, true
		}
		if !s.byte(',') {
			return e, false
		}
	}
}

// value moves past any JSON value, nested depth deep.
func (s *scanner) value(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		s.i++
		s.ws()
		if s.byte('}') {
			return true
		}
		for {
			s.ws()
			if _, ok := s.str(); !ok || !s.colon() {
				return false
			}
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.byte('}') {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		s.ws()
		if s.byte(']') {
			return true
		}
		for {
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.byte(']') {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, ok := s.num()
		return ok
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// str reads a string and returns its raw contents, escapes checked but not
// decoded.
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c == '\\':
			j++
			if j >= len(s.b) {
				return nil, false
			}
			switch s.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s.b) || !isHex4(s.b[j+1:j+5]) {
					return nil, false
				}
				j += 4
			default:
				return nil, false
			}
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// num reads a number as JSON spells it and returns its text.
func (s *scanner) num() ([]byte, bool) {
	start := s.i
	s.byte('-')
	switch {
	case s.byte('0'):
	case s.digits() == 0:
		return nil, false
	}
	if s.byte('.') && s.digits() == 0 {
		return nil, false
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if !s.byte('+') {
			s.byte('-')
		}
		if s.digits() == 0 {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}
