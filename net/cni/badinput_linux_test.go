//go:build linux

package cni

import (
	"errors"
	"fmt"
	"net"
	"testing"
)

// noTrace fails unless the network left nothing: no bridge port, no
// address reserved, no attachment rule.
func (l *lab) noTrace(t *testing.T, cfg Config, what string) {
	t.Helper()
	s := l.state(cfg)
	if len(s.veths) != 0 || len(s.reservations) != 0 || len(s.attachmentRules()) != 0 {
		t.Fatalf("%s left state behind: %+v", what, s)
	}
}

func TestOverlappingSubnet(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t)
	// The outside link already holds 10.X.250.0/24 on the host.
	cfg := l.config(250)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeBridge(cfg.Bridge) })
	c := l.netns()
	if _, err := n.Attach(ctx, "c", c.Path(), nil); !errors.Is(err, ErrSubnetOverlap) {
		t.Fatalf("attach on an overlapping subnet: %v, want ErrSubnetOverlap", err)
	}
	s := l.state(cfg)
	if s.bridge || len(s.rules) != 0 || len(s.reservations) != 0 {
		t.Fatalf("overlap left state: %+v", s)
	}
	// A second network over the first one's subnet is refused as well.
	n1 := l.network(1)
	if _, err := n1.Attach(ctx, "c1", c.Path(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n1.Detach(ctx, "c1", c.Path()) })
	clash := l.config(3)
	clash.Subnet = fmt.Sprintf("10.%d.1.128/25", l.octet)
	nc, err := New(clash)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeBridge(clash.Bridge) })
	c2 := l.netns()
	if _, err := nc.Attach(ctx, "c2", c2.Path(), nil); !errors.Is(err, ErrSubnetOverlap) {
		t.Fatalf("attach on a subnet inside another network's: %v, want ErrSubnetOverlap", err)
	}
	if s := l.state(clash); s.bridge || len(s.reservations) != 0 {
		t.Fatalf("clash left state: %+v", s)
	}
}

