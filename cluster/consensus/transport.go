package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// tlsStream is the raft.StreamLayer of the network transport: a TCP
// listener whose connections speak mutual TLS. Both ends present a
// certificate of the cluster CA; a peer without one is refused during the
// handshake, before a byte of Raft is read from it.
type tlsStream struct {
	ln        net.Listener // plain TCP; Accept wraps each connection in TLS
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	handshake time.Duration // bound on an accepted connection's handshake
	log       *slog.Logger

	mu       sync.Mutex
	closed   bool
	accepted map[*serverConn]struct{} // open accepted connections, closed by Close
}

var _ raft.StreamLayer = (*tlsStream)(nil)

// newTLSStream listens on bind. advertise is the address peers dial; empty
// means the listener's own address.
func newTLSStream(bind, advertise string, server, client *tls.Config, handshake time.Duration, log *slog.Logger) (*tlsStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("listen for raft on %s: %w", bind, err)
	}
	if advertise == "" {
		advertise = ln.Addr().String()
		if err := checkHostPort(advertise); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("raft listener %s cannot be advertised, set AdvertiseAddr: %w", advertise, err)
		}
	}
	return &tlsStream{
		ln:        ln,
		advertise: streamAddr(advertise),
		server:    tlsConfig(server),
		client:    tlsConfig(client),
		handshake: handshake,
		log:       log,
		accepted:  map[*serverConn]struct{}{},
	}, nil
}

// tlsConfig clones c and raises its minimum version to TLS 1.3: both ends
// are Kedge, there is no old peer to talk to.
func tlsConfig(c *tls.Config) *tls.Config {
	c = c.Clone()
	if c.MinVersion < tls.VersionTLS13 {
		c.MinVersion = tls.VersionTLS13
	}
	return c
}

// Accept waits for the next connection. The TLS handshake runs on the
// connection's first read or write, on raft's per-connection goroutine, so
// a slow or hostile client cannot stall the accept loop; it must finish
// within the handshake timeout.
func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	sc := &serverConn{Conn: tls.Server(c, s.server), stream: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	s.accepted[sc] = struct{}{}
	return sc, nil
}

// Close stops listening and closes the accepted connections, so raft's
// per-connection goroutines end with the transport.
func (s *tlsStream) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.accepted
	s.accepted = map[*serverConn]struct{}{}
	s.mu.Unlock()
	err := s.ln.Close()
	for c := range conns {
		_ = c.Conn.Close()
	}
	return err
}

func (s *tlsStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *tlsStream) forget(c *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.accepted, c)
}

// Addr returns the advertised address (what raft tells its peers).
func (s *tlsStream) Addr() net.Addr { return s.advertise }

// listenAddr returns the address actually listened on.
func (s *tlsStream) listenAddr() net.Addr { return s.ln.Addr() }

// Dial connects to a peer and completes the TLS handshake, verifying the
// peer's certificate against the cluster CA, within timeout.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = s.handshake
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: s.client}
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	return c, nil
}

// serverConn is an accepted connection whose handshake runs, bounded by a
// timeout, before its first read or write.
type serverConn struct {
	*tls.Conn
	stream *tlsStream
	once   sync.Once
	err    error
}

func (c *serverConn) doHandshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.stream.handshake)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("raft tls handshake with %s: %w", c.RemoteAddr(), err)
			c.stream.log.Warn("refused raft connection", "remote", c.RemoteAddr().String(), "error", err)
			_ = c.Close()
		}
	})
	return c.err
}

// Close closes the connection.
func (c *serverConn) Close() error {
	c.stream.forget(c)
	return c.Conn.Close()
}

// Read reads after a successful handshake. A failed handshake (already
// logged as a refusal) and a read cut short by closing the stream report
// io.EOF, so raft ends the connection without logging it again.
func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.doHandshake(); err != nil {
		return 0, io.EOF
	}
	k, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, net.ErrClosed) && c.stream.isClosed() {
		err = io.EOF
	}
	return k, err
}

// Write writes after a successful handshake.
func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.doHandshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// streamAddr is a net.Addr for an advertised host:port, which may name a
// host rather than an IP.
type streamAddr string

func (a streamAddr) Network() string { return "tcp" }
func (a streamAddr) String() string  { return string(a) }
