package backoff_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backoff-go/backoff"
	"github.com/backoff-go/backoff/internal/pipenet"
)

// HTTP/2 refused streams, with net/http's own HTTP/2 client (h2c, prior
// knowledge) against a minimal HTTP/2 server written here over in-memory
// connections: net/http's server refuses streams only in races that a test
// cannot provoke, so this one refuses on demand, frame by frame (RFC 9113).

const (
	h2Headers     = 0x1
	h2RSTStream   = 0x3
	h2Settings    = 0x4
	h2Ping        = 0x6
	h2GoAway      = 0x7
	h2EndStream   = 0x1
	h2Ack         = 0x1
	h2EndHeaders  = 0x4
	h2RefusedCode = 0x7
	h2InternalErr = 0x2
)

// h2Answer is what the server does with the nth request stream (from 1).
type h2Answer func(n int) (kind string, code uint32) // "ok", "rst" or "goaway"

type h2Server struct {
	l      *pipenet.Listener
	answer h2Answer
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
	n      atomic.Int32 // request streams seen
}

func startH2(answer h2Answer) (*h2Server, *http.Transport) {
	s := &h2Server{l: pipenet.Listen("h2"), answer: answer}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return s, &http.Transport{DialContext: s.l.Dial, Protocols: &p}
}

func (s *h2Server) stop(base *http.Transport) {
	base.CloseIdleConnections()
	s.l.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func frame(typ, flags byte, stream uint32, payload []byte) []byte {
	f := make([]byte, 9, 9+len(payload))
	f[0], f[1], f[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	f[3], f[4] = typ, flags
	binary.BigEndian.PutUint32(f[5:], stream)
	return append(f, payload...)
}

func (s *h2Server) serve(c net.Conn) {
	defer c.Close()
	// net.Pipe is synchronous and the client writes its preface and
	// settings before it reads: the frames go out from a writer of their
	// own, so that reading never waits on writing.
	out := make(chan []byte, 64)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for f := range out {
			if _, err := c.Write(f); err != nil {
				c.Close()
				for range out {
				}
				return
			}
		}
	}()
	defer func() { close(out); <-wrote }()
	send := func(typ, flags byte, stream uint32, payload []byte) { out <- frame(typ, flags, stream, payload) }

	preface := make([]byte, len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	if _, err := io.ReadFull(c, preface); err != nil {
		return
	}
	send(h2Settings, 0, 0, nil)
	h := make([]byte, 9)
	for {
		if _, err := io.ReadFull(c, h); err != nil {
			return
		}
		payload := make([]byte, int(h[0])<<16|int(h[1])<<8|int(h[2]))
		if _, err := io.ReadFull(c, payload); err != nil {
			return
		}
		typ, flags, stream := h[3], h[4], binary.BigEndian.Uint32(h[5:])&(1<<31-1)
		switch {
		case typ == h2Settings && flags&h2Ack == 0:
			send(h2Settings, h2Ack, 0, nil)
		case typ == h2Ping && flags&h2Ack == 0:
			send(h2Ping, h2Ack, 0, payload)
		case typ == h2Headers:
			switch kind, code := s.answer(int(s.n.Add(1))); kind {
			case "rst":
				send(h2RSTStream, 0, stream, binary.BigEndian.AppendUint32(nil, code))
			case "goaway":
				// The last stream processed is 0: this one was not.
				send(h2GoAway, 0, 0, binary.BigEndian.AppendUint32(make([]byte, 4), code))
			default:
				// 0x88 is ":status: 200" from HPACK's static table.
				send(h2Headers, h2EndHeaders|h2EndStream, stream, []byte{0x88})
			}
		}
	}
}

// net/http's HTTP/2 client retries a refused stream itself, 6 times after
// the first try, then hands the error on.
const h2OwnTries = 7 + 1

func TestTransportHTTP2RefusedStream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   string
		code   uint32
		refuse int   // streams refused
		trips  int32 // by backoff's Transport
		ok     bool
	}{
		{name: "RST_STREAM REFUSED_STREAM: a POST is retried", kind: "rst", code: h2RefusedCode, refuse: h2OwnTries, trips: 2, ok: true},
		{name: "RST_STREAM INTERNAL_ERROR: a POST is not retried", kind: "rst", code: h2InternalErr, refuse: 1, trips: 1},
		// net/http retries these on new connections with no limit, so
		// they never reach Transport: see below.
		{name: "GOAWAY below the stream: net/http retries it itself", kind: "goaway", refuse: 40, trips: 1, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, base := startH2(func(n int) (string, uint32) {
					if n <= tc.refuse {
						return tc.kind, tc.code
					}
					return "ok", 0
				})
				defer s.stop(base)
				c := &counting{base: base}
				var errs []error
				tr := &backoff.Transport{Base: c, Options: []backoff.Option{noWait,
					backoff.WithNotify(func(a backoff.Attempt, _ time.Duration) { errs = append(errs, a.Err) })}}
				req, _ := http.NewRequest(http.MethodPost, "http://glm.test/v1/chat/completions", nil)
				resp, err := tr.RoundTrip(req)
				assert.Equal(t, tc.trips, c.trips.Load())
				if !tc.ok {
					assert.Nil(t, resp)
					require.ErrorIs(t, err, backoff.ErrPermanent)
					assert.Contains(t, err.Error(), "INTERNAL_ERROR")
					return
				}
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
				assert.Equal(t, "HTTP/2.0", resp.Proto)
				resp.Body.Close()
				assert.EqualValues(t, tc.refuse+1, s.n.Load())
				require.Len(t, errs, int(tc.trips-1))
				if tc.trips > 1 {
					assert.Contains(t, errs[0].Error(), "REFUSED_STREAM")
				}
			})
		})
	}
}

