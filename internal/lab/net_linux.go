//go:build linux

package lab

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces live (iproute2's convention,
// so that `ip netns list` and `ip netns exec` see the lab's).
const netnsDir = "/run/netns"

// defaultPool is where a lab picks its /24 when Config.Subnet is empty: far
// from the agent's own defaults (10.64.0.0/10 for bridges, 10.89.0.0/16 for
// user networks).
var defaultPool = netip.MustParsePrefix("10.200.0.0/13")

// hostOffset is added to a host's number to make its address (h1 is .11).
const hostOffset = 10

// ensureNetnsDir makes /run/netns exist and be a shared mount point, as
// `ip netns add` does, so that iproute2 and the lab agree on it.
func ensureNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", netnsDir, err)
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s onto itself: %w", netnsDir, err)
		}
		err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", netnsDir, err)
	}
	return nil
}

// onThreadIn runs fn on a locked OS thread that is in the network namespace
// open as nsFd, or in a new one when nsFd is negative. The thread is switched
// back afterwards; if that fails it is never unlocked, so the Go runtime
// ends it with the goroutine instead of reusing it in the wrong namespace.
// Whatever fn forks inherits the namespace; sockets it creates stay in it.
func onThreadIn(nsFd int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open the thread's network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if nsFd >= 0 {
			err = unix.Setns(nsFd, unix.CLONE_NEWNET)
		} else {
			err = unix.Unshare(unix.CLONE_NEWNET)
		}
		if err != nil {
			errc <- fmt.Errorf("enter the network namespace: %w", err)
			return // the thread stays locked and dies with this goroutine
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to the original network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// inNetNS runs fn on a thread in the named namespace file path.
func inNetNS(path string, fn func() error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	return onThreadIn(fd, fn)
}

// createNetNS makes a new network namespace bound at /run/netns/NAME.
func createNetNS(name string) (string, error) {
	path := filepath.Join(netnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", fmt.Errorf("create network namespace file: %w", err)
	}
	f.Close()
	err = onThreadIn(-1, func() error {
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind the new network namespace to %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("create network namespace %s: %w", name, err)
	}
	return path, nil
}

// deleteNetNS unmounts and removes a namespace file; a missing one is fine.
// The namespace itself ends when nothing else holds it.
func deleteNetNS(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}

// nsInode is the inode of a namespace file (what /proc/PID/ns/net links to
// as net:[INODE]); 0 when it cannot be read.
func nsInode(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}

// netHandle opens a netlink handle in the namespace at path.
func netHandle(path string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return h, nil
}

// randomID returns "kl" and 4 random hex digits.
func randomID() (string, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random lab id: %w", err)
	}
	return fmt.Sprintf("kl%02x%02x", b[0], b[1]), nil
}

// pickSubnet parses the configured subnet or picks a random /24 of
// defaultPool that overlaps no address or route of the root namespace.
func pickSubnet(want string, hosts int) (netip.Prefix, error) {
	if want != "" {
		p, err := netip.ParsePrefix(want)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("lab subnet: %w", err)
		}
		p = p.Masked()
		if !p.Addr().Is4() || p.Bits() > 30 {
			return netip.Prefix{}, fmt.Errorf("lab subnet %s: want an IPv4 prefix of /30 or larger", p)
		}
		if size := 1 << (32 - p.Bits()); hostOffset+hosts+1 >= size {
			return netip.Prefix{}, fmt.Errorf("lab subnet %s: too small for %d hosts (host N is .%d+N)", p, hosts, hostOffset)
		}
		return p, nil
	}
	used, err := rootPrefixes()
	if err != nil {
		return netip.Prefix{}, err
	}
	base := defaultPool.Addr().As4()
	for range 64 {
		var r [2]byte
		if _, err := rand.Read(r[:]); err != nil {
			return netip.Prefix{}, fmt.Errorf("random lab subnet: %w", err)
		}
		a := base
		a[1] += r[0] & 0x07
		a[2] = r[1]
		p := netip.PrefixFrom(netip.AddrFrom4(a), 24)
		if !overlapsAny(p, used) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in %s; give Config.Subnet", defaultPool)
}

// rootPrefixes lists the IPv4 routes (all tables) and addresses of the root
// namespace.
func rootPrefixes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list the machine's routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if p, ok := toPrefix(r.Dst); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list the machine's addresses: %w", err)
	}
	for _, a := range addrs {
		if p, ok := toPrefix(a.IPNet); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// nthAddr is the address n after the prefix's base address.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
}

