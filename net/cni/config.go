package cni

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// PluginName is the CNI "type" of kedge's plugin and the name the kedge
// binary answers to when libcni executes it.
const PluginName = "kedge-cni"

// CNIVersion is the CNI spec version kedge writes in its configurations
// (1.1.0 is the first with GC).
const CNIVersion = "1.1.0"

// DefaultContainerIfName is the interface name given to the container end
// of the veth pair.
const DefaultContainerIfName = "eth0"

// PortMapping is one published port, as the CNI "portMappings" capability
// carries it: hostIP:hostPort on the host forwarded to the container's
// containerPort. An empty HostIP means every local address, 127.0.0.1 included.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"` // "tcp" or "udp"; empty means tcp
	HostIP        string `json:"hostIP,omitempty"`
}

// PluginConfig is the kedge-cni entry of a conflist, as the plugin reads it
// from stdin (libcni adds name, cniVersion and runtimeConfig).
type PluginConfig struct {
	types.PluginConf
	// Bridge is the Linux bridge the network's containers attach to.
	Bridge string `json:"bridge"`
	// Subnet is the IPv4 subnet addresses are allocated from.
	Subnet string `json:"subnet"`
	// Gateway is the bridge's address; the subnet's first address when empty.
	Gateway string `json:"gateway,omitempty"`
	// DataDir holds the IPAM reservations, one directory per network name.
	DataDir string `json:"dataDir"`
	// Table is the nftables table (family ip) holding this agent's rules.
	Table string `json:"nftTable"`
	// MTU of the bridge and veths; 0 keeps the kernel default.
	MTU int `json:"mtu,omitempty"`
	// RuntimeConfig holds the capabilities libcni injects.
	RuntimeConfig struct {
		PortMappings []PortMapping `json:"portMappings,omitempty"`
	} `json:"runtimeConfig"`
}

// netConf is a validated PluginConfig with its addresses parsed.
type netConf struct {
	PluginConfig
	subnet  *net.IPNet
	gateway net.IP
	ports   []PortMapping // normalised: protocol lower case, HostIP canonical
}

// validName is what a network name may be (the CNI spec's rule); names
// never start with a dot, so kedge's own files in DataDir cannot clash.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// maxIfName is IFNAMSIZ-1, the longest Linux interface name.
const maxIfName = 15

// parseConfig decodes and validates a kedge-cni configuration. Every error
// wraps ErrInvalidConfig and names the field.
func parseConfig(data []byte) (*netConf, error) {
	var pc PluginConfig
	if err := json.Unmarshal(data, &pc); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", ErrInvalidConfig, err)
	}
	return validateConfig(pc)
}

func validateConfig(pc PluginConfig) (*netConf, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: network %q: %s", ErrInvalidConfig, pc.Name, fmt.Sprintf(format, a...))
	}
	if !validName.MatchString(pc.Name) || len(pc.Name) > 128 {
		return nil, bad("name must be 1-128 of [A-Za-z0-9_.-], starting with a letter or digit")
	}
	if err := validIfName(pc.Bridge); err != nil {
		return nil, bad("bridge: %v", err)
	}
	_, subnet, err := net.ParseCIDR(pc.Subnet)
	if err != nil {
		return nil, bad("subnet %q: %v", pc.Subnet, err)
	}
	if subnet.IP.To4() == nil {
		return nil, bad("subnet %q: only IPv4 is supported", pc.Subnet)
	}
	subnet.IP = subnet.IP.To4()
	if ones, _ := subnet.Mask.Size(); ones > 30 {
		return nil, bad("subnet %q: too small (at most /30)", pc.Subnet)
	}
	nc := &netConf{PluginConfig: pc, subnet: subnet}
	if pc.Gateway == "" {
		nc.gateway = nextIP(subnet.IP)
	} else {
		gw := net.ParseIP(pc.Gateway).To4()
		if gw == nil || !subnet.Contains(gw) || gw.Equal(subnet.IP) || gw.Equal(broadcast(subnet)) {
			return nil, bad("gateway %q: not a host address of %s", pc.Gateway, subnet)
		}
		nc.gateway = gw
	}
	if pc.DataDir == "" || !filepath.IsAbs(pc.DataDir) {
		return nil, bad("dataDir %q: must be an absolute path", pc.DataDir)
	}
	if pc.Table == "" || len(pc.Table) > 64 || strings.ContainsAny(pc.Table, "\x00/ ") {
		return nil, bad("nftTable %q: must be 1-64 characters without spaces", pc.Table)
	}
	if pc.MTU < 0 || (pc.MTU > 0 && pc.MTU < 576) || pc.MTU > 65535 {
		return nil, bad("mtu %d: out of range", pc.MTU)
	}
	ports, err := normalisePorts(pc.RuntimeConfig.PortMappings)
	if err != nil {
		return nil, bad("%v", err)
	}
	nc.ports = ports
	return nc, nil
}

// normalisePorts validates port mappings and rejects duplicates among them.
func normalisePorts(in []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, 0, len(in))
	seen := map[string]bool{}
	for _, p := range in {
		p.Protocol = strings.ToLower(p.Protocol)
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("port mapping %d: protocol %q: want tcp or udp", p.HostPort, p.Protocol)
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("port mapping %d:%d: ports must be 1-65535", p.HostPort, p.ContainerPort)
		}
		if p.HostIP != "" {
			ip := net.ParseIP(p.HostIP)
			switch {
			case ip == nil || ip.To4() == nil:
				return nil, fmt.Errorf("port mapping %d: host IP %q: want an IPv4 address", p.HostPort, p.HostIP)
			case ip.IsUnspecified():
				p.HostIP = ""
			default:
				p.HostIP = ip.To4().String()
			}
		}
		key := portKey(p)
		if seen[key] {
			return nil, fmt.Errorf("port mapping %s: published twice", key)
		}
		seen[key] = true
		out = append(out, p)
	}
	return out, nil
}

// portKey names a published host port, as it appears in rule user data.
func portKey(p PortMapping) string {
	ip := p.HostIP
	if ip == "" {
		ip = "*"
	}
	return fmt.Sprintf("%s/%s/%d", p.Protocol, ip, p.HostPort)
}

// validIfName reports whether s can name a Linux interface.
func validIfName(s string) error {
	switch {
	case s == "" || len(s) > maxIfName:
		return fmt.Errorf("interface name %q: must be 1-%d bytes", s, maxIfName)
	case s == "." || s == "..":
		return fmt.Errorf("interface name %q: reserved", s)
	case strings.ContainsAny(s, "/:\x00") || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		return fmt.Errorf("interface name %q: contains a '/', ':', space or control character", s)
	}
	return nil
}

func nextIP(ip net.IP) net.IP {
	out := make(net.IP, len(ip))
	copy(out, ip)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			break
		}
	}
	return out
}

func broadcast(n *net.IPNet) net.IP {
	out := make(net.IP, len(n.IP))
	for i := range n.IP {
		out[i] = n.IP[i] | ^n.Mask[i]
	}
	return out
}