// A GOAWAY that leaves a stream unprocessed does not reach Transport from
// net/http's own client, which retries it on a new connection however often
// it comes (the test above).
// golang.org/x/net/http2's Transport retries it 6 times and then returns it,
// and net/http's returns it wrapped when it cannot replay the body. These
// are those errors, by their texts; xnetStreamError has the shape of
// x/net/http2.StreamError, which has no As method.
type xnetStreamError struct {
	StreamID uint32
	Code     uint32
}

func (e xnetStreamError) Error() string {
	name := map[uint32]string{h2RefusedCode: "REFUSED_STREAM", h2InternalErr: "INTERNAL_ERROR"}[e.Code]
	return fmt.Sprintf("stream error: stream ID %d; %s", e.StreamID, name)
}

func TestTransportHTTP2RefusedStreamErrors(t *testing.T) {
	goAway := errors.New("http2: Transport received Server's graceful shutdown GOAWAY")
	for _, tc := range []struct {
		name  string
		err   error
		trips int
	}{
		{name: "x/net GOAWAY", err: goAway, trips: 2},
		{name: "x/net GOAWAY, wrapped", err: &url.Error{Op: "Post", URL: "http://glm.test/", Err: goAway}, trips: 2},
		{name: "net/http cannot replay", err: fmt.Errorf("http2: Transport: cannot retry err [%v] after Request.Body was written; define Request.GetBody to avoid this error", goAway), trips: 2},
		{name: "x/net REFUSED_STREAM", err: xnetStreamError{StreamID: 3, Code: h2RefusedCode}, trips: 2},
		{name: "x/net INTERNAL_ERROR", err: xnetStreamError{StreamID: 3, Code: h2InternalErr}, trips: 1},
		{name: "GOAWAY that closed the connection after the stream", err: errors.New("http2: server sent GOAWAY and closed the connection; LastStreamID=5, ErrCode=NO_ERROR, debug=\"\""), trips: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkPostRetriedOnce(t, tc.err, tc.trips, tc.err)
		})
	}
}
