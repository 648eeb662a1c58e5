package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"kedge/api"
	"kedge/net/cni"
	"kedge/net/dns"
)

const bucketNetworks = "networks"

// builtinNetworks are the modes every node has, as `network ls` shows them.
var builtinNetworks = []string{"bridge", "host", "none"}

var validNetworkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// netRecord is a user network as stored (bucket "networks", key: its name).
// Driver is "" or "bridge" (kedge's plugin) or "cni" (CNIConfig, the user's
// conflist, drives third-party plugins; Subnet is then only what its IPAM
// names, for display, and Gateway and Bridge are empty).
type netRecord struct {
	Name      string            `json:"name"`
	Driver    string            `json:"driver,omitempty"`
	Subnet    string            `json:"subnet"`
	Gateway   string            `json:"gateway"`
	Bridge    string            `json:"bridge"`
	CNIConfig json.RawMessage   `json:"cni_config,omitempty"`
	Created   time.Time         `json:"created"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// driverCNI is the driver of networks run by a user's conflist.
const driverCNI = "cni"

// external reports whether the network runs a user's conflist.
func (un *userNetwork) external() bool { return un.rec.Driver == driverCNI }

// userNetwork is a user network in memory: its bridge (through kedge's CNI
// plugin) and its DNS responder on the gateway, which answers the names of
// the containers on it and forwards the rest to the host's upstreams.
type userNetwork struct {
	rec   netRecord
	net   *cni.Network
	names *dns.Table

	mu     sync.Mutex
	server *dns.Server // started with the first container (the gateway exists from then)
}

func (e *Engine) newUserNetwork(r netRecord) (*userNetwork, error) {
	if r.Driver == driverCNI {
		return e.newExternalNetwork(r)
	}
	n, err := cni.New(cni.Config{
		Name: r.Name, Bridge: r.Bridge, Subnet: r.Subnet, Gateway: r.Gateway,
		DataDir: filepath.Join(e.opts.DataDir, "net"), Table: "kedge-" + e.key,
	})
	if err != nil {
		return nil, fmt.Errorf("network %s: %v: %w", r.Name, err, api.ErrInvalid)
	}
	return &userNetwork{rec: r, net: n, names: dns.NewTable()}, nil
}

// CreateNetwork makes a user network. An empty subnet picks a free /24 in
// 10.89.0.0/16; a given one must not overlap the host's addresses or another
// network of this agent.
func (e *Engine) CreateNetwork(ctx context.Context, req *api.Network) (*api.Network, error) {
	if !validNetworkName.MatchString(req.Name) || isBuiltinNetwork(req.Name) {
		return nil, fmt.Errorf("network name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*, not bridge, host or none: %w", req.Name, api.ErrInvalid)
	}
	switch req.Driver {
	case "", "bridge":
		if len(req.CNIConfig) > 0 {
			return nil, fmt.Errorf("network %s: a CNI configuration needs driver cni: %w", req.Name, api.ErrInvalid)
		}
	case driverCNI:
		return e.createExternalNetwork(ctx, req)
	default:
		return nil, fmt.Errorf("network %s: driver %q: want bridge or cni: %w", req.Name, req.Driver, api.ErrInvalid)
	}
	e.netMu.Lock()
	defer e.netMu.Unlock()
	if _, ok := e.userNets[req.Name]; ok {
		return nil, fmt.Errorf("network %s already exists: %w", req.Name, api.ErrConflict)
	}
	taken := e.takenPrefixesLocked()
	var prefix netip.Prefix
	if req.Subnet != "" {
		p, err := netip.ParsePrefix(req.Subnet)
		if err != nil || !p.Addr().Is4() || p.Bits() > 29 {
			return nil, fmt.Errorf("subnet %q: want an IPv4 CIDR of /29 or larger: %w", req.Subnet, api.ErrInvalid)
		}
		prefix = p.Masked()
		for _, t := range taken {
			if t.Overlaps(prefix) {
				return nil, fmt.Errorf("subnet %s overlaps %s, already in use on this host: %w", prefix, t, api.ErrConflict)
			}
		}
	} else {
		for i := 0; i < 256 && !prefix.IsValid(); i++ {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
			free := true
			for _, t := range taken {
				if t.Overlaps(p) {
					free = false
					break
				}
			}
			if free {
				prefix = p
			}
		}
		if !prefix.IsValid() {
			return nil, fmt.Errorf("no free subnet left in 10.89.0.0/16; give one with --subnet: %w", api.ErrConflict)
		}
	}
	sum := sha256.Sum256([]byte(e.key + "/" + req.Name))
	r := netRecord{
		Name: req.Name, Subnet: prefix.String(), Gateway: prefix.Addr().Next().String(),
		Bridge: "kn-" + hex.EncodeToString(sum[:])[:10], Created: time.Now().UTC(), Labels: req.Labels,
	}
	un, err := e.newUserNetwork(r)
	if err != nil {
		return nil, err
	}
	if err := e.db.Put(bucketNetworks, r.Name, &r); err != nil {
		return nil, fmt.Errorf("save network %s: %w", r.Name, err)
	}
	e.userNets[r.Name] = un
	e.emit("network", "create", r.Name, map[string]string{"subnet": r.Subnet})
	out := e.networkAPI(un)
	return &out, nil
}

// takenPrefixesLocked lists the subnets in use: the host's interfaces, this
// agent's bridge network and its user networks.
func (e *Engine) takenPrefixesLocked() []netip.Prefix {
	var out []netip.Prefix
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				out = append(out, p.Masked())
			}
		}
	}
	if p, err := netip.ParsePrefix(e.bridgeSubnet()); err == nil {
		out = append(out, p)
	}
	for _, un := range e.userNets {
		// A cni network's subnets (as its IPAM names them) count too.
		for _, s := range strings.Split(un.rec.Subnet, ",") {
			if p, err := netip.ParsePrefix(s); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

func isBuiltinNetwork(name string) bool {
	for _, b := range builtinNetworks {
		if b == name {
			return true
		}
	}
	return false
}

// userNetwork returns a user network by name.
func (e *Engine) userNetwork(name string) (*userNetwork, bool) {
	e.netMu.Lock()
	defer e.netMu.Unlock()
	un, ok := e.userNets[name]
	return un, ok
}

// networkUsers lists the containers configured on a network.
func (e *Engine) networkUsers(name string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for id, c := range e.containers {
		if c.rec.Config.NetworkMode == name {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// networkPod names a pod on the network, "" when none is.
func (e *Engine) networkPod(name string) string {
	e.podMu.Lock()
	defer e.podMu.Unlock()
	for _, p := range e.pods {
		if p.Config.NetworkMode == name {
			return p.Name
		}
	}
	return ""
}

func (e *Engine) networkAPI(un *userNetwork) api.Network {
	r := un.rec
	n := api.Network{Name: r.Name, Driver: firstNonEmpty(r.Driver, "bridge"), Subnet: r.Subnet, Gateway: r.Gateway, Bridge: r.Bridge,
		Created: r.Created, Labels: r.Labels, Containers: e.networkUsers(r.Name), CNIConfig: r.CNIConfig}
	if ext := un.net.External(); ext != nil {
		n.Plugins = ext.Plugins
	}
	return n
}

// ListNetworks returns the built-in networks and the user networks.
func (e *Engine) ListNetworks() []api.Network {
	out := []api.Network{}
	for _, b := range builtinNetworks {
		n, _ := e.InspectNetwork(b)
		out = append(out, *n)
	}
	e.netMu.Lock()
	uns := make([]*userNetwork, 0, len(e.userNets))
	for _, un := range e.userNets {
		uns = append(uns, un)
	}
	e.netMu.Unlock()
	sort.Slice(uns, func(i, j int) bool { return uns[i].rec.Name < uns[j].rec.Name })
	for _, un := range uns {
		out = append(out, e.networkAPI(un))
	}
	return out
}

// InspectNetwork returns one network.
func (e *Engine) InspectNetwork(name string) (*api.Network, error) {
	switch name {
	case "bridge":
		return &api.Network{Name: name, Driver: "bridge", Subnet: e.bridgeSubnet(), Bridge: "kb-" + e.key, Containers: e.networkUsers(name)}, nil
	case "host", "none":
		return &api.Network{Name: name, Driver: name, Containers: e.networkUsers(name)}, nil
	}
	un, ok := e.userNetwork(name)
	if !ok {
		return nil, fmt.Errorf("no such network: %s: %w", name, api.ErrNotFound)
	}
	n := e.networkAPI(un)
	return &n, nil
}

// RemoveNetwork deletes a user network no container is configured on: its
// DNS responder, bridge and rules.
func (e *Engine) RemoveNetwork(ctx context.Context, name string) error {
	if isBuiltinNetwork(name) {
		return fmt.Errorf("network %s is built in and cannot be removed: %w", name, api.ErrConflict)
	}
	un, ok := e.userNetwork(name)
	if !ok {
		return fmt.Errorf("no such network: %s: %w", name, api.ErrNotFound)
	}
	if users := e.networkUsers(name); len(users) > 0 {
		return fmt.Errorf("network %s is in use by container %s: remove it first: %w", name, users[0][:12], api.ErrConflict)
	}
	if pod := e.networkPod(name); pod != "" {
		return fmt.Errorf("network %s is in use by pod %s: remove it first: %w", name, pod, api.ErrConflict)
	}
	un.stopDNS()
	if err := un.net.Remove(ctx); err != nil && !errors.Is(err, cni.ErrUnknownNetwork) {
		if !un.external() {
			return fmt.Errorf("remove network %s: %w", name, err)
		}
		// A plugin gone or failing must not pin the network forever; its
		// attachment records stay, and a network of the same name retries them.
		e.log.Warn("network removed with attachments its plugins could not delete", "network", name, "err", err)
	}
	if err := e.db.Delete(bucketNetworks, name); err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	e.netMu.Lock()
	delete(e.userNets, name)
	e.netMu.Unlock()
	e.emit("network", "destroy", name, nil)
	return nil
}

// loadNetworks reads the user networks at engine start.
func (e *Engine) loadNetworks() error {
	return e.db.ForEach(bucketNetworks, func(key string, raw []byte) error {
		var r netRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			e.log.Error("skip unreadable network record", "network", key, "err", err)
			return nil
		}
		un, err := e.newUserNetwork(r)
		if err != nil {
			e.log.Error("skip network", "network", key, "err", err)
			return nil
		}
		e.userNets[r.Name] = un
		return nil
	})
}

// ensureDNS starts the network's responder on its gateway, once.
func (un *userNetwork) ensureDNS(e *Engine) {
	un.mu.Lock()
	defer un.mu.Unlock()
	if un.server != nil || un.external() {
		return // a cni network's resolver is what its plugins say (or the host's)
	}
	ups, _ := dns.HostUpstreams()
	var clients []netip.Prefix
	if p, err := netip.ParsePrefix(un.rec.Subnet); err == nil {
		clients = []netip.Prefix{p}
	}
	srv := dns.NewServer(dns.Options{
		Listen: []string{net.JoinHostPort(un.rec.Gateway, "53")}, Lookup: un.names, Domains: []string{un.rec.Name},
		Upstreams: ups, Logger: e.log.With("network", un.rec.Name), Clients: clients,
	})
	if err := srv.Start(e.ctx); err != nil {
		e.log.Warn("network DNS responder not started: containers cannot resolve each other by name", "network", un.rec.Name, "err", err)
		return
	}
	un.server = srv
}

func (un *userNetwork) stopDNS() {
	un.mu.Lock()
	defer un.mu.Unlock()
	if un.server != nil {
		un.server.Close()
		un.server = nil
	}
}

// register makes a container's names resolve on its network.
func (un *userNetwork) register(rec *record) {
	if rec.Network == nil {
		return
	}
	addr, err := netip.ParseAddr(rec.Network.IPAddress)
	if err != nil {
		return
	}
	names := []string{rec.Name, rec.ID[:12]}
	if h := rec.Config.Hostname; h != "" && h != rec.Name {
		names = append(names, h)
	}
	un.names.Set(rec.ID, names, []netip.Addr{addr})
}
