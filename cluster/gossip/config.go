package gossip

import (
	"fmt"
	"log"
	"log/slog"
	"math"
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is the gossip port (TCP and UDP) the agent uses by convention.
const DefaultPort = 7946

// Config configures a Gossip. NodeID and Key are required.
type Config struct {
	// NodeID is the unique, stable node ID; it is memberlist's node name.
	NodeID string
	// NodeName is the human-readable name (often the host name). It travels
	// in Meta.Name and need not be unique.
	NodeName string
	// BindAddr is the IP address to listen on; empty means 0.0.0.0 (then a
	// private address of this host is advertised). Bound to "::", set
	// AdvertiseAddr.
	BindAddr string
	// BindPort is the TCP and UDP port to listen on; 0 picks a free port
	// (memberlist retries until TCP and UDP get the same one). The agent
	// uses DefaultPort.
	BindPort int
	// AdvertiseAddr is the IP address peers should use; empty means the bind
	// address, or a private address of this host when bound to 0.0.0.0.
	AdvertiseAddr string
	// AdvertisePort is the port peers should use; 0 means the bound port.
	AdvertisePort int
	// Key is the cluster's gossip key, 16, 24 or 32 bytes (AES-128/192/256).
	// It encrypts and authenticates all gossip; peers without it cannot join.
	Key []byte
	// SecondaryKeys are also accepted for incoming messages (key rotation).
	SecondaryKeys [][]byte
	// Meta is the local node's metadata. Its ID and Name are taken from
	// NodeID and NodeName when empty and must match them otherwise.
	Meta Meta
	// Profile selects the failure-detection timings; the zero value is
	// ProfileLAN.
	Profile Profile
	// DeadRetention is how long Members keeps reporting a dead or left member
	// that has not come back; 0 means one hour.
	DeadRetention time.Duration
	// Logger receives this package's and memberlist's logs; nil discards them.
	Logger *slog.Logger
	// OnEvent, if set, is called for every membership change, in order, from
	// one goroutine owned by the Gossip. It must not block for long (beyond
	// 4096 queued events, new ones are dropped with a warning; Members stays
	// exact) and must not call Shutdown.
	OnEvent func(Event)
}

// Profile selects a set of failure-detection timings (see Timing and the
// package doc for the numbers and the trade-off).
type Profile int

const (
	// ProfileLAN detects a crashed node in under 2 s. For LANs and decent
	// Wi-Fi: RTT well under 50ms and no loss bursts of a second or more.
	ProfileLAN Profile = iota
	// ProfileSlow is memberlist's LAN defaults: detection in about 6 s, but
	// it tolerates RTT up to a few hundred ms and multi-second loss bursts.
	// For flaky radio links and sites joined over a WAN.
	ProfileSlow
)

// String returns "lan" or "slow".
func (p Profile) String() string {
	switch p {
	case ProfileLAN:
		return "lan"
	case ProfileSlow:
		return "slow"
	}
	return fmt.Sprintf("profile(%d)", int(p))
}

// Timing is the memberlist tuning a Profile stands for. Field meanings are
// memberlist.Config's.
type Timing struct {
	// ProbeInterval is how often each node probes one random peer; a probe
	// must succeed (directly, indirectly or over TCP) within it.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct UDP ping waits before indirect probes.
	ProbeTimeout time.Duration
	// SuspicionMult scales the suspicion timeout:
	// SuspicionMult * max(1, log10(n)) * ProbeInterval.
	SuspicionMult int
	// SuspicionMaxTimeoutMult is the unconfirmed suspicion timeout as a
	// multiple of the confirmed one.
	SuspicionMaxTimeoutMult int
	// GossipInterval is how often pending broadcasts are sent.
	GossipInterval time.Duration
	// GossipNodes is how many random peers each gossip round goes to.
	GossipNodes int
	// RetransmitMult: each broadcast is sent RetransmitMult*ceil(log10(n+1)) times.
	RetransmitMult int
	// PushPullInterval is how often full state is exchanged with a random
	// peer (anti-entropy).
	PushPullInterval time.Duration
	// GossipToTheDeadTime is how long dead nodes still receive gossip (and
	// are kept in memberlist's table).
	GossipToTheDeadTime time.Duration
	// TCPTimeout bounds TCP connections (join, push/pull, TCP ping).
	TCPTimeout time.Duration
}

// Timing returns the tuning of p. Unknown profiles get ProfileLAN's.
func (p Profile) Timing() Timing {
	if p == ProfileSlow {
		return Timing{
			ProbeInterval:           time.Second,
			ProbeTimeout:            500 * time.Millisecond,
			SuspicionMult:           4,
			SuspicionMaxTimeoutMult: 6,
			GossipInterval:          200 * time.Millisecond,
			GossipNodes:             3,
			RetransmitMult:          4,
			PushPullInterval:        30 * time.Second,
			GossipToTheDeadTime:     30 * time.Second,
			TCPTimeout:              10 * time.Second,
		}
	}
	return Timing{
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            100 * time.Millisecond,
		SuspicionMult:           2,
		SuspicionMaxTimeoutMult: 1,
		GossipInterval:          50 * time.Millisecond,
		GossipNodes:             3,
		RetransmitMult:          6,
		PushPullInterval:        15 * time.Second,
		GossipToTheDeadTime:     15 * time.Second,
		TCPTimeout:              5 * time.Second,
	}
}

// SuspicionTimeout returns the confirmed and unconfirmed suspicion timeouts
// for a cluster of n nodes, as memberlist computes them.
func (t Timing) SuspicionTimeout(n int) (confirmed, unconfirmed time.Duration) {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	confirmed = time.Duration(float64(t.SuspicionMult) * scale * float64(t.ProbeInterval))
	if t.SuspicionMult-2 < 1 || n-2 < t.SuspicionMult-2 {
		return confirmed, confirmed
	}
	return confirmed, time.Duration(t.SuspicionMaxTimeoutMult) * confirmed
}

// DefaultDeadRetention is how long a dead or left member stays in Members
// when Config.DeadRetention is 0.
const DefaultDeadRetention = time.Hour

// maxQueuedEvents bounds the queue between memberlist and Config.OnEvent.
const maxQueuedEvents = 4096

// maxNodeIDLen bounds node IDs; they travel in every memberlist message.
const maxNodeIDLen = 128

// check validates c, fills defaults and returns the local Meta.
func (c *Config) check() (Meta, error) {
	if c.NodeID == "" || len(c.NodeID) > maxNodeIDLen {
		return Meta{}, fmt.Errorf("node id %q: must be 1-%d bytes: %w", c.NodeID, maxNodeIDLen, ErrInvalidConfig)
	}
	meta := c.Meta.clone()
	if meta.ID == "" {
		meta.ID = c.NodeID
	}
	if meta.ID != c.NodeID {
		return Meta{}, fmt.Errorf("meta id %q differs from node id %q: %w", meta.ID, c.NodeID, ErrInvalidConfig)
	}
	if meta.Name == "" {
		meta.Name = c.NodeName
	}
	if c.NodeName != "" && meta.Name != c.NodeName {
		return Meta{}, fmt.Errorf("meta name %q differs from node name %q: %w", meta.Name, c.NodeName, ErrInvalidConfig)
	}
	for _, a := range []string{c.BindAddr, c.AdvertiseAddr} {
		if a == "" {
			continue
		}
		if _, err := netip.ParseAddr(a); err != nil {
			return Meta{}, fmt.Errorf("address %q: %v: %w", a, err, ErrInvalidConfig)
		}
	}
	for _, p := range []int{c.BindPort, c.AdvertisePort} {
		if p < 0 || p > 65535 {
			return Meta{}, fmt.Errorf("port %d: %w", p, ErrInvalidConfig)
		}
	}
	if c.Profile != ProfileLAN && c.Profile != ProfileSlow {
		return Meta{}, fmt.Errorf("profile %v: %w", c.Profile, ErrInvalidConfig)
	}
	if c.DeadRetention < 0 {
		return Meta{}, fmt.Errorf("dead retention %v: %w", c.DeadRetention, ErrInvalidConfig)
	}
	return meta, nil
}

// newKeyring builds memberlist's keyring from the primary and secondary keys.
func newKeyring(primary []byte, secondary [][]byte) (*memberlist.Keyring, error) {
	if len(primary) == 0 {
		return nil, fmt.Errorf("no gossip key: %w", ErrInvalidKey)
	}
	for _, k := range append([][]byte{primary}, secondary...) {
		if err := memberlist.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("key of %d bytes: %v: %w", len(k), err, ErrInvalidKey)
		}
	}
	kr, err := memberlist.NewKeyring(secondary, primary)
	if err != nil {
		return nil, fmt.Errorf("building keyring: %v: %w", err, ErrInvalidKey)
	}
	return kr, nil
}

