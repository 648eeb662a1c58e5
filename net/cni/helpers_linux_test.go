//go:build linux

package cni

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// requireNet skips unless the test can create namespaces, bridges and nftables tables.
func requireNet(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: creates network namespaces, bridges and nftables tables")
	}
	c, err := nftables.New()
	if err == nil {
		_, err = c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	}
	if err != nil {
		tb.Skipf("nftables unavailable: %v", err)
	}
}

func randHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// lab is one test's private world: a random 10.X.0.0/16 prefix, one
// nftables table and data dir shared by its networks, and an "outside"
// namespace (another machine) on a veth with 10.X.250.1 (host) /
// 10.X.250.2 (outside). Everything is removed in t.Cleanup.
type lab struct {
	t       testing.TB
	id      string
	octet   int
	table   string
	dataDir string
	outside ns.NetNS
	hostIP  net.IP // host side of the outside link
	outIP   net.IP // the outside machine
	// nets are the networks made by network(); state() waits for their
	// background veth deletions.
	nets []*Network
}

func newLab(t testing.TB) *lab {
	t.Helper()
	requireNet(t)
	n, _ := rand.Int(rand.Reader, big.NewInt(100))
	l := &lab{t: t, id: randHex(t, 3), octet: 140 + int(n.Int64())}
	l.table = "kedge-test-" + l.id
	l.dataDir = t.TempDir()
	t.Cleanup(func() {
		c, err := nftables.New()
		if err == nil {
			c.DelTable(&nftables.Table{Name: l.table, Family: nftables.TableFamilyIPv4})
			_ = c.Flush()
		}
	})
	l.outside = l.netns()
	l.hostIP = net.IPv4(10, byte(l.octet), 250, 1).To4()
	l.outIP = net.IPv4(10, byte(l.octet), 250, 2).To4()
	hostEnd := "kto" + l.id
	la := netlink.NewLinkAttrs()
	la.Name = hostEnd
	veth := &netlink.Veth{LinkAttrs: la, PeerName: "kto-peer" + l.id[:4], PeerNamespace: netlink.NsFd(int(l.outside.Fd()))}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("create outside veth: %v", err)
	}
	t.Cleanup(func() { _ = deleteLink(hostEnd) })
	hl, err := netlink.LinkByName(hostEnd)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(hl, &netlink.Addr{IPNet: &net.IPNet{IP: l.hostIP, Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(hl); err != nil {
		t.Fatal(err)
	}
	err = l.outside.Do(func(ns.NetNS) error {
		p, err := netlink.LinkByName("kto-peer" + l.id[:4])
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(p, &netlink.Addr{IPNet: &net.IPNet{IP: l.outIP, Mask: net.CIDRMask(24, 32)}}); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(p); err != nil {
			return err
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		t.Fatalf("configure outside namespace: %v", err)
	}
	// A fresh veth drops packets until the kernel's linkwatch activates it
	// (up to a second): wait for both ends to be operationally up.
	waitUp(t, nil, hostEnd)
	waitUp(t, l.outside, "kto-peer"+l.id[:4])
	return l
}

// waitUp polls until the link in netns (nil: the host) is operationally up.
func waitUp(t testing.TB, netns ns.NetNS, name string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var state netlink.LinkOperState
		get := func(ns.NetNS) error {
			l, err := netlink.LinkByName(name)
			if err == nil {
				state = l.Attrs().OperState
			}
			return err
		}
		var err error
		if netns == nil {
			err = get(nil)
		} else {
			err = netns.Do(get)
		}
		if err != nil {
			t.Fatalf("look up %s: %v", name, err)
		}
		if state == netlink.OperUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after 3s (state %v)", name, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// netns creates a namespace removed at cleanup.
func (l *lab) netns() ns.NetNS {
	l.t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		l.t.Fatalf("create netns: %v", err)
	}
	l.t.Cleanup(func() {
		_ = n.Close()
		_ = testutils.UnmountNS(n)
	})
	return n
}

// config returns the config of the lab's network number i (subnet 10.X.i.0/24).
func (l *lab) config(i int) Config {
	return Config{
		Name:    fmt.Sprintf("net%d-%s", i, l.id),
		Bridge:  fmt.Sprintf("ktb%d%s", i, l.id),
		Subnet:  fmt.Sprintf("10.%d.%d.0/24", l.octet, i),
		DataDir: l.dataDir,
		Table:   l.table,
	}
}

// network builds network i and removes its bridge at cleanup.
func (l *lab) network(i int) *Network {
	l.t.Helper()
	cfg := l.config(i)
	n, err := New(cfg)
	if err != nil {
		l.t.Fatalf("new network: %v", err)
	}
	l.t.Cleanup(func() { _ = removeBridge(cfg.Bridge) })
	l.nets = append(l.nets, n)
	return n
}

// serveTCP listens on addr inside netns and answers every connection with
// the peer address it saw, until cleanup.
func serveTCP(t testing.TB, netns ns.NetNS, addr string) {
	t.Helper()
	var ln net.Listener
	err := netns.Do(func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = io.WriteString(c, host)
			c.Close()
		}
	}()
}

// serveUDP answers every datagram on addr inside netns with the sender's address.
func serveUDP(t testing.TB, netns ns.NetNS, addr string) {
	t.Helper()
	var pc net.PacketConn
	err := netns.Do(func(ns.NetNS) error {
		var err error
		pc, err = net.ListenPacket("udp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(from.String())
			_, _ = pc.WriteTo([]byte(host), from)
		}
	}()
}

// dialTCP connects from netns (nil: the host) and returns what the server
// said (its view of our address).
func dialTCP(netns ns.NetNS, addr string, timeout time.Duration) (string, error) {
	var c net.Conn
	dial := func(ns.NetNS) error {
		var err error
		c, err = net.DialTimeout("tcp4", addr, timeout)
		return err
	}
	var err error
	if netns == nil {
		err = dial(nil)
	} else {
		err = netns.Do(dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

// askUDP sends one datagram from netns and returns the answer, retrying
// until the deadline (UDP may drop the first packet while ARP resolves).
func askUDP(netns ns.NetNS, addr string, timeout time.Duration) (string, error) {
	var c net.Conn
	err := netns.Do(func(ns.NetNS) error {
		var err error
		c, err = net.Dial("udp4", addr)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte("?")); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("no UDP answer from %s within %v", addr, timeout)
}

// state is what a user would inspect after an operation: veths on the
// bridge, the bridge's presence, rule tags in the table, IPAM reservations.
type state struct {
	bridge       bool
	veths        []string
	rules        []string
	reservations []string
}

func (l *lab) state(cfg Config) state {
	l.t.Helper()
	for _, n := range l.nets {
		n.Wait()
	}
	var s state
	if _, err := netlink.LinkByName(cfg.Bridge); err == nil {
		s.bridge = true
	}
	veths, err := bridgePorts(cfg.Bridge)
	if err != nil {
		l.t.Fatal(err)
	}
	s.veths = veths
	rs, err := openRuleset(cfg.Table)
	if err != nil {
		l.t.Fatal(err)
	}
	all, _, err := rs.rules()
	if err != nil {
		l.t.Fatal(err)
	}
	for _, r := range all {
		if strings.Contains(r.tag, cfg.Name) || strings.Contains(r.tag, cfg.Bridge) {
			s.rules = append(s.rules, r.tag)
		}
	}
	entries, err := os.ReadDir(filepath.Join(cfg.DataDir, cfg.Name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		l.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "lock" && !strings.HasPrefix(e.Name(), "last_reserved_ip") {
			s.reservations = append(s.reservations, e.Name())
		}
	}
	return s
}

// attachmentRules filters rule tags belonging to attachments.
func (s state) attachmentRules() []string {
	var out []string
	for _, r := range s.rules {
		if strings.HasPrefix(r, "c:") {
			out = append(out, r)
		}
	}
	return out
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// removeBridge deletes a test bridge and its keeper.
func removeBridge(name string) error {
	return errors.Join(deleteKeeper(name), deleteLink(name))
}
