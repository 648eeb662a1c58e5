package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds one forwarded query, all upstream attempts included:
	// under the C resolver's 5 s, so a client hears SERVFAIL before it gives up.
	DefaultTimeout = 4 * time.Second
	// DefaultTTL is the TTL of local answers, short because containers come and go.
	DefaultTTL = 60
	// DefaultMaxConcurrent caps the queries a server handles at once; more are refused.
	DefaultMaxConcurrent = 256

	// maxTCPConns caps open TCP connections per listen address; more wait
	// in the kernel's accept queue.
	maxTCPConns = 64
)

// Options configure a Server.
type Options struct {
	// Listen lists "ip:port" addresses, each served on UDP and TCP, usually
	// the network's gateway on port 53 ("10.88.0.1:53"). Port 0 picks one
	// free port for both protocols; Addrs reports it.
	Listen []string
	// Lookup answers for the network's own names; nil owns no names.
	Lookup Resolver
	// Domains are zones the network owns (such as the network's name): an
	// unknown name under one of them gets NXDOMAIN instead of being
	// forwarded. Optional.
	Domains []string
	// Upstreams are the servers other names are forwarded to, in order of
	// preference, as "ip" (port 53) or "ip:port"; an address the server
	// itself listens on is dropped. Empty: other names get SERVFAIL.
	Upstreams []string
	// Logger receives debug records about failed upstreams; nil discards.
	Logger *slog.Logger
	// Timeout bounds one forwarded query across all upstreams; each
	// upstream gets an equal share of what is left. Zero: DefaultTimeout.
	Timeout time.Duration
	// TTL of local answers in seconds. Zero: DefaultTTL.
	TTL uint32
	// MaxConcurrent caps queries in flight; the excess is REFUSED at once.
	// Zero: DefaultMaxConcurrent.
	MaxConcurrent int
	// Clients, when set, are the only sources answered (the network's
	// subnet): a container of another network that reaches the gateway's
	// address gets REFUSED, so it cannot list this network's names.
	Clients []netip.Prefix
}

// Server is one network's DNS responder. It is safe for concurrent use;
// Start it once and Close it when the network goes away.
type Server struct {
	opts      Options
	log       *slog.Logger
	domains   []string
	upstreams []string // host:port, self excluded at Start
	sem       chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
	servers []*dns.Server
	addrs   []string
	ctx     context.Context // cancelled by Close: aborts forwards in flight
	cancel  context.CancelFunc
	wg      sync.WaitGroup // serve loops
}

// NewServer returns a Server configured by opts; nothing listens until Start.
func NewServer(opts Options) *Server {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log.With("component", "dns"), sem: make(chan struct{}, opts.MaxConcurrent)}
	for _, d := range opts.Domains {
		if d = CanonicalName(d); d != "" {
			s.domains = append(s.domains, d)
		}
	}
	return s
}

// Start binds every Listen address on UDP and TCP and serves until Close.
// ctx bounds the start-up only. On error nothing is left listening.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return ErrStarted
	}
	if len(s.opts.Listen) == 0 {
		return ErrNoListen
	}
	var conns []net.PacketConn
	var lns []net.Listener
	fail := func(err error) error {
		for _, c := range conns {
			c.Close()
		}
		for _, l := range lns {
			l.Close()
		}
		return err
	}
	for _, a := range s.opts.Listen {
		pc, ln, err := listenBoth(ctx, a)
		if err != nil {
			return fail(err)
		}
		conns, lns = append(conns, pc), append(lns, ln)
	}
	addrs := make([]string, len(conns))
	for i, pc := range conns {
		addrs[i] = pc.LocalAddr().String()
	}
	ups, err := s.pickUpstreams(addrs)
	if err != nil {
		return fail(err)
	}

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.upstreams, s.addrs, s.started = ups, addrs, true
	// Each serve loop reports once: started, or failed before starting.
	ready := make(chan error, 2*len(conns))
	for i := range conns {
		udp := &dns.Server{PacketConn: conns[i], Handler: s, UDPSize: dns.DefaultMsgSize}
		tcp := &dns.Server{Listener: netutil.LimitListener(lns[i], maxTCPConns), Handler: s, MaxTCPQueries: 128,
			ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
		for _, srv := range []*dns.Server{udp, tcp} {
			s.servers = append(s.servers, srv)
			var once sync.Once
			report := func(err error) { once.Do(func() { ready <- err }) }
			srv.NotifyStartedFunc = func() { report(nil) }
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := srv.ActivateAndServe(); err != nil {
					s.log.Error("dns serve loop ended", "err", err)
					report(err)
				}
			}()
		}
	}
	// Wait for every loop, so that Close finds each one running.
	var startErr error
	for range s.servers {
		if err := <-ready; err != nil && startErr == nil {
			startErr = err
		}
	}
	if startErr != nil {
		s.mu.Unlock()
		s.Close()
		s.mu.Lock()
		return fmt.Errorf("start dns server on %v: %w", addrs, startErr)
	}
	s.log.Debug("dns server started", "listen", addrs, "upstreams", ups)
	return nil
}

// listenBoth binds addr on UDP and on TCP with the same port, which for
// port 0 is whatever UDP got.
func listenBoth(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %q: %w: %v", addr, ErrBadAddress, err)
	}
	var lc net.ListenConfig
	for attempt := 0; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", ap, err)
		}
		tcpAddr := netip.AddrPortFrom(ap.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
		ln, err := lc.Listen(ctx, "tcp", tcpAddr.String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if ap.Port() != 0 || attempt >= 10 {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", tcpAddr, err)
		}
	}
}

// pickUpstreams normalises the configured upstreams to host:port and drops
// the ones that are this server, so it never forwards to itself.
func (s *Server) pickUpstreams(listening []string) ([]string, error) {
	self := map[netip.AddrPort]bool{}
	for _, a := range listening {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			self[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
		}
	}
	var out []string
	for _, u := range s.opts.Upstreams {
		ap, err := UpstreamAddr(u)
		if err != nil {
			return nil, err
		}
		unspec := netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
		unspec6 := netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())
		if self[ap] || (self[unspec] && ap.Addr().Is4()) || self[unspec6] {
			s.log.Warn("dns upstream is this server; skipped", "upstream", u)
			continue
		}
		if s := ap.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// UpstreamAddr parses an upstream nameserver given as "ip", "ip:port",
// "[ipv6]:port" or "ipv6%zone"; the port defaults to 53.
func UpstreamAddr(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53), nil
	}
	return netip.AddrPort{}, fmt.Errorf("upstream %q: %w", s, ErrBadAddress)
}

// Addrs returns the addresses the server listens on (UDP and TCP share
// them), with the ports chosen for port 0; nil before Start.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// Upstreams returns the upstreams in use as host:port, self excluded; nil
// before Start.
func (s *Server) Upstreams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.upstreams...)
}

// Close stops listening, aborts forwards in flight and waits for every
// goroutine the server started. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers := s.servers
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()

	var errs []error
	for _, srv := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// A loop that never started or already ended reports "not
		// started"; only a shutdown that times out is a failure.
		if err := srv.ShutdownContext(ctx); errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
		cancel()
	}
	s.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close dns server: %w", err)
	}
	return nil
}
