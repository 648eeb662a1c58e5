package dns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func TestReverseAddr(t *testing.T) {
	v6 := netip.MustParseAddr("fd00::3")
	v6name, _ := dns.ReverseAddr(v6.String())
	cases := map[string]string{
		"2.0.88.10.in-addr.arpa.":  "10.88.0.2",
		"2.0.88.10.IN-ADDR.ARPA":   "10.88.0.2",
		v6name:                     "fd00::3",
		"0.88.10.in-addr.arpa.":    "",
		"256.0.88.10.in-addr.arpa": "",
		"x.0.88.10.in-addr.arpa":   "",
		"3.0.0.ip6.arpa.":          "",
		"example.com.":             "",
		"":                         "",
	}
	for name, want := range cases {
		a, ok := ReverseAddr(name)
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("ReverseAddr(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPTRForNetworkAddresses(t *testing.T) {
	up := startUpstream(t, "127.0.0.2", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		w.WriteMsg(m)
	})
	s := startServer(t, "127.0.0.3", Options{Lookup: netTable(), Upstreams: []string{up.addr}})
	for addr, want := range map[string]string{"10.88.0.2": "web.", "fd00::3": "db."} {
		name, _ := dns.ReverseAddr(addr)
		r := query(t, "udp", s.Addrs()[0], name, dns.TypePTR)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != want {
			t.Errorf("PTR %s: %v, want %s", addr, r.Answer, want)
		}
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("PTR of the network's addresses forwarded %d times", n)
	}
	// Other addresses are the upstream's business.
	if r := query(t, "udp", s.Addrs()[0], "9.2.0.192.in-addr.arpa.", dns.TypePTR); r.Rcode != dns.RcodeNameError || up.queries.Load() != 1 {
		t.Errorf("PTR of another address: rcode %s, upstream asked %d times", dns.RcodeToString[r.Rcode], up.queries.Load())
	}
}

func TestTableSharedAliasAndRemove(t *testing.T) {
	tab := NewTable()
	a, b := netip.MustParseAddr("10.88.0.5"), netip.MustParseAddr("10.88.0.6")
	tab.Set("c2", []string{"api-2", "api"}, []netip.Addr{b})
	tab.Set("c1", []string{"API-1", "api", ""}, []netip.Addr{a, netip.MustParseAddr("::ffff:10.88.0.5")})
	if got, ok := tab.LookupHost(t.Context(), "Api."); !ok || len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("shared alias: %v %v, want [%v %v]", got, ok, a, b)
	}
	if names, ok := tab.LookupAddr(t.Context(), a); !ok || len(names) != 1 || names[0] != "api-1" {
		t.Fatalf("reverse of %v: %v %v, want [api-1]", a, names, ok)
	}
	tab.Set("c1", []string{"renamed"}, []netip.Addr{a})
	if got, _ := tab.LookupHost(t.Context(), "api"); len(got) != 1 || got[0] != b {
		t.Fatalf("after re-Set: api -> %v, want [%v]", got, b)
	}
	tab.Remove("c2")
	tab.Remove("c2")
	if _, ok := tab.LookupHost(t.Context(), "api"); ok {
		t.Fatal("alias survives its last owner")
	}
	if _, ok := tab.LookupAddr(t.Context(), b); ok {
		t.Fatal("address survives its owner")
	}
	tab.Set("c3", nil, []netip.Addr{b})
	if _, ok := tab.LookupAddr(t.Context(), b); ok {
		t.Fatal("an owner without names was kept")
	}
}

func TestMismatchedUpstreamAnswerIgnored(t *testing.T) {
	liar := startUpstream(t, "127.0.0.2", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Question[0].Name = "other.example."
		w.WriteMsg(m)
	})
	good := startUpstream(t, "127.0.0.4", answerA("192.0.2.8"))
	s := startServer(t, "127.0.0.3", Options{Upstreams: []string{liar.addr, good.addr}})
	r := query(t, "udp", s.Addrs()[0], "example.com", dns.TypeA)
	if got := addrsOf(r); len(got) != 1 || got[0].String() != "192.0.2.8" {
		t.Fatalf("answers %v, want the honest upstream's 192.0.2.8", got)
	}
}
