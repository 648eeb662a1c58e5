package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// Config describes one kedge bridge network. Every field an agent sets
// explicitly; nothing comes from globals, so agents sharing a host stay apart
// by choosing distinct bridges, subnets, data dirs and tables.
type Config struct {
	Name    string // network name, [A-Za-z0-9][A-Za-z0-9_.-]*
	Bridge  string // Linux bridge name (at most 15 bytes)
	Subnet  string // IPv4 CIDR containers get addresses from
	Gateway string // the bridge's address; the subnet's first address when empty
	DataDir string // absolute; IPAM reservations (DataDir/Name) and libcni's cache (DataDir/.cache)
	Table   string // nftables table (family ip) for this agent's rules
	MTU     int    // 0 keeps the kernel default
	// Exec runs plugins for libcni; nil means InProcessExec (kedge's plugin
	// called directly). Use libcni's default exec with PluginDirs to run
	// kedge's plugin as a separate process.
	Exec invoke.Exec
	// PluginDirs is the CNI path where plugin executables are searched.
	PluginDirs []string
}

// Attachment is a container's place on a network, as ADD reported it.
type Attachment struct {
	ContainerID string
	IfName      string           // interface inside the container
	IP          net.IPNet        // the container's address and prefix
	Gateway     net.IP           // the bridge's address, the container's default route
	MAC         net.HardwareAddr // of the container's interface
	HostVeth    string           // host end of the veth pair, on the bridge
	// DNS is what the plugins returned for the container's resolver
	// (external networks; kedge's plugin returns none).
	DNS types.DNS
}

// Network drives one kedge bridge network through libcni. It holds no
// mutable state; its methods may be called concurrently (the plugin
// serialises per network with a file lock).
type Network struct {
	cfg  Config
	nc   *netConf
	list *libcni.NetworkConfigList
	cni  *libcni.CNIConfig
	exec invoke.Exec
	ext  *ConfList // a user's conflist (NewExternal); nil for kedge's bridge
	// timeout bounds each operation on an external network.
	timeout time.Duration
}

// New validates cfg and prepares its conflist. It creates nothing: the
// bridge and rules appear with the first Attach.
func New(cfg Config) (*Network, error) {
	pc := PluginConfig{Bridge: cfg.Bridge, Subnet: cfg.Subnet, Gateway: cfg.Gateway, DataDir: cfg.DataDir, Table: cfg.Table, MTU: cfg.MTU}
	pc.Name, pc.CNIVersion, pc.Type = cfg.Name, CNIVersion, PluginName
	nc, err := validateConfig(pc)
	if err != nil {
		return nil, err
	}
	plugin := map[string]any{
		"type": PluginName, "bridge": cfg.Bridge, "subnet": cfg.Subnet, "dataDir": cfg.DataDir,
		"nftTable": cfg.Table, "capabilities": map[string]bool{"portMappings": true},
	}
	if cfg.Gateway != "" {
		plugin["gateway"] = cfg.Gateway
	}
	if cfg.MTU != 0 {
		plugin["mtu"] = cfg.MTU
	}
	raw, err := json.Marshal(map[string]any{"cniVersion": CNIVersion, "name": cfg.Name, "plugins": []any{plugin}})
	if err != nil {
		return nil, fmt.Errorf("encode conflist of %s: %w", cfg.Name, err)
	}
	list, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: conflist of %s: %v", ErrInvalidConfig, cfg.Name, err)
	}
	exec := cfg.Exec
	if exec == nil {
		exec = &InProcessExec{}
	}
	return &Network{cfg: cfg, nc: nc, list: list, exec: exec, cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.DataDir, ".cache"), exec)}, nil
}

// Wait returns when the veth deletions of earlier Detaches are done (the
// in-process plugin finishes them in the background).
func (n *Network) Wait() {
	if e, ok := n.exec.(*InProcessExec); ok {
		e.Wait()
	}
}

// ConfList returns the network's CNI conflist (for writing where other CNI
// runtimes can read it).
func (n *Network) ConfList() []byte { return n.list.Bytes }

// Name returns the network's name.
func (n *Network) Name() string { return n.cfg.Name }

func (n *Network) runtimeConf(containerID, netnsPath string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netnsPath, IfName: DefaultContainerIfName}
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// Attach connects the network namespace at netnsPath to the network as
// eth0, publishing ports. On error nothing of the attachment is left.
func (n *Network) Attach(ctx context.Context, containerID, netnsPath string, ports []PortMapping) (*Attachment, error) {
	rt := n.runtimeConf(containerID, netnsPath, ports)
	ctx, cancel := n.bound(ctx)
	defer cancel()
	if n.ext != nil {
		if err := n.prepareExternal(rt); err != nil {
			return nil, fmt.Errorf("attach %s to network %s: %w", containerID, n.cfg.Name, err)
		}
	}
	a, err := n.add(ctx, rt)
	if err != nil && n.ext != nil {
		uctx, ucancel := n.bound(context.WithoutCancel(ctx))
		defer ucancel()
		if uerr := n.undoExternal(uctx, rt); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undo (the next GC retries): %w", uerr))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("attach %s to network %s: %w", containerID, n.cfg.Name, err)
	}
	return a, nil
}

