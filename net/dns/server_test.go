package dns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func netTable() *Table {
	t := NewTable()
	t.Set("c1", []string{"web", "web.mynet", "frontend"}, []netip.Addr{netip.MustParseAddr("10.88.0.2")})
	t.Set("c2", []string{"db", "db.mynet"}, []netip.Addr{netip.MustParseAddr("10.88.0.3"), netip.MustParseAddr("fd00::3")})
	t.Set("c3", []string{"v6only"}, []netip.Addr{netip.MustParseAddr("fd00::4")})
	return t
}

func TestLocalNamesResolveFromTable(t *testing.T) {
	up := startUpstream(t, "127.0.0.2", answerA("192.0.2.1"))
	s := startServer(t, "127.0.0.3", Options{Lookup: netTable(), Upstreams: []string{up.addr}})
	addr := s.Addrs()[0]

	cases := []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"web", dns.TypeA, []string{"10.88.0.2"}},
		{"WEB.", dns.TypeA, []string{"10.88.0.2"}},
		{"web.mynet", dns.TypeA, []string{"10.88.0.2"}},
		{"frontend", dns.TypeA, []string{"10.88.0.2"}},
		{"db", dns.TypeA, []string{"10.88.0.3"}},
		{"db", dns.TypeAAAA, []string{"fd00::3"}},
		{"v6only", dns.TypeAAAA, []string{"fd00::4"}},
		// Names the network owns without a record of the asked type: NODATA.
		{"web", dns.TypeAAAA, nil},
		{"v6only", dns.TypeA, nil},
		{"web", dns.TypeMX, nil},
		{"db", dns.TypeTXT, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range cases {
			r := query(t, network, addr, c.name, c.qtype)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
				t.Errorf("%s %s over %s: rcode %s authoritative %v, want NOERROR authoritative",
					c.name, dns.TypeToString[c.qtype], network, dns.RcodeToString[r.Rcode], r.Authoritative)
			}
			var got []string
			for _, a := range addrsOf(r) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s %s over %s: answers %v, want %v", c.name, dns.TypeToString[c.qtype], network, got, c.want)
			}
			if len(r.Answer) > 0 && r.Answer[0].Header().Ttl != DefaultTTL {
				t.Errorf("%s: ttl %d, want %d", c.name, r.Answer[0].Header().Ttl, DefaultTTL)
			}
		}
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("local names reached the upstream %d times", n)
	}
}

