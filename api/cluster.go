package api

import "time"

// Cluster API types: what `kedge init|join|leave|nodes|status|token` and the
// status page exchange with an agent.

// Default ports of a cluster node.
const (
	DefaultAPIPort    = 7780
	DefaultRaftPort   = 7781
	DefaultGossipPort = 7782
)

// Node states as the cluster records them.
const (
	NodeReady   = "ready"
	NodeSuspect = "suspect"
	NodeDown    = "down"
	NodeLeft    = "left"
)

// NodeResources is what a node offers or keeps back.
type NodeResources struct {
	// CPUMillis is thousandths of a CPU.
	CPUMillis int64 `json:"cpu_millis"`
	// MemoryBytes is memory in bytes.
	MemoryBytes int64 `json:"memory_bytes"`
}

// ClusterNode is a node as the cluster knows it.
type ClusterNode struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Address    string            `json:"address"`
	APIAddr    string            `json:"api_addr"`
	RaftAddr   string            `json:"raft_addr"`
	GossipAddr string            `json:"gossip_addr"`
	Voter      bool              `json:"voter"`
	Leader     bool              `json:"leader"`
	State      string            `json:"state"`
	StateSince time.Time         `json:"state_since"`
	JoinedAt   time.Time         `json:"joined_at"`
	Version    string            `json:"version"`
	Labels     map[string]string `json:"labels,omitempty"`
	Capacity   NodeResources     `json:"capacity"`
	Reserve    NodeResources     `json:"reserve"`
	Cordoned   bool              `json:"cordoned,omitempty"`
	// Taints are "key[=value]:Effect".
	Taints []string `json:"taints,omitempty"`
}

// ClusterStatus is the control plane's health as one node sees it.
type ClusterStatus struct {
	// Member is false on a standalone engine (no init or join yet).
	Member    bool   `json:"member"`
	ClusterID string `json:"cluster_id,omitempty"`
	NodeID    string `json:"node_id,omitempty"`
	NodeName  string `json:"node_name,omitempty"`
	// RaftState is this node's role: Leader, Follower, Candidate, Shutdown.
	RaftState  string `json:"raft_state,omitempty"`
	LeaderID   string `json:"leader_id,omitempty"`
	LeaderName string `json:"leader_name,omitempty"`
	Term       uint64 `json:"term,omitempty"`
	// AppliedIndex is the last Raft index applied to this node's state.
	AppliedIndex uint64 `json:"applied_index,omitempty"`
	CommitIndex  uint64 `json:"commit_index,omitempty"`
	Voters       int    `json:"voters"`
	Members      int    `json:"members"`
	// Healthy: a leader exists and a quorum of voters is alive.
	Healthy bool `json:"healthy"`
	// FaultTolerance is how many voters may fail without losing quorum.
	FaultTolerance int      `json:"fault_tolerance"`
	Warnings       []string `json:"warnings,omitempty"`
}

// ClusterEvent is an entry of the cluster's event log (node joined, down...).
type ClusterEvent struct {
	Index   uint64    `json:"index"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Object  string    `json:"object"`
	Message string    `json:"message"`
}

// InitRequest asks an agent to found a cluster.
type InitRequest struct {
	// Advertise is the address other nodes reach this one at (IP or
	// IP:port of the API); empty picks the address of the default route.
	Advertise string `json:"advertise,omitempty"`
}

// InitResponse is what `kedge init` prints.
type InitResponse struct {
	ClusterID string `json:"cluster_id"`
	NodeID    string `json:"node_id"`
	// JoinCommand is the line to run on the other machines.
	JoinCommand string `json:"join_command"`
	Token       string `json:"token"`
	// AdminToken is the bearer token of the cluster's first administrator.
	AdminToken string `json:"admin_token"`
	// CACert is the cluster CA's certificate (PEM), for the CLI config.
	CACert string `json:"ca_cert"`
	// Endpoint is this node's API URL.
	Endpoint string `json:"endpoint"`
}

// JoinRequest asks an agent to join a cluster through ADDR.
type JoinRequest struct {
	Addr      string            `json:"addr"`
	Token     string            `json:"token"`
	Advertise string            `json:"advertise,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// JoinResponse reports a join.
type JoinResponse struct {
	ClusterID string `json:"cluster_id"`
	NodeID    string `json:"node_id"`
	NodeName  string `json:"node_name"`
}

// LeaveRequest asks a node to leave its cluster.
type LeaveRequest struct {
	// Force leaves at once: without draining the node first, and even when
	// that loses quorum.
	Force bool `json:"force,omitempty"`
	// DrainTimeout bounds the wait for the node's pods to be replaced
	// elsewhere before it leaves (0: the server's default, a minute).
	DrainTimeout time.Duration `json:"drain_timeout,omitempty"`
}

// JoinToken is a join token as listed; Token is set only when it is created.
type JoinToken struct {
	ID          string    `json:"id"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	// Expires is zero for a token that does not expire.
	Expires time.Time `json:"expires,omitzero"`
	// UsesLeft is -1 for unlimited.
	UsesLeft int    `json:"uses_left"`
	Revoked  bool   `json:"revoked,omitempty"`
	Token    string `json:"token,omitempty"`
}

// CABackupRequest asks a voter for an encrypted copy of the cluster CA.
type CABackupRequest struct {
	Passphrase string `json:"passphrase"`
}

// TokenCreateRequest asks for a join token.
type TokenCreateRequest struct {
	// TTL is a Go duration ("24h"); empty means 24h, "0" means never.
	TTL string `json:"ttl,omitempty"`
	// Uses is how many joins it allows; 0 means unlimited.
	Uses        int    `json:"uses,omitempty"`
	Description string `json:"description,omitempty"`
}

// ApplyResult says what applying one object did, as kubectl prints it.
type ApplyResult struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Action is "created", "configured" or "unchanged".
	Action string `json:"action"`
}

// Revision is one template of a Deployment's rollout history.
type Revision struct {
	Number  int       `json:"number"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	// Current marks the template the Deployment runs now.
	Current bool `json:"current"`
	// Change-cause as kubectl shows it: the image(s) of the template.
	Images []string `json:"images"`
}

// WorkloadSummary is a workload as the status page shows it: its pods and
// where they run.
type WorkloadSummary struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Desired is the number of pods wanted (a DaemonSet's: its pods).
	Desired int          `json:"desired"`
	Ready   int          `json:"ready"`
	Pods    []PodSummary `json:"pods"`
}

// PodSummary is one pod of a workload.
type PodSummary struct {
	Name     string `json:"name"`
	Node     string `json:"node"`
	Phase    string `json:"phase"`
	Ready    bool   `json:"ready"`
	Restarts int64  `json:"restarts"`
}
