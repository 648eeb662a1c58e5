//go:build linux

package cni

import (
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// check is CNI CHECK: the bridge, the host veth on it, the container's
// interface with the address of prevResult and a default route, the IPAM
// reservation and one DNAT rule per published port and hook.
func check(args *skel.CmdArgs) error {
	nc, err := parseArgs(args, true)
	if err != nil {
		return err
	}
	if err := version.ParsePrevResult(&nc.PluginConf); err != nil {
		return fmt.Errorf("%w: prevResult: %v", ErrInvalidConfig, err)
	}
	if nc.PrevResult == nil {
		return fmt.Errorf("%w: CHECK needs a prevResult", ErrInvalidConfig)
	}
	prev, err := current.NewResultFromResult(nc.PrevResult)
	if err != nil {
		return fmt.Errorf("%w: prevResult: %v", ErrInvalidConfig, err)
	}
	var want *current.IPConfig
	for _, ipc := range prev.IPs {
		if ipc.Address.IP.To4() != nil && nc.subnet.Contains(ipc.Address.IP) {
			want = ipc
		}
	}
	if want == nil {
		return fmt.Errorf("%w: prevResult has no address in %s", ErrCheckFailed, nc.subnet)
	}
	id, ifname := args.ContainerID, args.IfName
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s/%s on %s: %s", ErrCheckFailed, id, ifname, nc.Name, fmt.Sprintf(format, a...))
	}

	br, err := netlinksafe.LinkByName(nc.Bridge)
	if err != nil {
		return fmt.Errorf("network %s: bridge %s: %w", nc.Name, nc.Bridge, ErrUnknownNetwork)
	}
	hostName := hostVethName(nc.Name, id, ifname)
	hl, err := netlinksafe.LinkByName(hostName)
	if err != nil {
		return fail("host veth %s: %v", hostName, err)
	}
	if hl.Attrs().MasterIndex != br.Attrs().Index {
		return fail("host veth %s is not on bridge %s", hostName, nc.Bridge)
	}

	store, err := openStore(nc)
	if err != nil {
		return err
	}
	ips := store.GetByID(id, ifname)
	store.Close()
	if len(ips) != 1 || !ips[0].Equal(want.Address.IP) {
		return fail("IPAM holds %v, want %s", ips, want.Address.IP)
	}

	netns, err := ns.GetNS(args.Netns)
	if err != nil {
		return fail("open netns %s: %v", args.Netns, err)
	}
	defer netns.Close()
	err = netns.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(ifname)
		if err != nil {
			return fail("interface %s: %v", ifname, err)
		}
		addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return fail("addresses of %s: %v", ifname, err)
		}
		found := false
		for _, a := range addrs {
			found = found || a.IPNet.String() == want.Address.String()
		}
		if !found {
			return fail("%s lacks %s", ifname, want.Address.String())
		}
		routes, err := netlinksafe.RouteList(l, netlink.FAMILY_V4)
		if err != nil {
			return fail("routes of %s: %v", ifname, err)
		}
		for _, r := range routes {
			if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.Equal(nc.gateway) {
				return nil
			}
		}
		return fail("no default route via %s", nc.gateway)
	})
	if err != nil {
		return err
	}

	rs, err := openRuleset(nc.Table)
	if err != nil {
		return err
	}
	all, _, err := rs.rules()
	if err != nil {
		return err
	}
	count := map[string]int{}
	masq := false
	for _, r := range all {
		count[r.tag]++
		masq = masq || r.tag == networkTag(nc.Bridge, "masq")
	}
	if !masq {
		return fail("masquerade rule missing from table %s", nc.Table)
	}
	for _, p := range nc.ports {
		if n := count[portTag(nc.Name, id, ifname, p)]; n != 2 {
			return fail("published port %s has %d rules, want 2", portKey(p), n)
		}
	}
	return nil
}

// openStore opens the network's IPAM store.
func openStore(nc *netConf) (storeCloser, error) {
	s, _, err := openAllocator(nc)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// storeCloser is the part of the disk store that check and gc use.
type storeCloser interface {
	GetByID(id, ifname string) []net.IP
	GC(attachments []types.GCAttachment) error
	Close() error
}

// gc is CNI GC: releases addresses, rules and host veths of every
// attachment of this network not in cni.dev/valid-attachments.
func gc(args *skel.CmdArgs) error {
	nc, err := parseConfig(args.StdinData)
	if err != nil {
		return err
	}
	unlock, err := lockNetwork(nc)
	if err != nil {
		return err
	}
	defer unlock()
	valid := map[string]bool{}
	veths := map[string]bool{}
	for _, a := range nc.ValidAttachments {
		valid[attachmentTag(nc.Name, a.ContainerID, a.IfName)] = true
		veths[hostVethName(nc.Name, a.ContainerID, a.IfName)] = true
	}
	store, err := openStore(nc)
	if err != nil {
		return err
	}
	err = store.GC(nc.ValidAttachments)
	store.Close()
	if err != nil {
		return fmt.Errorf("collect IPAM reservations of %s: %w", nc.Name, err)
	}
	rs, err := openRuleset(nc.Table)
	if err != nil {
		return err
	}
	all, _, err := rs.rules()
	if err != nil {
		return err
	}
	prefix := "c:" + nc.Name + "/"
	if _, err := rs.deleteWhere(all, func(tag string) bool {
		a := tagAttachment(tag)
		return len(a) > len(prefix) && a[:len(prefix)] == prefix && !valid[a]
	}); err != nil {
		return err
	}
	ports, err := bridgePorts(nc.Bridge)
	if err != nil {
		return err
	}
	for _, name := range ports {
		if len(name) > len(hostVethPrefix) && name[:len(hostVethPrefix)] == hostVethPrefix && !veths[name] {
			if err := deleteLink(name); err != nil {
				return fmt.Errorf("collect stale veth: %w", err)
			}
		}
	}
	return nil
}
