//go:build linux

package cni

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const dialTimeout = 3 * time.Second

func TestTwoContainersReachEachOther(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	ctx := ctxT(t)
	a, b := l.netns(), l.netns()
	atA, err := n.Attach(ctx, "ctr-a", a.Path(), nil)
	if err != nil {
		t.Fatalf("attach a: %v", err)
	}
	atB, err := n.Attach(ctx, "ctr-b", b.Path(), nil)
	if err != nil {
		t.Fatalf("attach b: %v", err)
	}
	if atA.IP.IP.Equal(atB.IP.IP) || !atA.Gateway.Equal(net.IPv4(10, byte(l.octet), 1, 1)) || atA.MAC == nil || atA.HostVeth == "" {
		t.Fatalf("attachments: %+v %+v", atA, atB)
	}
	serveTCP(t, b, ":8080")
	got, err := dialTCP(a, net.JoinHostPort(atB.IP.IP.String(), "8080"), dialTimeout)
	if err != nil {
		t.Fatalf("a -> b: %v", err)
	}
	if got != atA.IP.IP.String() {
		t.Fatalf("b saw %q, want a's own address %s (no NAT on one bridge)", got, atA.IP.IP)
	}
	for _, c := range []struct{ id, path string }{{"ctr-a", a.Path()}, {"ctr-b", b.Path()}} {
		if err := n.Check(ctx, c.id, c.path); err != nil {
			t.Fatalf("check %s: %v", c.id, err)
		}
	}
	if err := n.Detach(ctx, "ctr-a", a.Path()); err != nil {
		t.Fatal(err)
	}
	if err := n.Detach(ctx, "ctr-b", b.Path()); err != nil {
		t.Fatal(err)
	}
	s := l.state(l.config(1))
	if len(s.veths) != 0 || len(s.reservations) != 0 || len(s.attachmentRules()) != 0 {
		t.Fatalf("after detach: %+v", s)
	}
	if err := n.Remove(ctx); err != nil {
		t.Fatalf("remove: %v", err)
	}
	s = l.state(l.config(1))
	if s.bridge || len(s.rules) != 0 {
		t.Fatalf("after remove: %+v", s)
	}
	if ok, err := tableExists(l.table); err != nil || ok {
		t.Fatalf("table %s left after removing its only network (err %v)", l.table, err)
	}
}

func TestOutboundNAT(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	ctx := ctxT(t)
	c := l.netns()
	if _, err := n.Attach(ctx, "ctr", c.Path(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Detach(ctx, "ctr", c.Path()) })
	serveTCP(t, l.outside, net.JoinHostPort(l.outIP.String(), "9000"))
	got, err := dialTCP(c, net.JoinHostPort(l.outIP.String(), "9000"), dialTimeout)
	if err != nil {
		t.Fatalf("container -> outside: %v", err)
	}
	if got != l.hostIP.String() {
		t.Fatalf("outside saw %q, want the host's address %s (masquerade)", got, l.hostIP)
	}
}

// freePort returns a TCP and UDP port free on the host right now.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp4", "0.0.0.0:"+strconv.Itoa(port)); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func TestPublishedPort(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	ctx := ctxT(t)
	c := l.netns()
	tcpPort, udpPort := freePort(t), freePort(t)
	ports := []PortMapping{
		{HostPort: tcpPort, ContainerPort: 80, Protocol: "tcp"},
		{HostPort: udpPort, ContainerPort: 53, Protocol: "udp"},
	}
	at, err := n.Attach(ctx, "web", c.Path(), ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Detach(ctx, "web", c.Path()) })
	serveTCP(t, c, ":80")
	serveUDP(t, c, ":53")

	// From another machine, to the host's address on its link.
	got, err := dialTCP(l.outside, net.JoinHostPort(l.hostIP.String(), strconv.Itoa(tcpPort)), dialTimeout)
	if err != nil {
		t.Fatalf("outside -> published tcp port: %v", err)
	}
	if got != l.outIP.String() {
		t.Fatalf("container saw %q, want the outside machine %s (no SNAT for remote clients)", got, l.outIP)
	}
	if got, err := askUDP(l.outside, net.JoinHostPort(l.hostIP.String(), strconv.Itoa(udpPort)), dialTimeout); err != nil || got != l.outIP.String() {
		t.Fatalf("outside -> published udp port: %q, %v", got, err)
	}
	// From the host itself: loopback and its own address.
	for _, host := range []string{"127.0.0.1", l.hostIP.String()} {
		got, err := dialTCP(nil, net.JoinHostPort(host, strconv.Itoa(tcpPort)), dialTimeout)
		if err != nil {
			t.Fatalf("host -> %s:%d: %v", host, tcpPort, err)
		}
		if net.ParseIP(got) == nil {
			t.Fatalf("host -> %s: answer %q", host, got)
		}
	}
	if err := n.Check(ctx, "web", c.Path()); err != nil {
		t.Fatalf("check: %v", err)
	}
	s := l.state(l.config(1))
	if len(s.attachmentRules()) != 4 {
		t.Fatalf("want 4 port rules (2 ports x prerouting/output), got %q", s.attachmentRules())
	}
	// The container's own address is not reachable directly from outside (only published ports).
	if _, err := dialTCP(l.outside, net.JoinHostPort(at.IP.IP.String(), "80"), 300*time.Millisecond); err == nil {
		t.Fatal("outside reached the container's address without a published port")
	}
	if err := n.Detach(ctx, "web", c.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := dialTCP(nil, net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)), 300*time.Millisecond); err == nil {
		t.Fatal("published port still answers after detach")
	}
	if s := l.state(l.config(1)); len(s.attachmentRules()) != 0 {
		t.Fatalf("port rules left after detach: %q", s.attachmentRules())
	}
}

