package engine

// Networks of driver "cni": a user's conflist run by libcni with the
// third-party plugin binaries installed on the node (the standard bridge,
// Calico, ...). Kedge creates the container's network namespace, runs ADD
// on start and DEL on stop/rm, records each attachment before ADD so that
// GC after a kill -9 finds it, and writes /etc/hosts and resolv.conf from
// the plugins' result. Published ports go through the conflist's own
// portMappings plugin (the standard portmap); without one they are refused.

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"kedge/api"
	"kedge/net/cni"
	"kedge/net/dns"
)

// newExternalNetwork prepares a cni network from its record.
func (e *Engine) newExternalNetwork(r netRecord) (*userNetwork, error) {
	n, err := cni.NewExternal(cni.ExternalConfig{
		ConfList: r.CNIConfig, DataDir: filepath.Join(e.opts.DataDir, "net"), PluginDirs: e.opts.CNIPluginDirs,
	})
	if err != nil {
		return nil, fmt.Errorf("network %s: %v: %w", r.Name, err, api.ErrInvalid)
	}
	if n.Name() != r.Name {
		return nil, fmt.Errorf("network %s: its conflist is named %q: %w", r.Name, n.Name(), api.ErrInvalid)
	}
	return &userNetwork{rec: r, net: n, names: dns.NewTable()}, nil
}

// createExternalNetwork makes a cni network from req.CNIConfig after
// checking the conflist (libcni parses it; every plugin binary is found in
// the plugin dirs and speaks its CNI version).
func (e *Engine) createExternalNetwork(ctx context.Context, req *api.Network) (*api.Network, error) {
	if req.Subnet != "" || req.Gateway != "" || req.Bridge != "" {
		return nil, fmt.Errorf("network %s: driver cni takes its subnet, gateway and bridge from the conflist: %w", req.Name, api.ErrInvalid)
	}
	if len(req.CNIConfig) == 0 {
		return nil, fmt.Errorf("network %s: driver cni needs a conflist (--cni-config FILE): %w", req.Name, api.ErrInvalid)
	}
	cl, err := cni.ParseConfList(req.CNIConfig)
	if err != nil {
		return nil, fmt.Errorf("network %s: %v: %w", req.Name, err, api.ErrInvalid)
	}
	if cl.Name != req.Name {
		return nil, fmt.Errorf("network %s: the conflist is named %q; its \"name\" must be the network's: %w", req.Name, cl.Name, api.ErrInvalid)
	}
	r := netRecord{Name: req.Name, Driver: driverCNI, Subnet: strings.Join(cl.Subnets, ","), CNIConfig: cl.Bytes,
		Created: time.Now().UTC(), Labels: req.Labels}
	un, err := e.newExternalNetwork(r)
	if err != nil {
		return nil, err
	}
	if err := un.net.Validate(ctx); err != nil {
		return nil, fmt.Errorf("network %s: %w: %w", req.Name, err, api.ErrInvalid)
	}
	e.netMu.Lock()
	defer e.netMu.Unlock()
	if _, ok := e.userNets[r.Name]; ok {
		return nil, fmt.Errorf("network %s already exists: %w", r.Name, api.ErrConflict)
	}
	if err := e.overlapsOwnNetworksLocked(cl.Subnets); err != nil {
		return nil, fmt.Errorf("network %s: %w", r.Name, err)
	}
	if err := e.db.Put(bucketNetworks, r.Name, &r); err != nil {
		return nil, fmt.Errorf("save network %s: %w", r.Name, err)
	}
	e.userNets[r.Name] = un
	e.emit("network", "create", r.Name, map[string]string{"driver": driverCNI, "plugins": strings.Join(cl.Plugins, ",")})
	out := e.networkAPI(un)
	return &out, nil
}

// overlapsOwnNetworksLocked refuses subnets overlapping the bridge network
// or another user network of this agent (the host's own interfaces are not
// checked: the conflist's bridge may already exist with its address).
func (e *Engine) overlapsOwnNetworksLocked(subnets []string) error {
	own := map[string]string{"bridge": e.bridgeSubnet()}
	for name, un := range e.userNets {
		own[name] = un.rec.Subnet
	}
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		for name, list := range own {
			for _, o := range strings.Split(list, ",") {
				if q, err := netip.ParsePrefix(o); err == nil && q.Overlaps(p) {
					return fmt.Errorf("subnet %s overlaps %s of network %s: %w", p, q, name, api.ErrConflict)
				}
			}
		}
	}
	return nil
}

// checkNetworkPorts refuses published ports on a cni network whose conflist
// has no plugin taking the portMappings capability.
func (e *Engine) checkNetworkPorts(mode string, ports []api.PortBinding) error {
	if len(ports) == 0 {
		return nil
	}
	un, ok := e.userNetwork(mode)
	if !ok || !un.external() || un.net.External().PortMappings {
		return nil
	}
	return fmt.Errorf("network %s (driver cni) cannot publish ports: no plugin of its conflist has the portMappings capability "+
		"(add the standard portmap plugin with \"capabilities\": {\"portMappings\": true}, or use a bridge network): %w", mode, api.ErrInvalid)
}

// resolverSettings returns the nameservers, search domains and options of
// a container's resolv.conf (empty nameservers: the host's upstreams).
// On a bridge user network the network's responder comes first; on a cni
// network --dns and friends replace what the plugins returned.
func (e *Engine) resolverSettings(rec *record) (servers, search, options []string) {
	cfg := rec.Config
	servers, search, options = cfg.DNS, cfg.DNSSearch, cfg.DNSOptions
	un, ok := e.userNetwork(cfg.NetworkMode)
	if !ok {
		return servers, search, options
	}
	if un.external() {
		if rec.Network != nil {
			if len(servers) == 0 {
				servers = rec.Network.DNSServers
			}
			if len(search) == 0 {
				search = rec.Network.DNSSearch
			}
			if len(options) == 0 {
				options = rec.Network.DNSOptions
			}
		}
		return servers, search, options
	}
	// The network's responder first: the names of the network, then the
	// host's upstreams. --dns servers come after it.
	servers = append([]string{un.rec.Gateway}, servers...)
	if len(search) == 0 {
		search = []string{un.rec.Name}
	}
	return servers, search, options
}
