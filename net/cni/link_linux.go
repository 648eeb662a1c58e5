//go:build linux

package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostVethPrefix starts the name of every host-side veth kedge creates.
const hostVethPrefix = "kv"

// hostVethName is the deterministic host-side veth name of an attachment, so
// DEL and GC find it without any saved state.
func hostVethName(network, id, ifname string) string {
	sum := sha256.Sum256([]byte(network + "/" + id + "/" + ifname))
	return hostVethPrefix + hex.EncodeToString(sum[:])[:12]
}

// isNotFound reports a missing link.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}

// checkOverlap fails when an address on any host interface other than the
// network's own bridge overlaps the subnet.
func checkOverlap(nc *netConf) error {
	brIndex := -1
	if br, err := netlinksafe.LinkByName(nc.Bridge); err == nil {
		brIndex = br.Attrs().Index
	}
	addrs, err := netlinksafe.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		if a.LinkIndex == brIndex || a.IPNet == nil {
			continue
		}
		n := &net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask}
		if n.Contains(nc.subnet.IP) || nc.subnet.Contains(n.IP) {
			name := fmt.Sprint(a.LinkIndex)
			if l, err := netlink.LinkByIndex(a.LinkIndex); err == nil {
				name = l.Attrs().Name
			}
			return fmt.Errorf("network %s: subnet %s overlaps %s on %s: %w", nc.Name, nc.subnet, a.IPNet, name, ErrSubnetOverlap)
		}
	}
	return nil
}

// ensureBridge creates the bridge if missing, gives it the gateway address,
// sets it up and lets it route 127.0.0.1-sourced packets (published ports
// reached from the host's loopback).
func ensureBridge(nc *netConf) (netlink.Link, error) {
	br, err := netlinksafe.LinkByName(nc.Bridge)
	if isNotFound(err) {
		la := netlink.NewLinkAttrs()
		la.Name = nc.Bridge
		la.MTU = nc.MTU
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create bridge %s: %w", nc.Bridge, err)
		}
		br, err = netlinksafe.LinkByName(nc.Bridge)
	}
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s: %w", nc.Bridge, err)
	}
	if br.Type() != "bridge" {
		return nil, fmt.Errorf("%w: network %s: %s exists and is a %s, not a bridge", ErrInvalidConfig, nc.Name, nc.Bridge, br.Type())
	}
	want := &net.IPNet{IP: nc.gateway, Mask: nc.subnet.Mask}
	addrs, err := netlinksafe.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", nc.Bridge, err)
	}
	found := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			found = true
			continue
		}
		return nil, fmt.Errorf("%w: network %s: bridge %s already has %s, not %s", ErrInvalidConfig, nc.Name, nc.Bridge, a.IPNet, want)
	}
	if !found {
		if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: want}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("add %s to bridge %s: %w", want, nc.Bridge, err)
		}
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(br); err != nil {
			return nil, fmt.Errorf("set bridge %s up: %w", nc.Bridge, err)
		}
	}
	if err := ensureSysctl(filepath.Join("/proc/sys/net/ipv4/conf", nc.Bridge, "route_localnet"), "1"); err != nil {
		return nil, err
	}
	if err := ensureSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
		return nil, err
	}
	if err := ensureKeeper(br); err != nil {
		return nil, err
	}
	return br, nil
}

// keeperNames are the two ends of a bridge's keeper veth (one on the
// bridge, its peer up in the host namespace).
func keeperNames(bridge string) (onBridge, peer string) {
	sum := sha256.Sum256([]byte("keeper/" + bridge))
	h := hex.EncodeToString(sum[:])[:12]
	return "kk" + h, "kl" + h
}

