package pipenet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/backoff-go/backoff/internal/pipenet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDialAcceptTalk(t *testing.T) {
	l := pipenet.Listen("test.pipe")
	defer l.Close()
	assert.Equal(t, "pipe", l.Addr().Network())
	assert.Equal(t, "test.pipe", l.Addr().String())

	accepted := make(chan net.Conn)
	go func() {
		c, err := l.Accept()
		assert.NoError(t, err)
		accepted <- c
	}()
	client, err := l.Dial(context.Background(), "tcp", "ignored:80")
	require.NoError(t, err)
	server := <-accepted
	go func() {
		_, _ = server.Write([]byte("hello"))
		server.Close()
	}()
	got, err := io.ReadAll(client)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	client.Close()
}

func TestClosedListener(t *testing.T) {
	l := pipenet.Listen("test.pipe")
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	_, err := l.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = l.Dial(context.Background(), "", "")
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestDialHonoursContext(t *testing.T) {
	l := pipenet.Listen("test.pipe")
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Dial(ctx, "", "")
	assert.True(t, errors.Is(err, context.Canceled))
}
