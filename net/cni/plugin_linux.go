//go:build linux

package cni

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"
	"github.com/vishvananda/netlink"
)

// lockNetwork serialises the plugin's operations on one network across
// processes (a flock beside the IPAM directory; the allocator's own lock is
// only held around single reservations).
func lockNetwork(nc *netConf) (func(), error) {
	if err := os.MkdirAll(nc.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create IPAM data dir %s: %w", nc.DataDir, err)
	}
	path := filepath.Join(nc.DataDir, ".lock-"+nc.Name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open network lock %s: %w", path, err)
	}
	l, err := disk.NewFileLock(path)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("open network lock %s: %w", path, err)
	}
	if err := l.Lock(); err != nil {
		l.Close()
		return nil, fmt.Errorf("lock network %s: %w", nc.Name, err)
	}
	return func() { _ = l.Unlock(); _ = l.Close() }, nil
}

// openAllocator opens the network's host-local store and allocator.
func openAllocator(nc *netConf) (*disk.Store, *allocator.IPAllocator, error) {
	store, err := disk.New(nc.Name, nc.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("open IPAM store of %s in %s: %w", nc.Name, nc.DataDir, err)
	}
	rs := allocator.RangeSet{{Subnet: types.IPNet(*nc.subnet), Gateway: nc.gateway}}
	if err := rs.Canonicalize(); err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("%w: network %s: range: %v", ErrInvalidConfig, nc.Name, err)
	}
	return store, allocator.NewIPAllocator(&rs, store, 0), nil
}

// parseArgs validates what every command but GC needs beyond the config.
func parseArgs(args *skel.CmdArgs, needNetns bool) (*netConf, error) {
	nc, err := parseConfig(args.StdinData)
	if err != nil {
		return nil, err
	}
	if args.ContainerID == "" || strings.ContainsAny(args.ContainerID, "/\n\x00 ") {
		return nil, fmt.Errorf("%w: container id %q", ErrInvalidConfig, args.ContainerID)
	}
	if err := validIfName(args.IfName); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if needNetns && args.Netns == "" {
		return nil, fmt.Errorf("%w: no network namespace given", ErrInvalidConfig)
	}
	return nc, nil
}

// add is CNI ADD: bridge, veth, address, routes, rules. On failure it
// removes whatever it made.
//
// Only the reservation (address, port rules, the bridge) is made under the
// network's lock; the veth pair is plumbed outside it, so that attachments
// to one network proceed in parallel (ten pods placed on a node at once).
func add(args *skel.CmdArgs) (_ *current.Result, err error) {
	nc, err := parseArgs(args, true)
	if err != nil {
		return nil, err
	}
	netns, err := ns.GetNS(args.Netns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", args.Netns, err)
	}
	defer netns.Close()
	res, br, err := reserve(nc, args)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if terr := lockedTeardown(nc, args.ContainerID, args.IfName); terr != nil {
				err = errors.Join(err, fmt.Errorf("undo: %w", terr))
			}
		}
	}()
	hostName := hostVethName(nc.Name, args.ContainerID, args.IfName)
	for attempt := 1; ; attempt++ {
		res.Interfaces = res.Interfaces[:1]
		err = plumb(nc, br, res, hostName, args.IfName, args.Netns, netns)
		if err == nil {
			break
		}
		if derr := deleteLink(hostName); derr != nil || attempt == plumbAttempts {
			return nil, err
		}
		time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
	}
	waitForwarding(hostName)
	return res, nil
}

// reserve is the part of ADD made under the network's lock: it checks the
// network and the ports, removes an earlier attempt's leftovers, ensures
// the bridge and the network's rules, allocates the address and publishes
// the ports (a DNAT rule to an address whose veth is not there yet is
// harmless). It returns the result without the veth pair, and the bridge.
// On failure it removes whatever it made.
func reserve(nc *netConf, args *skel.CmdArgs) (_ *current.Result, _ netlink.Link, err error) {
	// The overlap check only reads the host's addresses, which no attach to
	// this network changes: it runs before the lock, which it would hold up.
	if err := checkOverlap(nc); err != nil {
		return nil, nil, err
	}
	unlock, err := lockNetwork(nc)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	rs, err := openRuleset(nc.Table)
	if err != nil {
		return nil, nil, err
	}
	existing, complete, err := rs.rules()
	if err != nil {
		return nil, nil, err
	}
	if err := checkPorts(nc, existing, attachmentTag(nc.Name, args.ContainerID, args.IfName)); err != nil {
		return nil, nil, err
	}
	store, alloc, err := openAllocator(nc)
	if err != nil {
		return nil, nil, err
	}
	defer store.Close()
	if store.FindByID(args.ContainerID, args.IfName) {
		return nil, nil, fmt.Errorf("%w: %s/%s is already attached to %s", ErrInvalidConfig, args.ContainerID, args.IfName, nc.Name)
	}
	// A veth by this attachment's name without a reservation is a leftover
	// (a crash before GC ran): it goes, so the container can attach again.
	// Its rules too, or they would shadow the new ones.
	if err := deleteLink(hostVethName(nc.Name, args.ContainerID, args.IfName)); err != nil {
		return nil, nil, fmt.Errorf("remove stale veth: %w", err)
	}
	self := attachmentTag(nc.Name, args.ContainerID, args.IfName)
	if _, err := rs.deleteWhere(existing, func(t string) bool { return tagAttachment(t) == self }); err != nil {
		return nil, nil, fmt.Errorf("remove stale rules: %w", err)
	}

	br, err := ensureBridge(nc)
	if err != nil {
		return nil, nil, err
	}
	if !complete {
		if err := rs.ensure(); err != nil {
			return nil, nil, err
		}
	}
	if err := rs.ensureNetworkRules(nc, existing); err != nil {
		return nil, nil, err
	}

	defer func() {
		if err != nil {
			if terr := teardown(nc, args.ContainerID, args.IfName, deleteLink); terr != nil {
				err = errors.Join(err, fmt.Errorf("undo: %w", terr))
			}
		}
	}()
	ipc, err := alloc.Get(args.ContainerID, args.IfName, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("allocate an address in %s: %w", nc.subnet, err)
	}
	res := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{{Name: nc.Bridge, Mac: br.Attrs().HardwareAddr.String()}},
		Routes:     []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: nc.gateway}},
	}
	ipc.Interface = current.Int(2)
	res.IPs = []*current.IPConfig{ipc}
	if err := rs.addPortRules(nc, args.ContainerID, args.IfName, ipc.Address.IP); err != nil {
		return nil, nil, err
	}
	return res, br, nil
}