func TestNamesFollowTableChanges(t *testing.T) {
	tab := NewTable()
	s := startServer(t, "127.0.0.3", Options{Lookup: tab, Domains: []string{"mynet"}})
	addr := s.Addrs()[0]
	if r := query(t, "udp", addr, "app.mynet", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("before Set: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	tab.Set("c9", []string{"app.mynet"}, []netip.Addr{netip.MustParseAddr("10.88.0.9")})
	if got := addrsOf(query(t, "udp", addr, "app.mynet", dns.TypeA)); len(got) != 1 || got[0].String() != "10.88.0.9" {
		t.Fatalf("after Set: %v, want 10.88.0.9", got)
	}
	tab.Remove("c9")
	if r := query(t, "udp", addr, "app.mynet", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after Remove: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

func TestUnknownNameUnderOwnDomainIsNXDOMAIN(t *testing.T) {
	up := startUpstream(t, "127.0.0.2", answerA("192.0.2.1"))
	s := startServer(t, "127.0.0.3", Options{Lookup: netTable(), Domains: []string{"mynet."}, Upstreams: []string{up.addr}})
	for _, name := range []string{"ghost.mynet", "mynet", "a.b.MYNET"} {
		r := query(t, "udp", s.Addrs()[0], name, dns.TypeA)
		if r.Rcode != dns.RcodeNameError || !r.Authoritative {
			t.Errorf("%s: rcode %s authoritative %v, want authoritative NXDOMAIN", name, dns.RcodeToString[r.Rcode], r.Authoritative)
		}
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("names under an owned domain were forwarded %d times", n)
	}
}

func TestUnknownNamesAreForwarded(t *testing.T) {
	up := startUpstream(t, "127.0.0.2", answerA("192.0.2.1"))
	s := startServer(t, "127.0.0.3", Options{Lookup: netTable(), Upstreams: []string{up.addr}})
	for _, network := range []string{"udp", "tcp"} {
		r := query(t, network, s.Addrs()[0], "example.com", dns.TypeA)
		if got := addrsOf(r); r.Rcode != dns.RcodeSuccess || len(got) != 1 || got[0].String() != "192.0.2.1" {
			t.Errorf("over %s: rcode %s answers %v, want the upstream's 192.0.2.1", network, dns.RcodeToString[r.Rcode], got)
		}
	}
	if n := up.queries.Load(); n != 2 {
		t.Errorf("upstream saw %d queries, want 2", n)
	}
	// The upstream's NXDOMAIN is passed on as is, not retried elsewhere.
	nx := startUpstream(t, "127.0.0.4", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		w.WriteMsg(m)
	})
	s2 := startServer(t, "127.0.0.3", Options{Upstreams: []string{nx.addr, up.addr}})
	if r := query(t, "udp", s2.Addrs()[0], "nothing.example", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("upstream NXDOMAIN came back as %s", dns.RcodeToString[r.Rcode])
	}
}

func TestUpstreamDownGivesServfailWithinTimeout(t *testing.T) {
	quiet := blackhole(t, "127.0.0.2")
	cases := map[string][]string{
		"no answer":       {blackhole(t, "127.0.0.2")},
		"port closed":     {closedPort(t, "127.0.0.4")},
		"both down":       {blackhole(t, "127.0.0.2"), closedPort(t, "127.0.0.4")},
		"none configured": nil,
		"no answer twice": {quiet, blackhole(t, "127.0.0.5")},
	}
	const timeout = 400 * time.Millisecond
	for name, ups := range cases {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, "127.0.0.3", Options{Upstreams: ups, Timeout: timeout})
			for _, network := range []string{"udp", "tcp"} {
				start := time.Now()
				r := query(t, network, s.Addrs()[0], "example.com", dns.TypeA)
				took := time.Since(start)
				if r.Rcode != dns.RcodeServerFailure {
					t.Errorf("over %s: rcode %s, want SERVFAIL", network, dns.RcodeToString[r.Rcode])
				}
				if took > timeout+500*time.Millisecond {
					t.Errorf("over %s: SERVFAIL after %v, timeout is %v", network, took, timeout)
				}
			}
		})
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t testing.TB, ip string) string {
	t.Helper()
	pc, ln, err := listenBoth(context.Background(), ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ln.Close()
	return addr
}

func TestNextUpstreamAfterFailure(t *testing.T) {
	good := startUpstream(t, "127.0.0.2", answerA("192.0.2.7"))
	servfail := startUpstream(t, "127.0.0.4", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		w.WriteMsg(m)
	})
	const timeout = 2 * time.Second
	cases := map[string]string{
		"first never answers": blackhole(t, "127.0.0.5"),
		"first port closed":   closedPort(t, "127.0.0.5"),
		"first SERVFAILs":     servfail.addr,
	}
	for name, first := range cases {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, "127.0.0.3", Options{Upstreams: []string{first, good.addr}, Timeout: timeout})
			start := time.Now()
			r := query(t, "udp", s.Addrs()[0], "example.com", dns.TypeA)
			if got := addrsOf(r); r.Rcode != dns.RcodeSuccess || len(got) != 1 || got[0].String() != "192.0.2.7" {
				t.Fatalf("rcode %s answers %v, want the second upstream's 192.0.2.7", dns.RcodeToString[r.Rcode], got)
			}
			if took := time.Since(start); took > timeout {
				t.Errorf("answer took %v, more than the %v budget", took, timeout)
			}
		})
	}
}

