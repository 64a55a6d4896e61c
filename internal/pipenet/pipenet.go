// Package pipenet is an in-memory network for tests: a net.Listener whose
// connections are net.Pipe pairs made by its Dial. Blocking on such a
// connection is durable in the sense of testing/synctest, which loopback
// sockets are not, so an http.Server and an http.Transport can talk inside a
// synctest bubble and the bubble's fake clock moves while they wait.
package pipenet

import (
	"context"
	"net"
	"sync"
)

// Listener is a net.Listener whose connections come from Dial. It is safe
// for concurrent use by multiple goroutines.
type Listener struct {
	name   string
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// Listen returns a Listener whose address reads name.
func Listen(name string) *Listener {
	return &Listener{name: name, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for a Dial and returns the server's end of its connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Dial fail with net.ErrClosed; it is idempotent.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr returns the listener's name as a net.Addr of network "pipe".
func (l *Listener) Addr() net.Addr { return addr(l.name) }

// Dial connects to the listener, whatever network and address it is given,
// so that it can be an http.Transport's DialContext.
func (l *Listener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, net.ErrClosed
}

type addr string

func (addr) Network() string  { return "pipe" }
func (a addr) String() string { return string(a) }