func TestNetworksIsolated(t *testing.T) {
	l := newLab(t)
	n1, n2 := l.network(1), l.network(2)
	ctx := ctxT(t)
	a, b, a2 := l.netns(), l.netns(), l.netns()
	atA, err := n1.Attach(ctx, "a", a.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	atA2, err := n1.Attach(ctx, "a2", a2.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	atB, err := n2.Attach(ctx, "b", b.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n1.Detach(ctx, "a", a.Path())
		_ = n1.Detach(ctx, "a2", a2.Path())
		_ = n2.Detach(ctx, "b", b.Path())
	})
	serveTCP(t, a, ":7000")
	serveTCP(t, b, ":7000")
	serveTCP(t, a2, ":7000")
	if _, err := dialTCP(a2, net.JoinHostPort(atA.IP.IP.String(), "7000"), dialTimeout); err != nil {
		t.Fatalf("same network: %v", err)
	}
	if _, err := dialTCP(a, net.JoinHostPort(atB.IP.IP.String(), "7000"), 300*time.Millisecond); err == nil {
		t.Fatal("network 1 reached network 2")
	}
	if _, err := dialTCP(b, net.JoinHostPort(atA2.IP.IP.String(), "7000"), 300*time.Millisecond); err == nil {
		t.Fatal("network 2 reached network 1")
	}
	// The isolated network still gets out.
	serveTCP(t, l.outside, net.JoinHostPort(l.outIP.String(), "9000"))
	if _, err := dialTCP(b, net.JoinHostPort(l.outIP.String(), "9000"), dialTimeout); err != nil {
		t.Fatalf("network 2 -> outside: %v", err)
	}
}

func TestDetachIdempotentAndGC(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	ctx := ctxT(t)
	keep, gone, dead := l.netns(), l.netns(), l.netns()
	if _, err := n.Attach(ctx, "keep", keep.Path(), []PortMapping{{HostPort: freePort(t), ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Attach(ctx, "gone", gone.Path(), []PortMapping{{HostPort: freePort(t), ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Attach(ctx, "dead", dead.Path(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Detach(ctx, "keep", keep.Path()) })

	// DEL with the namespace already gone, then again: both succeed.
	deadPath := dead.Path()
	if err := dead.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unmountNS(deadPath); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := n.Detach(ctx, "dead", deadPath); err != nil {
			t.Fatalf("detach %d with netns gone: %v", i, err)
		}
	}
	if err := n.Detach(ctx, "never-attached", ""); err != nil {
		t.Fatalf("detach of an unknown container: %v", err)
	}
	if s := l.state(l.config(1)); len(s.veths) != 2 || len(s.reservations) != 2 {
		t.Fatalf("after detaching dead: %+v", s)
	}

	// The agent restarts and only "keep" is alive: GC reclaims "gone".
	if err := n.GC(ctx, []string{"keep"}); err != nil {
		t.Fatalf("gc: %v", err)
	}
	s := l.state(l.config(1))
	want := hostVethName(l.config(1).Name, "keep", DefaultContainerIfName)
	if len(s.veths) != 1 || s.veths[0] != want || len(s.reservations) != 1 || len(s.attachmentRules()) != 2 {
		t.Fatalf("after gc: %+v (want only %s)", s, want)
	}
	if err := n.Check(ctx, "keep", keep.Path()); err != nil {
		t.Fatalf("survivor broken by gc: %v", err)
	}
	if err := n.Remove(ctx); !errors.Is(err, ErrNetworkInUse) {
		t.Fatalf("remove with an attachment: %v, want ErrNetworkInUse", err)
	}
}

// unmountNS removes a bind-mounted namespace file as a dying container's would go.
func unmountNS(path string) error {
	if err := unmount(path); err != nil {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	return nil
}

// TestGCAfterCrash: an agent killed -9 between the plugin's ADD and
// libcni's cache write leaves an attachment only the plugin's own state
// knows of. GC with the valid list still reclaims its address, rules and
// veth, and the address is handed out again exactly once.
func TestGCAfterCrash(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	ctx := ctxT(t)
	ghost, live := l.netns(), l.netns()
	port := freePort(t)
	atG, err := n.Attach(ctx, "ghost", ghost.Path(), []PortMapping{{HostPort: port, ContainerPort: 80}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(l.dataDir, ".cache")); err != nil {
		t.Fatal(err)
	}
	// The restarted agent knows only "live", which it attaches again.
	restarted, err := New(l.config(1))
	if err != nil {
		t.Fatal(err)
	}
	atL, err := restarted.Attach(ctx, "live", live.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restarted.Detach(ctx, "live", live.Path()) })
	if atL.IP.IP.Equal(atG.IP.IP) {
		t.Fatalf("address %s assigned twice", atG.IP.IP)
	}
	if err := restarted.GC(ctx, []string{"live"}); err != nil {
		t.Fatal(err)
	}
	s := l.state(l.config(1))
	if len(s.veths) != 1 || len(s.reservations) != 1 || len(s.attachmentRules()) != 0 {
		t.Fatalf("after gc: %+v", s)
	}
	if err := restarted.Check(ctx, "live", live.Path()); err != nil {
		t.Fatal(err)
	}
	// The ghost's port is free again.
	other := l.netns()
	if _, err := restarted.Attach(ctx, "next", other.Path(), []PortMapping{{HostPort: port, ContainerPort: 80}}); err != nil {
		t.Fatalf("port of a collected attachment: %v", err)
	}
	if err := restarted.Detach(ctx, "next", other.Path()); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentAttach: attaches racing on one network get distinct
// addresses and all work (the plugin serialises per network).
func TestConcurrentAttach(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	ctx := ctxT(t)
	const k = 6
	spaces := make([]string, k)
	for i := range spaces {
		spaces[i] = l.netns().Path()
	}
	ips := make([]string, k)
	errs := make(chan error, k)
	for i := range k {
		go func() {
			at, err := n.Attach(ctx, fmt.Sprintf("c%d", i), spaces[i], nil)
			if err == nil {
				ips[i] = at.IP.IP.String()
			}
			errs <- err
		}()
	}
	for range k {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() {
		for i := range k {
			_ = n.Detach(ctx, fmt.Sprintf("c%d", i), spaces[i])
		}
	})
	seen := map[string]bool{}
	for _, ip := range ips {
		if ip == "" || seen[ip] {
			t.Fatalf("addresses %v: missing or duplicated", ips)
		}
		seen[ip] = true
	}
	if s := l.state(l.config(1)); len(s.veths) != k || len(s.reservations) != k {
		t.Fatalf("state after concurrent attach: %+v", s)
	}
}

// TestAttachOverStaleVeth: a veth left by a crash (no reservation, no
// cache) does not stop the same container from attaching again.
func TestAttachOverStaleVeth(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	ctx := ctxT(t)
	c := l.netns()
	port := freePort(t)
	if _, err := n.Attach(ctx, "c", c.Path(), []PortMapping{{HostPort: port, ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	// Lose the reservation as a crash between veth and IPAM would.
	store, err := openStore(n.nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.GC(nil); err != nil {
		t.Fatal(err)
	}
	store.Close()
	c2 := l.netns()
	if _, err := n.Attach(ctx, "c", c2.Path(), []PortMapping{{HostPort: port, ContainerPort: 80}}); err != nil {
		t.Fatalf("attach over a stale veth and rules: %v", err)
	}
	if err := n.Check(ctx, "c", c2.Path()); err != nil {
		t.Fatal(err)
	}
	serveTCP(t, c2, ":80")
	if _, err := dialTCP(nil, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dialTimeout); err != nil {
		t.Fatalf("published port after re-attach (stale rules shadowing?): %v", err)
	}
	if s := l.state(l.config(1)); len(s.attachmentRules()) != 2 {
		t.Fatalf("rules after re-attach: %q", s.attachmentRules())
	}
	if err := n.Detach(ctx, "c", c2.Path()); err != nil {
		t.Fatal(err)
	}
	l.noTrace(t, l.config(1), "detach after re-attach")
}

// TestHairpin: containers reach published ports of their own network,
// their own included, through the host's address.
func TestHairpin(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	ctx := ctxT(t)
	a, b := l.netns(), l.netns()
	pa, pb := freePort(t), freePort(t)
	if _, err := n.Attach(ctx, "a", a.Path(), []PortMapping{{HostPort: pa, ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Detach(ctx, "a", a.Path()) })
	if _, err := n.Attach(ctx, "b", b.Path(), []PortMapping{{HostPort: pb, ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Detach(ctx, "b", b.Path()) })
	serveTCP(t, a, ":80")
	serveTCP(t, b, ":80")
	for _, port := range []int{pb, pa} {
		if _, err := dialTCP(a, net.JoinHostPort(l.hostIP.String(), strconv.Itoa(port)), dialTimeout); err != nil {
			t.Fatalf("a -> host:%d: %v", port, err)
		}
	}
}
