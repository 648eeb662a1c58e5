package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"kedge/api"
	"kedge/net/cni"
)

// bridgeNetwork is the node's default bridge network, made on first use.
// Its bridge, nftables table, IPAM dir and (unless configured) subnet derive
// from the agent key, so agents on one host keep apart.
type bridgeNetwork struct {
	subnetOnce sync.Once
	subnet     string

	once sync.Once
	net  *cni.Network
	err  error
}

// defaultBridgeSubnet picks a /16 in 10.64.0.0/10 for the bridge: the one
// its bridge already has, or else the first, from a start derived from the
// agent key, that overlaps none of taken (the host's addresses), so that
// agents sharing a host's network namespace keep apart.
func defaultBridgeSubnet(key string, own netip.Prefix, taken []netip.Prefix) string {
	if own.IsValid() {
		return own.Masked().String()
	}
	sum := sha256.Sum256([]byte(key))
	for i := 0; i < 64; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + (int(sum[0])+i)%64), 0, 0}), 16)
		free := p.Addr().As4()[1] != 89 // 10.89.0.0/16 is where user networks are made
		for _, t := range taken {
			if t.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p.String()
		}
	}
	return fmt.Sprintf("10.%d.0.0/16", 64+int(sum[0])%64) // all taken: the plugin reports the overlap
}

// hostPrefixes lists the IPv4 subnets of the host's interfaces, except
// skip's (the agent's own bridge).
func hostPrefixes(skip string) (own netip.Prefix, others []netip.Prefix) {
	links, err := net.Interfaces()
	if err != nil {
		return own, nil
	}
	for _, l := range links {
		addrs, err := l.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil || !p.Addr().Is4() {
				continue
			}
			if l.Name == skip {
				own = p.Masked()
			} else {
				others = append(others, p.Masked())
			}
		}
	}
	return own, others
}

// network returns the bridge network, preparing its configuration once.
func (e *Engine) network() (*cni.Network, error) {
	e.bridge.once.Do(func() {
		subnet := e.bridgeSubnet()
		e.bridge.net, e.bridge.err = cni.New(cni.Config{
			Name: "bridge", Bridge: "kb-" + e.key, Subnet: subnet,
			DataDir: filepath.Join(e.opts.DataDir, "net"), Table: "kedge-" + e.key,
		})
	})
	return e.bridge.net, e.bridge.err
}

// bridgeSubnet is the default bridge network's subnet, chosen once.
func (e *Engine) bridgeSubnet() string {
	e.bridge.subnetOnce.Do(func() {
		e.bridge.subnet = e.opts.BridgeSubnet
		if e.bridge.subnet == "" {
			own, taken := hostPrefixes("kb-" + e.key)
			e.bridge.subnet = defaultBridgeSubnet(e.key, own, taken)
		}
	})
	return e.bridge.subnet
}

func (e *Engine) netnsPath(id string) string { return filepath.Join(e.runDir, "netns", id[:12]) }

// attachBridge gives a starting container its network namespace on the
// bridge, with its published ports, and returns the namespace to join.
// fresh says the id was never attached before (a new pod, a container's
// first start): there can be no leftover of an earlier attachment to
// remove (the engine's start-up GC removes those of a crashed agent), so
// the CNI DEL that would look for one, which waits for the network's lock,
// is skipped.
func (e *Engine) attachBridge(ctx context.Context, rec *record, fresh bool) (string, *api.NetworkSettings, error) {
	n, un, err := e.networkOf(rec.Config.NetworkMode)
	if err != nil {
		return "", nil, err
	}
	if err := e.checkNetworkPorts(rec.Config.NetworkMode, rec.Config.Ports); err != nil {
		return "", nil, err
	}
	path := e.netnsPath(rec.ID)
	if !fresh {
		_ = e.detachBridge(ctx, rec.ID, rec.Config.NetworkMode) // a leftover of a run that ended without the agent
	}
	if err := newNetNS(path); err != nil {
		return "", nil, err
	}
	published, err := resolveHostPorts(rec.Config.Ports)
	if err != nil {
		removeNetNS(path)
		return "", nil, err
	}
	ports := make([]cni.PortMapping, 0, len(published))
	for _, p := range published {
		// The protocol spelled out: third-party portmap plugins require it.
		ports = append(ports, cni.PortMapping{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: firstNonEmpty(p.Protocol, "tcp")})
	}
	att, err := n.Attach(ctx, rec.ID, path, ports)
	if err != nil {
		removeNetNS(path)
		return "", nil, fmt.Errorf("attach to the %s network: %w", rec.Config.NetworkMode, networkErr(err))
	}
	ones, _ := att.IP.Mask.Size()
	ns := &api.NetworkSettings{IPAddress: att.IP.IP.String(), PrefixLen: ones, MacAddress: att.MAC.String(), Ports: published,
		DNSServers: att.DNS.Nameservers, DNSSearch: att.DNS.Search, DNSOptions: att.DNS.Options}
	if att.Gateway != nil {
		ns.Gateway = att.Gateway.String()
	}
	if un != nil {
		un.ensureDNS(e)
		r := *rec
		r.Network = ns
		un.register(&r)
	}
	return path, ns, nil
}

