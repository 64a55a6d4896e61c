package backoff_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// panicMessage runs f, which must panic with a string, and returns that
// string; it fails t if f returns or panics with anything else.
func panicMessage(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		require.NotNil(t, r, "expected a panic")
		var ok bool
		msg, ok = r.(string)
		require.True(t, ok, "panic value %v is not a string", r)
	}()
	f()
	return ""
}
