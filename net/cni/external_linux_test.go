//go:build linux

package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// debianPluginDir is where Debian's containernetworking-plugins installs the
// standard plugins (scripts/test.sh installs the package).
const debianPluginDir = "/usr/lib/cni"

// requireStandardPlugins skips without root, and fails as root when the
// standard plugins are not installed (CI installs them).
func requireStandardPlugins(tb testing.TB) {
	tb.Helper()
	requireNet(tb)
	if _, err := os.Stat(filepath.Join(debianPluginDir, "bridge")); err != nil {
		tb.Fatalf("the standard CNI plugins are missing (apt-get install containernetworking-plugins): %v", err)
	}
}

// externalLab is a conflist for the standard bridge + host-local plugins on
// a private bridge, subnet and IPAM dir.
type externalLab struct {
	*lab
	name, bridge, ipamDir string
}

func newExternalLab(t *testing.T) *externalLab {
	t.Helper()
	requireStandardPlugins(t)
	l := newLab(t)
	x := &externalLab{lab: l, name: "std-" + l.id, bridge: "kxb" + l.id, ipamDir: t.TempDir()}
	t.Cleanup(func() { _ = deleteLink(x.bridge) }) // the bridge plugin's device outlives the network
	return x
}

// confList returns the lab's conflist with extra plugins after the bridge.
func (x *externalLab) confList(extra ...string) []byte {
	plugins := []string{fmt.Sprintf(`{"type":"bridge","bridge":%q,"isGateway":true,"ipam":{"type":"host-local","subnet":"10.%d.77.0/24","dataDir":%q}}`,
		x.bridge, x.octet, x.ipamDir)}
	plugins = append(plugins, extra...)
	return []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[%s]}`, x.name, strings.Join(plugins, ",")))
}

func (x *externalLab) network(conf []byte, dirs ...string) *Network {
	x.t.Helper()
	if len(dirs) == 0 {
		dirs = []string{debianPluginDir}
	}
	n, err := NewExternal(ExternalConfig{ConfList: conf, DataDir: x.dataDir, PluginDirs: dirs})
	if err != nil {
		x.t.Fatalf("new external network: %v", err)
	}
	return n
}

// reservations lists host-local's address files of the network.
func (x *externalLab) reservations() []string {
	entries, _ := os.ReadDir(filepath.Join(x.ipamDir, x.name))
	var out []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// hostVeths lists the veths enslaved to the lab's bridge.
func (x *externalLab) hostVeths() []string {
	x.t.Helper()
	br, err := netlink.LinkByName(x.bridge)
	if err != nil {
		return nil // no bridge, no ports
	}
	links, err := netlink.LinkList()
	if err != nil {
		x.t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// The standard bridge and host-local plugins, run through libcni from a
// user's conflist: two namespaces get addresses and reach each other;
// Detach and GC release the addresses and veths; kedge's attachment records
// go with them.
func TestExternalNetworkStandardBridge(t *testing.T) {
	x := newExternalLab(t)
	n := x.network(x.confList())
	ctx := ctxT(t)
	if err := n.Validate(ctx); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if n.External() == nil || n.Name() != x.name {
		t.Fatalf("external %v name %s", n.External(), n.Name())
	}
	a, b := x.netns(), x.netns()
	attA, err := n.Attach(ctx, "ctr-a", a.Path(), nil)
	if err != nil {
		t.Fatalf("attach a: %v", err)
	}
	attB, err := n.Attach(ctx, "ctr-b", b.Path(), nil)
	if err != nil {
		t.Fatalf("attach b: %v", err)
	}
	subnet := &net.IPNet{IP: net.IPv4(10, byte(x.octet), 77, 0), Mask: net.CIDRMask(24, 32)}
	if !subnet.Contains(attA.IP.IP) || !subnet.Contains(attB.IP.IP) || attA.IP.IP.Equal(attB.IP.IP) || attA.MAC == nil {
		t.Fatalf("addresses %v and %v (MAC %v), want two in %v", attA.IP, attB.IP, attA.MAC, subnet)
	}
	if !attA.Gateway.Equal(net.IPv4(10, byte(x.octet), 77, 1)) {
		t.Fatalf("gateway %v", attA.Gateway)
	}
	serveTCP(t, a, net.JoinHostPort(attA.IP.IP.String(), "7000"))
	got, err := dialTCP(b, net.JoinHostPort(attA.IP.IP.String(), "7000"), 5*time.Second)
	if err != nil || got != attB.IP.IP.String() {
		t.Fatalf("b -> a: %q, %v (want a to see %s)", got, err, attB.IP.IP)
	}
	if err := n.Check(ctx, "ctr-a", a.Path()); err != nil {
		t.Fatalf("check: %v", err)
	}
	if r := x.reservations(); len(r) != 2 || len(x.hostVeths()) != 2 {
		t.Fatalf("reservations %v veths %v, want 2 of each", r, x.hostVeths())
	}
	if err := n.Detach(ctx, "ctr-a", a.Path()); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if err := n.Detach(ctx, "ctr-a", a.Path()); err != nil {
		t.Fatalf("a second detach: %v", err)
	}
	if r, v := x.reservations(), x.hostVeths(); len(r) != 1 || r[0] != attB.IP.IP.String() || len(v) != 1 {
		t.Fatalf("after detach: reservations %v veths %v", r, v)
	}
	// GC keeps the valid attachment; then, as after a crash, releases it.
	if err := n.GC(ctx, []string{"ctr-b"}); err != nil {
		t.Fatalf("gc: %v", err)
	}
	if r := x.reservations(); len(r) != 1 {
		t.Fatalf("gc released a valid attachment: %v", r)
	}
	if err := n.GC(ctx, nil); err != nil {
		t.Fatalf("gc: %v", err)
	}
	if r, v := x.reservations(), x.hostVeths(); len(r) != 0 || len(v) != 0 {
		t.Fatalf("after gc: reservations %v veths %v", r, v)
	}
	if recs, _ := n.attachments(); len(recs) != 0 {
		t.Fatalf("attachment records left: %+v", recs)
	}
	if err := n.Remove(ctx); err != nil {
		t.Fatalf("remove: %v", err)
	}
}

// An ADD cut short by a crash (the record written, libcni's cache not) is
// found by GC; an ADD failing in a later plugin is undone at once.
func TestExternalNetworkCrashAndFailedAdd(t *testing.T) {
	x := newExternalLab(t)
	ctx := ctxT(t)
	n := x.network(x.confList())
	a := x.netns()
	if _, err := n.Attach(ctx, "ctr-crash", a.Path(), nil); err != nil {
		t.Fatal(err)
	}
	// The crash: libcni's cache entry never written.
	if err := os.RemoveAll(filepath.Join(x.dataDir, ".cache")); err != nil {
		t.Fatal(err)
	}
	if err := n.GC(ctx, nil); err != nil {
		t.Fatalf("gc: %v", err)
	}
	if r, v := x.reservations(), x.hostVeths(); len(r) != 0 || len(v) != 0 {
		t.Fatalf("after gc of a crashed attachment: reservations %v veths %v", r, v)
	}
	// tuning fails its ADD on a sysctl that does not exist, after bridge
	// and host-local did their part.
	bad := x.network(x.confList(`{"type":"tuning","sysctl":{"net.ipv4.conf.eth0.no_such_knob":"1"}}`))
	if err := bad.Validate(ctx); err != nil {
		t.Fatalf("validate: %v", err)
	}
	b := x.netns()
	if _, err := bad.Attach(ctx, "ctr-bad", b.Path(), nil); err == nil || !strings.Contains(err.Error(), "tuning") {
		t.Fatalf("attach through a failing tuning: %v", err)
	}
	if r, v := x.reservations(), x.hostVeths(); len(r) != 0 || len(v) != 0 {
		t.Fatalf("a failed ADD left reservations %v veths %v", r, v)
	}
	if recs, _ := bad.attachments(); len(recs) != 0 {
		t.Fatalf("a failed ADD left records %+v", recs)
	}
	err := b.Do(func(ns.NetNS) error {
		_, err := netlink.LinkByName("eth0")
		return err
	})
	if err == nil {
		t.Fatal("a failed ADD left eth0 in the namespace")
	}
	// Ports on a conflist without the portMappings capability are refused.
	if _, err := n.Attach(ctx, "ctr-ports", b.Path(), []PortMapping{{HostPort: 8080, ContainerPort: 80}}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "portmap") {
		t.Fatalf("ports without portmap: %v", err)
	}
}

// A plugin binary missing from the CNI path is named, with the dirs
// searched, at validation and at attach; the attach leaves nothing.
func TestExternalNetworkMissingPlugin(t *testing.T) {
	x := newExternalLab(t)
	ctx := ctxT(t)
	dir := t.TempDir()
	for _, p := range []string{"bridge", "host-local"} {
		if err := os.Symlink(filepath.Join(debianPluginDir, p), filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	n := x.network(x.confList(`{"type":"no-such-plugin"}`), dir, "/nonexistent/cni")
	err := n.Validate(ctx)
	if !errors.Is(err, ErrPluginNotFound) || !strings.Contains(err.Error(), `no-such-plugin`) || !strings.Contains(err.Error(), dir+", /nonexistent/cni") {
		t.Fatalf("validate: %v, want ErrPluginNotFound naming the plugin and the dirs", err)
	}
	a := x.netns()
	if _, err := n.Attach(ctx, "ctr-a", a.Path(), nil); !errors.Is(err, ErrPluginNotFound) {
		t.Fatalf("attach: %v, want ErrPluginNotFound", err)
	}
	if r := x.reservations(); len(r) != 0 {
		t.Fatalf("a refused attach reserved %v", r)
	}
	if _, err := netlink.LinkByName(x.bridge); err == nil {
		t.Fatalf("a refused attach made bridge %s", x.bridge)
	}
	if recs, _ := n.attachments(); len(recs) != 0 {
		t.Fatalf("a refused attach left records %+v", recs)
	}
}

// A third-party plugin that hangs in ADD is cut off after the network's
// timeout; the DEL that undoes it runs, and nothing stays recorded.
func TestExternalNetworkHungPluginTimesOut(t *testing.T) {
	dir := t.TempDir()
	script := `#!/bin/sh
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
ADD) exec sleep 30 ;;
*) exit 0 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "kedge-test-hang"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	n, err := NewExternal(ExternalConfig{
		ConfList: []byte(`{"cniVersion":"1.0.0","name":"hang","plugins":[{"type":"kedge-test-hang"}]}`),
		DataDir:  data, PluginDirs: []string{dir}, Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := n.Validate(ctx); err != nil {
		t.Fatalf("validate: %v", err)
	}
	start := time.Now()
	_, err = n.Attach(ctx, "ctr-hang", filepath.Join(data, "no-netns"), nil)
	if err == nil || (!errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "signal: killed")) || time.Since(start) > 10*time.Second {
		t.Fatalf("attach through a hanging plugin: %v after %v", err, time.Since(start))
	}
	if recs, _ := n.attachments(); len(recs) != 0 {
		t.Fatalf("records left: %+v", recs)
	}
}