func TestTruncatedUpstreamAnswerRetriedOverTCP(t *testing.T) {
	const records = 60 // about 1 KB: more than a plain UDP answer may carry
	up := startUpstream(t, "127.0.0.2", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
		for i := range records {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
				A:   net.IPv4(192, 0, 2, byte(i+1)).To4(),
			})
		}
		w.WriteMsg(m)
	})
	s := startServer(t, "127.0.0.3", Options{Upstreams: []string{up.addr}})
	addr := s.Addrs()[0]

	r := query(t, "tcp", addr, "big.example", dns.TypeA)
	if len(r.Answer) != records || r.Truncated {
		t.Fatalf("over tcp: %d answers truncated=%v, want %d whole", len(r.Answer), r.Truncated, records)
	}
	if up.tcp.Load() == 0 {
		t.Fatal("the upstream was never asked over TCP")
	}
	// A plain UDP client gets what fits with TC set, and tries TCP.
	r = query(t, "udp", addr, "big.example", dns.TypeA)
	if !r.Truncated || len(r.Answer) >= records {
		t.Fatalf("over udp: %d answers truncated=%v, want a truncated answer", len(r.Answer), r.Truncated)
	}
	// An EDNS0 client with a large buffer gets it all over UDP.
	m := new(dns.Msg)
	m.SetQuestion("big.example.", dns.TypeA)
	m.SetEdns0(4096, false)
	r, _, err := (&dns.Client{Net: "udp"}).Exchange(m, addr)
	if err != nil || len(r.Answer) != records || r.Truncated {
		t.Fatalf("over udp with edns0: err %v, want %d whole answers, got %v", err, records, r)
	}
}

func TestNeverForwardsToItself(t *testing.T) {
	addr := closedPort(t, "127.0.0.6")
	s := startServer(t, "", Options{Listen: []string{addr}, Upstreams: []string{addr, "127.0.0.6:" + portOf(addr)}, Timeout: time.Second})
	if ups := s.Upstreams(); len(ups) != 0 {
		t.Fatalf("upstreams %v include the server itself", ups)
	}
	start := time.Now()
	if r := query(t, "udp", addr, "example.com", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("SERVFAIL took %v: looks like a forwarding loop", took)
	}
}

func portOf(addr string) string {
	return strconv.Itoa(int(netip.MustParseAddrPort(addr).Port()))
}

func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	if err := NewServer(Options{}).Start(ctx); !errors.Is(err, ErrNoListen) {
		t.Errorf("no listen address: %v, want ErrNoListen", err)
	}
	if err := NewServer(Options{Listen: []string{"localhost:53"}}).Start(ctx); !errors.Is(err, ErrBadAddress) {
		t.Errorf("name as listen address: %v, want ErrBadAddress", err)
	}
	if err := NewServer(Options{Listen: []string{"127.0.0.3:0"}, Upstreams: []string{"dns.example"}}).Start(ctx); !errors.Is(err, ErrBadAddress) {
		t.Errorf("name as upstream: %v, want ErrBadAddress", err)
	}

	busy := startServer(t, "127.0.0.3", Options{})
	free := closedPort(t, "127.0.0.7")
	s := NewServer(Options{Listen: []string{free, busy.Addrs()[0]}})
	if err := s.Start(ctx); err == nil {
		t.Fatal("start on a busy port succeeded")
	}
	// The first address was released again.
	pc, ln, err := listenBoth(ctx, free)
	if err != nil {
		t.Fatalf("a failed start left %s bound: %v", free, err)
	}
	pc.Close()
	ln.Close()

	if err := busy.Start(ctx); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start: %v, want ErrStarted", err)
	}
	if err := busy.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := busy.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := busy.Start(ctx); !errors.Is(err, ErrStarted) {
		t.Errorf("Start after Close: %v, want ErrStarted", err)
	}
}