// networkOf returns the CNI network of a network mode ("bridge" or a user
// network's name), and the user network when it is one.
func (e *Engine) networkOf(mode string) (*cni.Network, *userNetwork, error) {
	if mode == "bridge" {
		n, err := e.network()
		if err != nil {
			return nil, nil, fmt.Errorf("bridge network: %v: %w", err, api.ErrInvalid)
		}
		return n, nil, nil
	}
	un, ok := e.userNetwork(mode)
	if !ok {
		return nil, nil, fmt.Errorf("no such network: %s: %w", mode, api.ErrNotFound)
	}
	return un.net, un, nil
}

// onCNINetwork reports whether a network mode attaches through CNI.
func (e *Engine) onCNINetwork(mode string) bool {
	if mode == "bridge" {
		return true
	}
	_, ok := e.userNetwork(mode)
	return ok
}

// detachBridge releases a container's address, veth and port rules and its
// network namespace; it is a no-op for a container that has none.
func (e *Engine) detachBridge(ctx context.Context, id, mode string) error {
	path := e.netnsPath(id)
	n, un, err := e.networkOf(mode)
	if err != nil {
		return err
	}
	if un != nil {
		un.names.Remove(id)
	}
	derr := n.Detach(ctx, id, path)
	if err := removeNetNS(path); err != nil && derr == nil {
		derr = err
	}
	return derr
}

// releaseIdleNetworks removes the bridges and rules of networks that no
// container uses any more, at a clean shutdown: a host without running
// containers keeps nothing of kedge's networking. Networks in use stay, so
// running containers keep their networking across an agent restart; a
// network is made again on its next use.
func (e *Engine) releaseIdleNetworks() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var nets []*cni.Network
	if _, err := net.InterfaceByName("kb-" + e.key); err == nil {
		if n, err := e.network(); err == nil {
			nets = append(nets, n)
		}
	}
	e.netMu.Lock()
	for _, un := range e.userNets {
		if _, err := net.InterfaceByName(un.rec.Bridge); err == nil {
			nets = append(nets, un.net)
		}
	}
	e.netMu.Unlock()
	// Veth deletions still running in the background finish first.
	if e.bridge.net != nil {
		e.bridge.net.Wait()
	}
	e.netMu.Lock()
	for _, un := range e.userNets {
		un.net.Wait()
	}
	e.netMu.Unlock()
	for _, n := range nets {
		if err := n.Remove(ctx); err != nil && !errors.Is(err, cni.ErrNetworkInUse) {
			e.log.Warn("release idle network", "network", n.Name(), "err", err)
		}
	}
}

// networkErr maps the plugin's errors to the API's.
func networkErr(err error) error {
	switch {
	case errorsIs(err, cni.ErrPortInUse), errorsIs(err, cni.ErrSubnetOverlap):
		return fmt.Errorf("%w: %w", err, api.ErrConflict)
	case errorsIs(err, cni.ErrInvalidConfig), errorsIs(err, cni.ErrPluginNotFound):
		return fmt.Errorf("%w: %w", err, api.ErrInvalid)
	}
	return err
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
