// Package agent wires the daemon: it builds the store, engine and web API from
// the configuration, runs them and stops them. It is the one package that
// imports them all, and only cli imports it.
package agent

import (
	"log/slog"

	"kedge/api"
)

// Defaults for the agent's paths.
const (
	DefaultDataDir    = "/var/lib/kedge"
	DefaultConfigFile = "/etc/kedge/config.yaml"
)

// Config is the agent's configuration: the config file, overridden by flags.
type Config struct {
	// DataDir holds all persistent state (bbolt, images, containers, volumes).
	DataDir string `json:"data_dir"`
	// Socket is the unix socket the API listens on.
	Socket string `json:"socket"`
	// NodeName names this node; empty means the host name.
	NodeName string `json:"node_name"`
	// Binary is the kedge executable re-executed for supervisors and inits;
	// empty means this process's executable.
	Binary string `json:"-"`
	// Registry configures image pulls.
	Registry RegistryConfig `json:"registry"`
	// Defaults apply to containers that do not set their own.
	Defaults ContainerDefaults `json:"defaults"`
	// RunDir is the base of the runtime dir (default /run/kedge).
	RunDir string `json:"run_dir"`
	// BridgeSubnet is the default bridge network's subnet (default: a free
	// /16 in 10.64.0.0/10), as Docker's bip.
	BridgeSubnet string `json:"bridge_subnet"`
	// CNIBinDirs are where the plugin executables of "cni" networks (a
	// user's conflist: the standard bridge, Calico, ...) are searched
	// (default /opt/cni/bin, then /usr/lib/cni, where Debian installs them).
	CNIBinDirs []string `json:"cni_bin_dirs"`
	// Cluster configures this node as a cluster peer (used after init/join).
	Cluster ClusterConfig `json:"cluster"`
	// Version is this binary's version, served by the API.
	Version api.Version `json:"-"`
	// Logger receives the agent's logs; nil means slog.Default().
	Logger *slog.Logger `json:"-"`
}

// ClusterConfig is how the node takes part in a cluster.
type ClusterConfig struct {
	// Advertise is the IP other nodes reach this one at (default: the
	// address of the default route).
	Advertise string `json:"advertise"`
	// BindAddr is the IP the cluster ports listen on (default all).
	BindAddr string `json:"bind_addr"`
	// APIPort, RaftPort and GossipPort default to 7780, 7781 and 7782.
	APIPort    int `json:"api_port"`
	RaftPort   int `json:"raft_port"`
	GossipPort int `json:"gossip_port"`
	// Labels are the node's scheduling labels.
	Labels map[string]string `json:"labels"`
	// Taints keep pods without a matching toleration off the node
	// ("key[=value]:Effect").
	Taints []string `json:"taints"`
	// Capacity and Reserve override what the node offers ("cpu=2,memory=4G").
	Capacity string `json:"capacity"`
	Reserve  string `json:"reserve"`
	// SlowLinks picks Raft and gossip timings for slow or lossy links.
	SlowLinks bool `json:"slow_links"`
	// StabilizationTime is how long a node must be healthy before it becomes
	// a voter (default 10s).
	StabilizationTime string `json:"stabilization_time"`
	// CertTTL is the life of node certificates (default 8760h); they renew
	// themselves at two thirds of it.
	CertTTL string `json:"cert_ttl"`
	// ProtocolLevel makes the node advertise and apply an older protocol
	// level (cluster.Config.ProtocolLevel): tests pose as an older agent.
	ProtocolLevel int `json:"-"`
}

// RegistryConfig configures image pulls and pushes.
type RegistryConfig struct {
	// Mirrors maps a registry host to mirrors tried first.
	Mirrors map[string][]string `json:"mirrors"`
	// Insecure lists registry hosts reached over plain HTTP.
	Insecure []string `json:"insecure"`
}

// ContainerDefaults are limits applied to containers that set none.
type ContainerDefaults struct {
	// PidsLimit stops fork bombs (default 4096; -1 for none).
	PidsLimit int64 `json:"pids_limit"`
	// Memory in bytes (0: unlimited).
	Memory int64 `json:"memory"`
	// LogMaxSize and LogMaxFiles rotate container logs (default 10 MiB x 3).
	LogMaxSize  string `json:"log_max_size"`
	LogMaxFiles int    `json:"log_max_files"`
	// ImageGCHighPercent is how full the data dir's disk may get before
	// unused images are removed (default 85), down to ImageGCLowPercent
	// (default 10 less).
	ImageGCHighPercent int `json:"image_gc_high_percent"`
	ImageGCLowPercent  int `json:"image_gc_low_percent"`
}