func TestCloseStopsEverythingAndFreesPorts(t *testing.T) {
	// Goroutines of earlier tests' servers may still be winding down.
	runtime.GC()
	before := runtime.NumGoroutine()
	func() {
		hole := blackhole(t, "127.0.0.2")
		s := NewServer(Options{Listen: []string{"127.0.0.3:0", "127.0.0.8:0"}, Lookup: netTable(),
			Upstreams: []string{hole}, Timeout: time.Minute})
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		addrs := s.Addrs()
		for _, a := range addrs {
			query(t, "udp", a, "web", dns.TypeA)
			query(t, "tcp", a, "web", dns.TypeA)
		}
		// A forward in flight to an upstream that never answers, and an
		// idle TCP connection: Close must end both at once.
		inflight := make(chan error, 1)
		go func() {
			m := new(dns.Msg)
			m.SetQuestion("slow.example.", dns.TypeA)
			_, _, err := (&dns.Client{Net: "udp", Timeout: 30 * time.Second}).Exchange(m, addrs[0])
			inflight <- err
		}()
		idle, err := net.Dial("tcp", addrs[1])
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		waitFor(t, 5*time.Second, "the forward to start", func() bool { return len(s.sem) > 0 })

		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("close took %v with a forward in flight", took)
		}
		select {
		case <-inflight:
		case <-time.After(35 * time.Second):
			t.Fatal("in-flight query never returned")
		}
		for _, a := range addrs {
			pc, ln, err := listenBoth(context.Background(), a)
			if err != nil {
				t.Fatalf("after Close %s is still bound: %v", a, err)
			}
			pc.Close()
			ln.Close()
		}
	}()
	waitFor(t, 5*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestConcurrentQueriesWhileTableChanges(t *testing.T) {
	up := startUpstream(t, "127.0.0.2", answerA("192.0.2.1"))
	tab := netTable()
	s := startServer(t, "127.0.0.3", Options{Lookup: tab, Upstreams: []string{up.addr}})
	addr := s.Addrs()[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		for i := 0; ctx.Err() == nil; i++ {
			tab.Set("churn", []string{"churn"}, []netip.Addr{netip.AddrFrom4([4]byte{10, 88, 1, byte(i)})})
			tab.Remove("churn")
		}
	}()
	errs := make(chan string, 100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			network := []string{"udp", "tcp"}[g%2]
			c := &dns.Client{Net: network, Timeout: 10 * time.Second}
			for i := range 25 {
				name, want := "web.", "10.88.0.2"
				if i%2 == 1 {
					name, want = "example.com.", "192.0.2.1"
				}
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeA)
				r, _, err := c.Exchange(m, addr)
				if err != nil {
					errs <- err.Error()
					return
				}
				if got := addrsOf(r); len(got) != 1 || got[0].String() != want {
					errs <- name + " gave " + r.String()
					return
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	<-churned
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestTooManyQueriesAreRefused(t *testing.T) {
	s := startServer(t, "127.0.0.3", Options{Lookup: netTable(), MaxConcurrent: 1})
	s.sem <- struct{}{} // the one slot is taken
	if r := query(t, "udp", s.Addrs()[0], "web", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Fatalf("over the cap: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	<-s.sem
	if r := query(t, "udp", s.Addrs()[0], "web", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("under the cap: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
}

func BenchmarkLocalLookupUDP(b *testing.B) {
	s := startServer(b, "127.0.0.3", Options{Lookup: netTable(), Logger: slog.New(slog.DiscardHandler)})
	c := &dns.Client{Net: "udp"}
	co, err := c.Dial(s.Addrs()[0])
	if err != nil {
		b.Fatal(err)
	}
	defer co.Close()
	m := new(dns.Msg)
	m.SetQuestion("web.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		r, _, err := c.ExchangeWithConn(m, co)
		if err != nil || len(r.Answer) != 1 {
			b.Fatalf("lookup: %v %v", err, r)
		}
	}
}

// Only the network's own clients are answered: another network's container
// that reaches the gateway address is refused, for local and forwarded names.
func TestClientsOutsideTheNetworkAreRefused(t *testing.T) {
	up := startUpstream(t, "127.0.0.2", answerA("192.0.2.1"))
	s := startServer(t, "127.0.0.3", Options{Lookup: netTable(), Upstreams: []string{up.addr},
		Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.5/32")}})
	ask := func(from, name string) int {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}}
		r, _, err := c.Exchange(m, s.Addrs()[0])
		if err != nil {
			t.Fatalf("query from %s: %v", from, err)
		}
		return r.Rcode
	}
	if rc := ask("127.0.0.5", "web"); rc != dns.RcodeSuccess {
		t.Fatalf("a client of the network: %s", dns.RcodeToString[rc])
	}
	for _, name := range []string{"web", "example.com"} {
		if rc := ask("127.0.0.6", name); rc != dns.RcodeRefused {
			t.Fatalf("%s from outside the network: %s, want REFUSED", name, dns.RcodeToString[rc])
		}
	}
}