func TestHostPortInUse(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	cfg := l.config(1)
	ctx := ctxT(t)

	// A host process holds the port.
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	c := l.netns()
	if _, err := n.Attach(ctx, "c", c.Path(), []PortMapping{{HostPort: busy, ContainerPort: 80}}); !errors.Is(err, ErrPortInUse) {
		t.Fatalf("publish a bound port: %v, want ErrPortInUse", err)
	}
	l.noTrace(t, cfg, "publishing a bound port")

	// Another container publishes it first.
	port := freePort(t)
	first := l.netns()
	if _, err := n.Attach(ctx, "first", first.Path(), []PortMapping{{HostPort: port, ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Detach(ctx, "first", first.Path()) })
	_, err = n.Attach(ctx, "second", c.Path(), []PortMapping{{HostPort: port + 0, ContainerPort: 81, HostIP: l.hostIP.String()}})
	if !errors.Is(err, ErrPortInUse) {
		t.Fatalf("publish a port another container holds: %v, want ErrPortInUse", err)
	}
	s := l.state(cfg)
	if len(s.veths) != 1 || len(s.reservations) != 1 || len(s.attachmentRules()) != 2 {
		t.Fatalf("failed attach changed state: %+v", s)
	}
	// The same number over udp is another port.
	if _, err := n.Attach(ctx, "second", c.Path(), []PortMapping{{HostPort: port, ContainerPort: 81, Protocol: "udp"}}); err != nil {
		t.Fatalf("udp on a tcp-published number: %v", err)
	}
	if err := n.Detach(ctx, "second", c.Path()); err != nil {
		t.Fatal(err)
	}
}

func TestAttachFailuresLeaveNothing(t *testing.T) {
	l := newLab(t)
	n := l.network(1)
	cfg := l.config(1)
	ctx := ctxT(t)
	c := l.netns()
	if _, err := n.Attach(ctx, "c", "/nonexistent/netns", nil); err == nil {
		t.Fatal("attach to a missing netns succeeded")
	}
	l.noTrace(t, cfg, "a missing netns")
	if _, err := n.Attach(ctx, "c", c.Path(), []PortMapping{{HostPort: 70000, ContainerPort: 1}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("port 70000: %v, want ErrInvalidConfig", err)
	}
	if _, err := n.Attach(ctx, "c", c.Path(), []PortMapping{{HostPort: 1000, ContainerPort: 1, Protocol: "sctp"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("sctp: %v, want ErrInvalidConfig", err)
	}
	l.noTrace(t, cfg, "invalid port mappings")
	// Attaching twice is refused and leaves the first attachment intact.
	if _, err := n.Attach(ctx, "c", c.Path(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Attach(ctx, "c", c.Path(), nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("second attach: %v, want ErrInvalidConfig", err)
	}
	if err := n.Check(ctx, "c", c.Path()); err != nil {
		t.Fatalf("first attachment damaged by the refused second: %v", err)
	}
	if err := n.Detach(ctx, "c", c.Path()); err != nil {
		t.Fatal(err)
	}
	l.noTrace(t, cfg, "detach")
	// An exhausted subnet fails cleanly.
	small := l.config(2)
	small.Subnet = fmt.Sprintf("10.%d.2.0/30", l.octet) // one usable address besides the gateway
	ns2, err := New(small)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeBridge(small.Bridge) })
	x, y := l.netns(), l.netns()
	if _, err := ns2.Attach(ctx, "x", x.Path(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns2.Detach(ctx, "x", x.Path()) })
	if _, err := ns2.Attach(ctx, "y", y.Path(), nil); err == nil {
		t.Fatal("attach beyond the subnet's addresses succeeded")
	}
	if s := l.state(small); len(s.veths) != 1 || len(s.reservations) != 1 {
		t.Fatalf("exhausted subnet left state: %+v", s)
	}
}

func TestUnknownNetworkAndCheckFailures(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t)
	n := l.network(1)
	c := l.netns()
	if err := n.Check(ctx, "c", c.Path()); err == nil {
		t.Fatal("check of a never-attached container passed")
	}
	if _, err := n.Attach(ctx, "c", c.Path(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Detach(ctx, "c", c.Path()) })
	// The veth vanishing is seen by CHECK.
	if err := deleteLink(hostVethName(l.config(1).Name, "c", DefaultContainerIfName)); err != nil {
		t.Fatal(err)
	}
	if err := n.Check(ctx, "c", c.Path()); !errors.Is(err, ErrCheckFailed) {
		t.Fatalf("check after the veth vanished: %v, want ErrCheckFailed", err)
	}
	// The bridge vanishing makes the network unknown.
	if err := removeBridge(l.config(1).Bridge); err != nil {
		t.Fatal(err)
	}
	if err := n.Check(ctx, "c", c.Path()); !errors.Is(err, ErrUnknownNetwork) {
		t.Fatalf("check without the bridge: %v, want ErrUnknownNetwork", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	base := Config{Name: "n", Bridge: "kb0", Subnet: "10.9.0.0/24", DataDir: "/tmp/x", Table: "kedge"}
	for name, mutate := range map[string]func(*Config){
		"name":        func(c *Config) { c.Name = "../x" },
		"bridge":      func(c *Config) { c.Bridge = "a-very-long-bridge-name" },
		"subnet":      func(c *Config) { c.Subnet = "10.9.0.0" },
		"ipv6":        func(c *Config) { c.Subnet = "fd00::/64" },
		"gateway":     func(c *Config) { c.Gateway = "10.10.0.1" },
		"gw=network":  func(c *Config) { c.Gateway = "10.9.0.0" },
		"datadir":     func(c *Config) { c.DataDir = "relative" },
		"table":       func(c *Config) { c.Table = "" },
		"mtu":         func(c *Config) { c.MTU = 100 },
		"tiny subnet": func(c *Config) { c.Subnet = "10.9.0.0/31" },
	} {
		c := base
		mutate(&c)
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := New(base); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestBridgeNameClash(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t)
	n1 := l.network(1)
	a := l.netns()
	if _, err := n1.Attach(ctx, "a", a.Path(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n1.Detach(ctx, "a", a.Path()) })
	clash := l.config(2)
	clash.Bridge = l.config(1).Bridge
	n2, err := New(clash)
	if err != nil {
		t.Fatal(err)
	}
	b := l.netns()
	if _, err := n2.Attach(ctx, "b", b.Path(), nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("second network on the same bridge: %v, want ErrInvalidConfig", err)
	}
	if s := l.state(clash); len(s.reservations) != 0 || len(s.veths) != 1 {
		t.Fatalf("clash left state: %+v", s)
	}
}

func TestCheckSeesMissingPortRule(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t)
	n := l.network(1)
	c := l.netns()
	if _, err := n.Attach(ctx, "c", c.Path(), []PortMapping{{HostPort: freePort(t), ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Detach(ctx, "c", c.Path()) })
	rs, err := openRuleset(l.table)
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := rs.rules()
	if err != nil {
		t.Fatal(err)
	}
	if k, err := rs.deleteWhere(all, func(tag string) bool { return tagPort(tag) != "" }); err != nil || k != 2 {
		t.Fatalf("delete port rules: %d, %v", k, err)
	}
	if err := n.Check(ctx, "c", c.Path()); !errors.Is(err, ErrCheckFailed) {
		t.Fatalf("check without the port rules: %v, want ErrCheckFailed", err)
	}
}