// memberlistConfig translates c into memberlist's configuration.
func (c *Config) memberlistConfig(kr *memberlist.Keyring, d *delegate, logger *log.Logger) *memberlist.Config {
	t := c.Profile.Timing()
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeID
	mc.BindAddr = c.BindAddr
	if mc.BindAddr == "" {
		mc.BindAddr = "0.0.0.0"
	}
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = c.BindPort
	}
	mc.Keyring = kr
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true

	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.SuspicionMult = t.SuspicionMult
	mc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	mc.GossipInterval = t.GossipInterval
	mc.GossipNodes = t.GossipNodes
	mc.RetransmitMult = t.RetransmitMult
	mc.PushPullInterval = t.PushPullInterval
	mc.GossipToTheDeadTime = t.GossipToTheDeadTime
	mc.TCPTimeout = t.TCPTimeout
	// A node id is a node's for life: when a dead or left member comes back
	// from another address (an edge box whose DHCP lease changed), take the
	// new address at once rather than refusing it as a conflict until the
	// dead entry is forgotten (GossipToTheDeadTime later).
	mc.DeadNodeReclaimTime = time.Nanosecond

	mc.Delegate = d
	mc.Events = d
	mc.Alive = d
	mc.Ping = d
	mc.Logger = logger
	return mc
}