// add runs ADD and reads the container's address, gateway, MAC, host veth
// and DNS from the result.
func (n *Network) add(ctx context.Context, rt *libcni.RuntimeConf) (*Attachment, error) {
	res, err := n.cni.AddNetworkList(ctx, n.list, rt)
	if err != nil {
		return nil, err
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	a := &Attachment{ContainerID: rt.ContainerID, IfName: rt.IfName, DNS: cur.DNS}
	inSandbox := func(idx *int) bool {
		return idx == nil || *idx < 0 || *idx >= len(cur.Interfaces) ||
			(cur.Interfaces[*idx].Sandbox != "" && cur.Interfaces[*idx].Name == rt.IfName)
	}
	for _, ipc := range cur.IPs {
		if ipc.Address.IP.To4() != nil && inSandbox(ipc.Interface) && a.IP.IP == nil {
			a.IP, a.Gateway = ipc.Address, ipc.Gateway
		}
	}
	if a.IP.IP == nil && len(cur.IPs) > 0 { // an IPv6-only network
		a.IP, a.Gateway = cur.IPs[0].Address, cur.IPs[0].Gateway
	}
	if a.IP.IP == nil {
		return nil, fmt.Errorf("%w: the plugins returned no address for %s", ErrInvalidConfig, rt.IfName)
	}
	for _, itf := range cur.Interfaces {
		switch {
		case itf.Sandbox != "" && itf.Name == a.IfName:
			a.MAC, _ = net.ParseMAC(itf.Mac)
		case itf.Sandbox == "" && itf.Name != n.cfg.Bridge && a.HostVeth == "" && (n.ext == nil || strings.HasPrefix(itf.Name, "veth")):
			a.HostVeth = itf.Name
		}
	}
	return a, nil
}

// Detach removes the container's attachment: veth, address, rules. It is
// idempotent, and works when the namespace is already gone (netnsPath may
// be empty).
func (n *Network) Detach(ctx context.Context, containerID, netnsPath string) error {
	rt := n.runtimeConf(containerID, netnsPath, nil)
	ctx, cancel := n.bound(ctx)
	defer cancel()
	var err error
	if n.ext != nil {
		if !n.hasAttachment(containerID, rt.IfName) {
			return nil // never attached, or already detached: no plugin to run
		}
		n.externalRuntimeConf(rt)
		err = n.undoExternal(ctx, rt)
	} else {
		err = n.cni.DelNetworkList(ctx, n.list, rt)
	}
	if err != nil {
		return fmt.Errorf("detach %s from network %s: %w", containerID, n.cfg.Name, err)
	}
	return nil
}

// Check verifies the attachment recorded by Attach is intact: interface,
// address, route, IPAM reservation and published-port rules.
func (n *Network) Check(ctx context.Context, containerID, netnsPath string) error {
	rt := n.runtimeConf(containerID, netnsPath, nil)
	ctx, cancel := n.bound(ctx)
	defer cancel()
	if n.ext != nil {
		n.externalRuntimeConf(rt)
	} else if _, cached, err := n.cni.GetNetworkListCachedConfig(n.list, rt); err == nil && cached != nil {
		rt.CapabilityArgs = cached.CapabilityArgs
	}
	if err := n.cni.CheckNetworkList(ctx, n.list, rt); err != nil {
		return fmt.Errorf("check %s on network %s: %w", containerID, n.cfg.Name, err)
	}
	return nil
}

// GC removes every attachment of this network whose container is not in
// valid: addresses, rules and veths (and libcni's cached results). It is
// how an agent restarted after kill -9 reclaims what dead containers held.
// On an external network it DELs each recorded attachment not in valid
// (an ADD a crash cut short included), then runs libcni's GC (DEL of
// stale cached attachments, and the plugins' GC from CNI 1.1.0).
func (n *Network) GC(ctx context.Context, valid []string) error {
	n.Wait()
	ctx, cancel := n.bound(ctx)
	defer cancel()
	args := &libcni.GCArgs{ValidAttachments: make([]types.GCAttachment, 0, len(valid))}
	keep := make(map[string]bool, len(valid))
	for _, id := range valid {
		args.ValidAttachments = append(args.ValidAttachments, types.GCAttachment{ContainerID: id, IfName: DefaultContainerIfName})
		keep[id+"/"+DefaultContainerIfName] = true
	}
	var errs []error
	if n.ext != nil {
		errs = append(errs, n.gcExternal(ctx, keep))
	}
	errs = append(errs, n.cni.GCNetworkList(ctx, n.list, args))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("collect garbage of network %s: %w", n.cfg.Name, err)
	}
	return nil
}
