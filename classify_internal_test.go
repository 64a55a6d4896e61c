package backoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// buildError makes an error tree from program: each byte wraps, joins or
// marks what has been built so far, so that the fuzzer explores shapes.
func buildError(program []byte) error {
	err := error(io.EOF)
	for i, b := range program {
		d := time.Duration(b%7) * time.Second
		switch b % 8 {
		case 0:
			err = fmt.Errorf("wrap %d: %w", i, err)
		case 1:
			err = RetryAfter(d, err)
		case 2:
			err = Mark(err, Class(b%4))
		case 3:
			err = errors.Join(&StatusError{Code: 400 + int(b%110), RetryAfter: d}, err)
		case 4:
			err = errors.Join(err, &StatusError{Code: 500 + int(b%5), RetryAfter: d})
		case 5:
			err = fmt.Errorf("%w; %w", err, context.DeadlineExceeded)
		case 6:
			err = errors.Join(err, context.Canceled)
		case 7:
			err = &attemptTimeoutError{d}
		}
	}
	return err
}

// Retry reads the server's delay from Classify's walk when the classifier
// is Classify; it must agree with serverDelay's own walk, which Retry uses
// with a custom classifier.
func FuzzFactsAgree(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 0})
	f.Add([]byte{3, 1, 4, 9, 2})
	f.Add([]byte{6, 1, 5, 7, 4, 12, 11})
	f.Fuzz(func(t *testing.T, program []byte) {
		err := buildError(program)
		var fs facts
		fs.scan(err)
		if got, want := fs.serverDelay(), serverDelay(err); got != want {
			t.Fatalf("delay %v, serverDelay %v, for %v", got, want, err)
		}
	})
}