// lockedTeardown undoes an attachment under the network's lock.
func lockedTeardown(nc *netConf, id, ifname string) error {
	unlock, err := lockNetwork(nc)
	if err != nil {
		return err
	}
	defer unlock()
	return teardown(nc, id, ifname, deleteLink)
}

// plumbAttempts bounds how often plumb is tried for one ADD.
const plumbAttempts = 4

// plumb creates the attachment's veth pair and configures the container
// end (address, routes) in netns, adding both ends to res.Interfaces.
//
// A network namespace made an instant before sometimes refuses the veth or
// loses it again: the create fails with ENODEV or EINVAL, or the container
// end vanishes while it is configured (seen on Linux 6.18 with ten pods
// starting at once, about one attachment in twenty; a namespace a few
// milliseconds old never does). So add deletes the pair and calls plumb
// again, after a short pause, up to plumbAttempts times.
func plumb(nc *netConf, br netlink.Link, res *current.Result, hostName, ifName, netnsPath string, netns ns.NetNS) error {
	hostLink, err := createVeth(nc, br, hostName, ifName, netns)
	if err != nil {
		return err
	}
	res.Interfaces = append(res.Interfaces, &current.Interface{Name: hostName, Mac: hostLink.Attrs().HardwareAddr.String()})
	return netns.Do(func(ns.NetNS) error {
		cl, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("look up %s in %s: %w", ifName, netnsPath, err)
		}
		res.Interfaces = append(res.Interfaces, &current.Interface{Name: ifName, Mac: cl.Attrs().HardwareAddr.String(), Sandbox: netnsPath})
		if err := ipam.ConfigureIface(ifName, res); err != nil {
			return fmt.Errorf("configure %s in %s: %w", ifName, netnsPath, err)
		}
		return nil
	})
}

// checkPorts fails if a port to publish is published by another attachment
// in this table or cannot be bound on the host.
func checkPorts(nc *netConf, existing []taggedRule, self string) error {
	for _, p := range nc.ports {
		for _, r := range existing {
			other := tagPort(r.tag)
			if other == "" || tagAttachment(r.tag) == self || !portsClash(other, p) {
				continue
			}
			return fmt.Errorf("publish %s: already published by %s: %w", portKey(p), strings.TrimPrefix(tagAttachment(r.tag), "c:"), ErrPortInUse)
		}
		host := p.HostIP
		if host == "" {
			host = "0.0.0.0"
		}
		addr := net.JoinHostPort(host, strconv.Itoa(p.HostPort))
		if p.Protocol == "udp" {
			c, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return fmt.Errorf("publish %s: %v: %w", portKey(p), err, ErrPortInUse)
			}
			c.Close()
			continue
		}
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return fmt.Errorf("publish %s: %v: %w", portKey(p), err, ErrPortInUse)
		}
		l.Close()
	}
	return nil
}

// portsClash reports whether a published port key ("proto/ip/port") takes p.
func portsClash(key string, p PortMapping) bool {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || parts[0] != p.Protocol || parts[2] != strconv.Itoa(p.HostPort) {
		return false
	}
	return parts[1] == "*" || p.HostIP == "" || parts[1] == p.HostIP
}

// teardown removes an attachment: its veth pair (deleting the host end
// removes the container end), its address and its rules. Everything missing
// is fine, so DEL is idempotent. Deleting a link and deleting rules each
// wait for an RCU grace period in the kernel (~10 ms each here); running
// them at once lets them share it.
func teardown(nc *netConf, id, ifname string, delLink func(string) error) error {
	linkErr := make(chan error, 1)
	go func() { linkErr <- delLink(hostVethName(nc.Name, id, ifname)) }()
	var errs []error
	if store, err := disk.New(nc.Name, nc.DataDir); err != nil {
		errs = append(errs, fmt.Errorf("open IPAM store of %s: %w", nc.Name, err))
	} else {
		if err := store.ReleaseByID(id, ifname); err != nil {
			errs = append(errs, fmt.Errorf("release address of %s/%s: %w", id, ifname, err))
		}
		store.Close()
	}
	if rs, err := openRuleset(nc.Table); err != nil {
		errs = append(errs, err)
	} else {
		all, _, err := rs.rules()
		if err == nil {
			tag := attachmentTag(nc.Name, id, ifname)
			_, err = rs.deleteWhere(all, func(t string) bool { return tagAttachment(t) == tag })
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := <-linkErr; err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// del is CNI DEL.
func del(args *skel.CmdArgs, delLink func(string) error) error {
	nc, err := parseArgs(args, false)
	if err != nil {
		return err
	}
	unlock, err := lockNetwork(nc)
	if err != nil {
		return err
	}
	defer unlock()
	return teardown(nc, args.ContainerID, args.IfName, delLink)
}
