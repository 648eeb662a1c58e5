package dns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstream is a fake upstream nameserver on a loopback address, serving
// UDP and TCP on one port with a handler of the test's choosing.
type upstream struct {
	addr    string
	queries atomic.Int64 // queries seen, both protocols
	tcp     atomic.Int64 // queries seen over TCP
}

// startUpstream runs handler on ip (a 127.0.0.0/8 address) until the test ends.
func startUpstream(t testing.TB, ip string, handler func(w dns.ResponseWriter, r *dns.Msg)) *upstream {
	t.Helper()
	pc, ln, err := listenBoth(context.Background(), ip+":0")
	if err != nil {
		t.Fatalf("fake upstream: %v", err)
	}
	u := &upstream{addr: pc.LocalAddr().String()}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
			u.tcp.Add(1)
		}
		handler(w, r)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return u
}

// answerA answers every A query with ip.
func answerA(ip string) func(w dns.ResponseWriter, r *dns.Msg) {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
				A:   net.ParseIP(ip).To4(),
			})
		}
		w.WriteMsg(m)
	}
}

// blackhole is a loopback address that takes UDP queries and never
// answers, and refuses TCP: an upstream that is down.
func blackhole(t testing.TB, ip string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatalf("blackhole: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// startServer starts a responder on a loopback address with opts and
// closes it when the test ends.
func startServer(t testing.TB, ip string, opts Options) *Server {
	t.Helper()
	if opts.Listen == nil {
		opts.Listen = []string{ip + ":0"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := NewServer(opts)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start responder: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testWriter routes log records to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// query asks addr over network ("udp" or "tcp") for name and type.
func query(t testing.TB, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

// addrsOf returns the A and AAAA addresses of an answer.
func addrsOf(m *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			a, _ := netip.AddrFromSlice(rr.A.To4())
			out = append(out, a)
		case *dns.AAAA:
			a, _ := netip.AddrFromSlice(rr.AAAA)
			out = append(out, a)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
