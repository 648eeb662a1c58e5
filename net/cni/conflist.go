package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/version"
)

// MaxConfListSize bounds a user's conflist (real ones are a few hundred bytes).
const MaxConfListSize = 256 << 10

// maxPlugins bounds the plugin chain of a conflist.
const maxPlugins = 32

// validConfListName is what a conflist's name may be: a kedge network name,
// so that it can name libcni's cache entries and IPAM directories.
var validConfListName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// validPluginType is a plugin executable's base name.
var validPluginType = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,127}$`)

// ConfList is a third-party CNI network configuration as kedge accepted it:
// a conflist (or a single-plugin .conf, wrapped into one) that libcni
// parsed, with the facts kedge shows and checks.
type ConfList struct {
	// Name is the conflist's "name": the network's name.
	Name string
	// CNIVersion is the spec version the plugins are driven with.
	CNIVersion string
	// Plugins are the plugin types in chain order (executables in the CNI path).
	Plugins []string
	// PortMappings tells whether a plugin takes the "portMappings"
	// capability (the standard portmap plugin does): only then can the
	// network's containers publish ports.
	PortMappings bool
	// Subnets are the IPAM subnets the configuration names ("subnet" or
	// "ranges" of host-local-like IPAM), for display only.
	Subnets []string
	// Bytes is the conflist as libcni drives it.
	Bytes []byte

	list *libcni.NetworkConfigList
}

// ParseConfList parses and checks a user's CNI configuration: a conflist,
// or a single plugin's .conf. It runs nothing; plugin binaries are checked
// by Network.Validate. Errors wrap ErrInvalidConfig and say what is wrong.
func ParseConfList(raw []byte) (*ConfList, error) {
	if len(raw) > MaxConfListSize {
		return nil, fmt.Errorf("%w: conflist of %d bytes, more than %d", ErrInvalidConfig, len(raw), MaxConfListSize)
	}
	raw = bytes.TrimSpace(raw)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%w: conflist is not a JSON object: %v", ErrInvalidConfig, err)
	}
	var list *libcni.NetworkConfigList
	_, hasPlugins := top["plugins"]
	_, hasType := top["type"]
	switch {
	case hasPlugins:
		l, err := libcni.NetworkConfFromBytes(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		list = l
	case hasType: // a single plugin's .conf
		c, err := libcni.NetworkPluginConfFromBytes(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		l, err := libcni.ConfListFromConf(c)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		list = l
	default:
		return nil, fmt.Errorf("%w: conflist has no \"plugins\" (nor a plugin \"type\")", ErrInvalidConfig)
	}
	if !validConfListName.MatchString(list.Name) {
		return nil, fmt.Errorf("%w: conflist name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", ErrInvalidConfig, list.Name)
	}
	if list.CNIVersion == "" {
		return nil, fmt.Errorf("%w: conflist %s has no cniVersion", ErrInvalidConfig, list.Name)
	}
	if newer, err := version.GreaterThan(list.CNIVersion, version.Current()); err != nil || newer {
		return nil, fmt.Errorf("%w: conflist %s: cniVersion %q: want a CNI spec version up to %s", ErrInvalidConfig, list.Name, list.CNIVersion, version.Current())
	}
	if len(list.Plugins) == 0 || len(list.Plugins) > maxPlugins {
		return nil, fmt.Errorf("%w: conflist %s has %d plugins, want 1 to %d", ErrInvalidConfig, list.Name, len(list.Plugins), maxPlugins)
	}
	cl := &ConfList{Name: list.Name, CNIVersion: list.CNIVersion, Bytes: list.Bytes, list: list}
	for i, p := range list.Plugins {
		typ := p.Network.Type
		if !validPluginType.MatchString(typ) {
			return nil, fmt.Errorf("%w: conflist %s plugin %d: type %q is not an executable's name", ErrInvalidConfig, list.Name, i, typ)
		}
		cl.Plugins = append(cl.Plugins, typ)
		if p.Network.Capabilities["portMappings"] {
			cl.PortMappings = true
		}
		cl.Subnets = append(cl.Subnets, ipamSubnets(p.Bytes)...)
	}
	return cl, nil
}

// ipamSubnets reads the subnets of a plugin's host-local-style IPAM section
// ("subnet", or "ranges": [[{"subnet": ...}]]); anything else gives none.
func ipamSubnets(plugin []byte) []string {
	var conf struct {
		IPAM struct {
			Subnet string `json:"subnet"`
			Ranges [][]struct {
				Subnet string `json:"subnet"`
			} `json:"ranges"`
		} `json:"ipam"`
	}
	if json.Unmarshal(plugin, &conf) != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
			out = append(out, p.Masked().String())
		}
	}
	add(conf.IPAM.Subnet)
	for _, set := range conf.IPAM.Ranges {
		for _, r := range set {
			add(r.Subnet)
		}
	}
	return out
}
