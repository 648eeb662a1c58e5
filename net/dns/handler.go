package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

var _ dns.Handler = (*Server)(nil)

// ServeDNS answers one query; the miekg/dns server loops call it, one
// goroutine per query. It is exported only to satisfy dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		s.reply(w, r, failure(r, dns.RcodeRefused))
		return
	}
	if !s.allowed(w.RemoteAddr()) {
		s.reply(w, r, failure(r, dns.RcodeRefused))
		return
	}
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	s.reply(w, r, s.answer(ctx, r))
}

// allowed reports whether a query's source may be answered.
func (s *Server) allowed(remote net.Addr) bool {
	if len(s.opts.Clients) == 0 {
		return true
	}
	var ip netip.Addr
	switch a := remote.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	ip = ip.Unmap()
	for _, p := range s.opts.Clients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// answer builds the response to r: local, NXDOMAIN, or forwarded.
func (s *Server) answer(ctx context.Context, r *dns.Msg) *dns.Msg {
	if r.Response || r.Opcode != dns.OpcodeQuery {
		return failure(r, dns.RcodeNotImplemented)
	}
	if len(r.Question) != 1 {
		return failure(r, dns.RcodeFormatError)
	}
	q := r.Question[0]
	name := CanonicalName(q.Name)
	if q.Qclass == dns.ClassINET || q.Qclass == dns.ClassANY {
		if rev, ok := s.opts.Lookup.(ReverseResolver); ok && q.Qtype == dns.TypePTR {
			if addr, ok := ReverseAddr(name); ok {
				if names, ok := rev.LookupAddr(ctx, addr); ok {
					return s.pointers(r, q, names)
				}
			}
		}
		if s.opts.Lookup != nil {
			if addrs, ok := s.opts.Lookup.LookupHost(ctx, name); ok {
				return s.local(r, q, addrs)
			}
		}
		if s.owns(name) {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeNameError)
			m.Authoritative = true
			m.RecursionAvailable = true
			return m
		}
	}
	return s.forward(ctx, r)
}

// owns reports whether name lies under one of the server's Domains.
func (s *Server) owns(name string) bool {
	for _, d := range s.domains {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}

// local answers a query for a name the network owns: the addresses of the
// asked family, or none (NODATA) for a family or type it lacks.
func (s *Server) local(r *dns.Msg, q dns.Question, addrs []netip.Addr) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: s.opts.TTL}
	}
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: a.AsSlice()})
		case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(dns.DefaultMsgSize, false)
	}
	return m
}

// pointers answers a PTR query for one of the network's addresses.
func (s *Server) pointers(r *dns.Msg, q dns.Question, names []string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	for _, n := range names {
		if _, ok := dns.IsDomainName(n); !ok || n == "" {
			continue
		}
		m.Answer = append(m.Answer, &dns.PTR{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: s.opts.TTL},
			Ptr: dns.Fqdn(n),
		})
	}
	if r.IsEdns0() != nil {
		m.SetEdns0(dns.DefaultMsgSize, false)
	}
	return m
}

// ReverseAddr parses a reverse-lookup name ("4.3.2.1.in-addr.arpa" or the
// 32 nibbles of an "ip6.arpa" name; case-insensitive, trailing dot
// optional) into the address it stands for.
func ReverseAddr(name string) (netip.Addr, bool) {
	name = CanonicalName(name)
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		slices.Reverse(labels)
		a, err := netip.ParseAddr(strings.Join(labels, "."))
		if err != nil || !a.Is4() {
			return netip.Addr{}, false
		}
		return a, true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", l[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			// labels[0] is the lowest nibble of the last byte.
			pos := 31 - i
			b[pos/2] |= byte(v) << (4 * (1 - pos%2))
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// failure is an empty response to r with rcode.
func failure(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.RecursionAvailable = true
	return m
}

// reply fits m to what the client can take (UDP: 512 bytes, or its EDNS0
// buffer size; the TC bit tells it to retry over TCP) and sends it.
func (s *Server) reply(w dns.ResponseWriter, r, m *dns.Msg) {
	m.Id = r.Id
	size := dns.MaxMsgSize
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size = dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
	}
	m.Truncate(size)
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("dns reply not sent", "client", w.RemoteAddr().String(), "err", err)
	}
}