// bridgeName is the bridge's name in the switch namespace.
func (l *Lab) bridgeName() string { return l.ID + "-br" }

// setupSwitch creates the switch namespace's bridge with the gateway address.
func (l *Lab) setupSwitch() error {
	h, err := netHandle(l.SwitchNS)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := linkUp(h, "lo"); err != nil {
		return err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: l.bridgeName()}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", br.Name, err)
	}
	if err := h.AddrAdd(br, &netlink.Addr{IPNet: ipNet(l.Gateway, l.Subnet.Bits())}); err != nil {
		return fmt.Errorf("address bridge %s: %w", br.Name, err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("set bridge %s up: %w", br.Name, err)
	}
	return nil
}

// wireHost connects a host namespace to the bridge: a veth whose switch end
// is the host's port and whose host end is eth0 with the host's address and
// a default route via the bridge.
func (l *Lab) wireHost(host *Host) error {
	sw, err := netHandle(l.SwitchNS)
	if err != nil {
		return err
	}
	defer sw.Close()
	br, err := sw.LinkByName(l.bridgeName())
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", l.bridgeName(), err)
	}
	hostFd, err := unix.Open(host.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", host.NetNS, err)
	}
	defer unix.Close(hostFd)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: host.port(), MasterIndex: br.Attrs().Index},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(hostFd),
	}
	if err := sw.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s for %s: %w", host.port(), host.Name, err)
	}
	if err := linkUp(sw, host.port()); err != nil {
		return err
	}
	h, err := netHandle(host.NetNS)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := linkUp(h, "lo"); err != nil {
		return fmt.Errorf("%s: %w", host.Name, err)
	}
	eth, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("find eth0 in %s: %w", host.Name, err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(host.IP, l.Subnet.Bits())}); err != nil {
		return fmt.Errorf("address eth0 of %s: %w", host.Name, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("set eth0 of %s up: %w", host.Name, err)
	}
	def := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: l.Gateway.AsSlice(), Dst: ipNet(netip.IPv4Unspecified(), 0)}
	if err := h.RouteAdd(def); err != nil {
		return fmt.Errorf("default route of %s: %w", host.Name, err)
	}
	return nil
}

func linkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// setPort sets a host's bridge port up or down.
func (l *Lab) setPort(host *Host, up bool) error {
	h, err := netHandle(l.SwitchNS)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(host.port())
	if err != nil {
		return fmt.Errorf("find port %s of %s: %w", host.port(), host.Name, err)
	}
	if up {
		err = h.LinkSetUp(link)
	} else {
		err = h.LinkSetDown(link)
	}
	if err != nil {
		return fmt.Errorf("set port %s of %s up=%v: %w", host.port(), host.Name, up, err)
	}
	return nil
}

// portUp reports whether the host's bridge port is administratively up.
func (l *Lab) portUp(host *Host) (bool, error) {
	h, err := netHandle(l.SwitchNS)
	if err != nil {
		return false, err
	}
	defer h.Close()
	link, err := h.LinkByName(host.port())
	if err != nil {
		return false, fmt.Errorf("find port %s of %s: %w", host.port(), host.Name, err)
	}
	return link.Attrs().Flags&net.FlagUp != 0, nil
}

// removeLinks deletes the ports and the bridge (so they are gone at once,
// not when the kernel gets to the namespace's cleanup).
func (l *Lab) removeLinks() error {
	if _, err := os.Stat(l.SwitchNS); err != nil {
		return nil
	}
	h, err := netHandle(l.SwitchNS)
	if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	names := []string{l.bridgeName()}
	for _, host := range l.Hosts {
		names = append(names, host.port())
	}
	for _, n := range names {
		link, err := h.LinkByName(n)
		if err != nil {
			continue // never made, or gone with its peer's namespace
		}
		if err := h.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete link %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
