package state

import (
	"maps"
	"time"
)

// NodeState is a node's membership state as recorded by the cluster.
type NodeState string

// Node states. A node is Ready when healthy, Suspect when gossip doubts it,
// Down when the leader has declared it failed, Left when it left on purpose.
const (
	NodeReady   NodeState = "ready"
	NodeSuspect NodeState = "suspect"
	NodeDown    NodeState = "down"
	NodeLeft    NodeState = "left"
)

// Valid reports whether s is one of the known node states.
func (s NodeState) Valid() bool {
	switch s {
	case NodeReady, NodeSuspect, NodeDown, NodeLeft:
		return true
	}
	return false
}

// Cluster is the single cluster-wide record. It holds public material only:
// the CA private key never enters the state.
type Cluster struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// CACertPEM is the CA certificate (or a bundle of certificates during
	// rotation): CERTIFICATE blocks only.
	CACertPEM string `json:"ca_cert_pem"`
	// GossipKey is the memberlist encryption key (16, 24 or 32 bytes); every
	// node holds it anyway.
	GossipKey []byte `json:"gossip_key"`
	// SchemaVersion is the state schema the cluster runs at; set by the FSM.
	SchemaVersion int `json:"schema_version"`
}

func (c *Cluster) clone() Cluster {
	out := *c
	out.GossipKey = append([]byte(nil), c.GossipKey...)
	return out
}

// Addresses are the host:port addresses a node advertises.
type Addresses struct {
	API    string `json:"api"`
	Raft   string `json:"raft"`
	Gossip string `json:"gossip"`
}

// Resources is an amount of CPU and memory.
type Resources struct {
	CPUMillis   int64 `json:"cpu_millis"`
	MemoryBytes int64 `json:"memory_bytes"`
}

// Node is a machine in the cluster.
//
// node.upsert owns Name, Addr, Labels, Capacity, Reserved, Version, Voter
// and State. The FSM owns JoinedAt (kept on update) and StateSince (the
// command time of the last state change). Cordoned and CertSerial are set
// on creation and afterwards only by node.cordon and node.cert (an upsert
// with a non-empty CertSerial also updates it).
type Node struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Addr       Addresses         `json:"addr"`
	Labels     map[string]string `json:"labels,omitempty"`
	Capacity   Resources         `json:"capacity"`
	Reserved   Resources         `json:"reserved"`
	Version    string            `json:"version,omitempty"`
	Voter      bool              `json:"voter"`
	State      NodeState         `json:"state"`
	StateSince time.Time         `json:"state_since"`
	JoinedAt   time.Time         `json:"joined_at"`
	CertSerial string            `json:"cert_serial,omitempty"`
	Cordoned   bool              `json:"cordoned"`
	// Taints keep pods without a matching toleration off the node.
	Taints []Taint `json:"taints,omitempty"`
}

// Taint repels pods that do not tolerate it (Kubernetes' node taint).
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"` // NoSchedule, PreferNoSchedule or NoExecute
}

func (n *Node) clone() Node {
	out := *n
	if len(n.Labels) == 0 {
		out.Labels = nil
	} else {
		out.Labels = maps.Clone(n.Labels)
	}
	if len(n.Taints) == 0 {
		out.Taints = nil
	} else {
		out.Taints = append([]Taint(nil), n.Taints...)
	}
	return out
}

// JoinToken admits new machines. Only a hash of its secret is stored.
type JoinToken struct {
	ID          string `json:"id"`
	SecretHash  string `json:"secret_hash"`
	Description string `json:"description,omitempty"`
	// Role is what a machine joining with the token becomes, e.g. "node".
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the token stops working; zero means never.
	ExpiresAt time.Time `json:"expires_at"`
	// UsesLeft is how many more joins the token admits; -1 means unlimited.
	UsesLeft int64 `json:"uses_left"`
	Revoked  bool  `json:"revoked"`
}

func (t *JoinToken) clone() JoinToken { return *t }

// Unlimited is the UsesLeft of a join token that may be used any number of times.
const Unlimited = -1

// APIToken is a bearer token for people and tools. Only a hash of its
// secret is stored.
type APIToken struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	SecretHash string    `json:"secret_hash"`
	Role       string    `json:"role"`
	CreatedAt  time.Time `json:"created_at"`
}

func (t *APIToken) clone() APIToken { return *t }

// RevokedCert records a certificate that must no longer be accepted.
type RevokedCert struct {
	Serial string    `json:"serial"`
	NodeID string    `json:"node_id,omitempty"`
	At     time.Time `json:"at"`
}

func (r *RevokedCert) clone() RevokedCert { return *r }

// Event is one entry of the cluster's bounded event log.
type Event struct {
	// Seq orders events; consecutive, starting at 1.
	Seq uint64 `json:"seq"`
	// Index is the raft index of the command that produced the event;
	// several events may share one.
	Index   uint64    `json:"index"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Object  string    `json:"object"`
	Message string    `json:"message"`
}

func (e *Event) clone() Event { return *e }

// MaxEvents is how many of the newest events the state keeps. It is part of
// the replicated behaviour: every peer must use the same value.
const MaxEvents = 1000

// Event kinds appended by the FSM itself.
const (
	EventClusterCreated   = "cluster.created"
	EventGossipKeyRotated = "cluster.gossip_key"
	EventNodeJoined       = "node.joined"
	EventNodeState        = "node.state"
	EventNodeLeft         = "node.left"
	EventNodeCordoned     = "node.cordoned"
	EventNodeUncordoned   = "node.uncordoned"
	EventNodeRemoved      = "node.removed"
	EventJoinTokenRevoked = "jointoken.revoked"
	EventCertRevoked      = "cert.revoked"
)
