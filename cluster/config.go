package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"kedge/api"
	"kedge/cluster/consensus"
	"kedge/cluster/gossip"
	"kedge/cluster/state"
	"kedge/security/pki"
)

// Config configures a Manager. DataDir is required.
type Config struct {
	// DataDir holds the membership, keys and the Raft state (the agent's
	// DATA_DIR/cluster).
	DataDir string
	// NodeName names this node; empty means the host name.
	NodeName string
	// Advertise is the address other nodes reach this one at; empty keeps
	// the persisted one, or picks the address of the default route.
	Advertise string
	// BindAddr is the IP the cluster ports listen on (default all).
	BindAddr string
	// APIPort, RaftPort and GossipPort default to 7780, 7781 and 7782.
	APIPort, RaftPort, GossipPort int
	// Labels are this node's scheduling labels.
	Labels map[string]string
	// Taints keep pods that do not tolerate them off this node
	// ("key[=value]:Effect", see ParseTaint).
	Taints []string
	// Capacity overrides what the node offers (zero: the machine's).
	Capacity api.NodeResources
	// Reserve is kept back from workloads.
	Reserve api.NodeResources
	// Version is the agent's version, gossiped and recorded.
	Version string
	// Slow selects timings for slow or lossy links instead of the LAN ones.
	Slow bool
	// StabilizationTime is how long a joined node must be healthy before it
	// becomes a voter (default 10 s; tests shorten it).
	StabilizationTime time.Duration
	// CertTTL is the life of the node certificates this node signs as
	// leader (default one year); they renew at two thirds of it.
	CertTTL time.Duration
	// Logger receives the cluster's logs.
	Logger *slog.Logger
	// ProtocolLevel, when between 1 and state.ProtocolLevel, makes this
	// node advertise and apply that older protocol level, as an agent of an
	// older version would (tests of mixed-version clusters); 0 is the
	// newest.
	ProtocolLevel int
}

func (c *Config) withDefaults() {
	if c.APIPort == 0 {
		c.APIPort = api.DefaultAPIPort
	}
	if c.RaftPort == 0 {
		c.RaftPort = api.DefaultRaftPort
	}
	if c.GossipPort == 0 {
		c.GossipPort = api.DefaultGossipPort
	}
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	if c.CertTTL <= 0 {
		c.CertTTL = pki.DefaultCertTTL
	}
}

// ParseTaint reads a taint as kubectl writes it: "key[=value]:Effect",
// the effect NoSchedule, PreferNoSchedule or NoExecute.
func ParseTaint(s string) (state.Taint, error) {
	kv, effect, ok := strings.Cut(s, ":")
	key, value, _ := strings.Cut(kv, "=")
	switch {
	case !ok || key == "":
		return state.Taint{}, fmt.Errorf("taint %q: want key[=value]:Effect: %w", s, api.ErrInvalid)
	case effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute":
		return state.Taint{}, fmt.Errorf("taint %q: the effect is NoSchedule, PreferNoSchedule or NoExecute: %w", s, api.ErrInvalid)
	}
	return state.Taint{Key: key, Value: value, Effect: effect}, nil
}

// taints parses the configured taints.
func (c *Config) taints() ([]state.Taint, error) {
	var out []state.Taint
	for _, s := range c.Taints {
		t, err := ParseTaint(s)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// membership is what a member persists about itself (membership.json).
type membership struct {
	ClusterID string            `json:"cluster_id"`
	NodeID    string            `json:"node_id"`
	NodeName  string            `json:"node_name"`
	Advertise string            `json:"advertise"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Peers are gossip addresses to rejoin through after a restart.
	Peers []string `json:"peers,omitempty"`
}

// Files under DataDir.
const (
	membershipFile = "membership.json"
	caCertFile     = "ca.crt"
	caKeyFile      = "ca.key" // voters only
	nodeCertFile   = "node.crt"
	nodeKeyFile    = "node.key"
	gossipKeyFile  = "gossip.key"
)

func (m *Manager) path(name string) string { return filepath.Join(m.cfg.DataDir, name) }

func (m *Manager) loadMembership() (*membership, error) {
	b, err := os.ReadFile(m.path(membershipFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read membership: %w", err)
	}
	var ms membership
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("read membership %s: %w", m.path(membershipFile), err)
	}
	return &ms, nil
}

func (m *Manager) saveMembership(ms *membership) error {
	b, err := json.MarshalIndent(ms, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(m.path(membershipFile), b, 0o600)
}

// writeFileAtomic writes a file through a rename, so a crash leaves the old
// or the new content, never a torn one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// advertiseIP resolves the address to advertise: the given one (an IP or
// IP:port, whose port is ignored), or the source address of the default
// route.
func advertiseIP(given string) (netip.Addr, error) {
	if given != "" {
		host := given
		if h, _, err := net.SplitHostPort(given); err == nil {
			host = h
		}
		a, err := netip.ParseAddr(host)
		if err != nil || a.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("--advertise %q: want this node's IP address: %w", given, api.ErrInvalid)
		}
		return a, nil
	}
	c, err := net.Dial("udp", "192.0.2.1:9") // no packet is sent: this picks the route's source
	if err != nil {
		return netip.Addr{}, fmt.Errorf("find this node's address (no default route; give --advertise): %w", err)
	}
	defer c.Close()
	a, _ := netip.AddrFromSlice(c.LocalAddr().(*net.UDPAddr).IP)
	return a.Unmap(), nil
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// raftTiming picks the Raft timings.
func (c *Config) raftTiming() consensus.Timing {
	if c.Slow {
		return consensus.Slow()
	}
	return consensus.LAN()
}

// gossipProfile picks the failure-detection timings.
func (c *Config) gossipProfile() gossip.Profile {
	if c.Slow {
		return gossip.ProfileSlow
	}
	return gossip.ProfileLAN
}