// ensureKeeper keeps the bridge's carrier on with a veth pair of its own.
// A bridge without ports loses carrier; when it regains it the kernel
// activates its queue from linkwatch, which runs non-urgent events up to a
// second late, and drops every packet until then: the first container after
// the network went empty would lose its first second of traffic. The first
// time, it waits (at most 2 s) for the bridge to come up.
func ensureKeeper(br netlink.Link) error {
	name, peer := keeperNames(br.Attrs().Name)
	if _, err := netlinksafe.LinkByName(name); err == nil {
		return nil
	} else if !isNotFound(err) {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = name
	la.MasterIndex = br.Attrs().Index
	la.Flags = net.FlagUp
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peer}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create keeper %s of bridge %s: %w", name, br.Attrs().Name, err)
	}
	for _, n := range []string{name, peer} {
		_ = ensureSysctl(filepath.Join("/proc/sys/net/ipv6/conf", n, "disable_ipv6"), "1")
	}
	p, err := netlinksafe.LinkByName(peer)
	if err != nil {
		return fmt.Errorf("look up %s: %w", peer, err)
	}
	if err := netlink.LinkSetUp(p); err != nil {
		return fmt.Errorf("set %s up: %w", peer, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		l, err := netlinksafe.LinkByName(br.Attrs().Name)
		if err != nil {
			return fmt.Errorf("look up bridge %s: %w", br.Attrs().Name, err)
		}
		if l.Attrs().OperState == netlink.OperUp || time.Now().After(deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond) // polling the kernel's linkwatch, which has no event to wait on here
	}
}

// deleteKeeper removes the bridge's keeper pair.
func deleteKeeper(bridge string) error {
	name, _ := keeperNames(bridge)
	return deleteLink(name)
}

// ensureSysctl writes value to a /proc/sys file unless it already holds it.
func ensureSysctl(path, value string) error {
	cur, err := os.ReadFile(path)
	if err == nil && len(cur) > 0 && string(cur[:len(cur)-1]) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s=%s: %w", path, value, err)
	}
	return nil
}

// deleteLink removes a link by name; a missing link is not an error.
func deleteLink(name string) error {
	l, err := netlinksafe.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// bridgePorts lists the attachments' veths on the bridge (not its keeper).
func bridgePorts(bridge string) ([]string, error) {
	br, err := netlinksafe.LinkByName(bridge)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s: %w", bridge, err)
	}
	links, err := netlinksafe.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index && strings.HasPrefix(l.Attrs().Name, hostVethPrefix) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// createVeth creates the attachment's veth pair in one netlink request: the
// host end already enslaved to the bridge and up, the container end created
// directly inside the container's namespace (no move between namespaces).
// Being atomic, a crash can never leave a veth outside the bridge, where GC
// would not find it.
func createVeth(nc *netConf, br netlink.Link, hostName, contName string, netns ns.NetNS) (netlink.Link, error) {
	la := netlink.NewLinkAttrs()
	la.Name = hostName
	la.MTU = nc.MTU
	la.MasterIndex = br.Attrs().Index
	la.Flags = net.FlagUp
	veth := &netlink.Veth{LinkAttrs: la, PeerName: contName, PeerNamespace: netlink.NsFd(int(netns.Fd()))}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create veth %s (container end %s): %w", hostName, contName, err)
	}
	l, err := netlinksafe.LinkByName(hostName)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", hostName, err)
	}
	// Hairpin lets the bridge send a container's packets DNATed back to
	// itself (its own published port through a host address) out the same port.
	if err := netlink.LinkSetHairpin(l, true); err != nil {
		return nil, fmt.Errorf("set hairpin on %s: %w", hostName, err)
	}
	return l, nil
}

// waitForwarding waits (at most a second) until the bridge forwards on the
// host veth. The kernel enables a bridge port asynchronously once the veth
// has carrier; a container that sends at once would lose its first ARP
// request and wait the neighbour retransmit time (1 s) for the next.
// The port state is read from sysfs (3 is forwarding); without that file
// there is nothing to wait on.
func waitForwarding(hostVeth string) {
	path := filepath.Join("/sys/class/net", hostVeth, "brport/state")
	deadline := time.Now().Add(time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(b)) == "3" || time.Now().After(deadline) {
			return
		}
		time.Sleep(200 * time.Microsecond) // polling: the kernel sends no event a plugin could wait on
	}
}
