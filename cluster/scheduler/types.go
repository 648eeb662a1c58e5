package scheduler

// Inputs and outputs of the scheduler. The caller (the leader's placement
// loop) maps the cluster state into these types; the scheduler never reads
// anything else.

// Taint effects, as Kubernetes spells them.
const (
	// EffectNoSchedule refuses requests that do not tolerate the taint.
	EffectNoSchedule = "NoSchedule"
	// EffectPreferNoSchedule lowers the score of nodes whose taint the
	// request does not tolerate, but never refuses them.
	EffectPreferNoSchedule = "PreferNoSchedule"
	// EffectNoExecute refuses like NoSchedule; evicting what already runs
	// is the reconciler's business, not the scheduler's.
	EffectNoExecute = "NoExecute"
)

// Toleration operators.
const (
	// OpEqual tolerates a taint whose key and value both match ("" means Equal).
	OpEqual = "Equal"
	// OpExists tolerates a taint whose key matches, whatever its value; with
	// an empty key it tolerates every taint (of the toleration's effect).
	OpExists = "Exists"
)

// Resources is an amount of schedulable resources.
type Resources struct {
	// MilliCPU is thousandths of a CPU.
	MilliCPU int64
	// MemoryBytes is memory in bytes.
	MemoryBytes int64
	// Pods is a number of allocations. In a node's Allocatable, 0 means no
	// limit on the count; in a Request it is ignored (a request is one pod).
	Pods int
}

// Taint marks a node so that only requests that tolerate it land there.
type Taint struct {
	Key    string
	Value  string
	Effect string // EffectNoSchedule, EffectPreferNoSchedule or EffectNoExecute
}

// Toleration lets a request land on a node carrying a matching taint.
type Toleration struct {
	Key      string
	Operator string // OpEqual (the default when empty) or OpExists
	Value    string
	// Effect limits the toleration to one effect; empty tolerates all.
	Effect string
}

// Tolerates reports whether t tolerates taint, with Kubernetes' rules: the
// effects match (or t.Effect is empty), and either the operator is Exists
// and the key matches (an empty key matches every key) or the operator is
// Equal and both key and value match.
func (t Toleration) Tolerates(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	switch t.Operator {
	case OpExists:
		return t.Key == "" || t.Key == taint.Key
	case OpEqual, "":
		return t.Key == taint.Key && t.Value == taint.Value
	}
	return false
}

// HostPort is a port an allocation binds on its node.
type HostPort struct {
	// Port is the host port; 0 asks for a free port chosen at start and
	// never conflicts.
	Port int
	// Protocol is "TCP" (the default when empty), "UDP" or "SCTP".
	Protocol string
	// IP is the host address bound; "", "0.0.0.0" and "::" mean every
	// address and conflict with any IP on the same port and protocol.
	IP string
}

// Conflicts reports whether p and q cannot both be bound on one node: the
// same non-zero port and protocol, and the same IP or either a wildcard.
func (p HostPort) Conflicts(q HostPort) bool {
	if p.Port == 0 || p.Port != q.Port || protocol(p.Protocol) != protocol(q.Protocol) {
		return false
	}
	return p.IP == q.IP || wildcardIP(p.IP) || wildcardIP(q.IP)
}

func protocol(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}

func wildcardIP(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

// Node is a machine that can run allocations.
type Node struct {
	// ID identifies the node; IDs are unique in a snapshot. Ties between
	// equally good nodes go to the smallest ID.
	ID string
	// Name is what failure reasons are keyed by (the ID when empty).
	Name   string
	Labels map[string]string
	Taints []Taint
	// Allocatable is what requests may use: capacity minus what is
	// reserved for the system.
	Allocatable Resources
	// Ready is false for a node that is down, suspect or gone.
	Ready bool
	// Cordoned nodes keep what they run but take nothing new.
	Cordoned bool
}

// Alloc is something already placed on a node: it consumes the node's
// resources and ports and counts for spreading its group.
type Alloc struct {
	ID     string
	NodeID string
	// Group is the workload the allocation is a replica of, e.g.
	// "deployment/ns/name"; replicas of one group are spread.
	Group     string
	Requests  Resources
	HostPorts []HostPort
}

// Request asks for one allocation to be placed.
type Request struct {
	// ID is the allocation (pod) to place; it is echoed in the plan.
	ID string
	// Group is the workload key (as Alloc.Group). Empty means the request
	// belongs to no group and is not spread.
	Group string
	// Requests is what the allocation needs (Pods is ignored: it is one).
	Requests Resources
	// NodeSelector must be a subset of the node's labels.
	NodeSelector map[string]string
	Tolerations  []Toleration
	HostPorts    []HostPort
	// SpreadTopologyKey is a node label (e.g. "zone") whose values are
	// topology domains the group is spread across, before spreading across
	// nodes. Empty spreads across nodes only.
	SpreadTopologyKey string
	// AllowedNodes, when not empty, are the only node IDs considered
	// (a DaemonSet pins its replica to one node).
	AllowedNodes []string
	// ExcludedNodes are node IDs never considered (a rescheduled replica
	// avoids the node it failed on).
	ExcludedNodes []string
}

// Snapshot is the cluster as the scheduler sees it. Allocs on node IDs not
// in Nodes are ignored.
type Snapshot struct {
	Nodes  []Node
	Allocs []Alloc
}

// Placement is one request placed on one node.
type Placement struct {
	RequestID string
	NodeID    string
	// Score is the node's weighted score in [0, 1]; it ranks the nodes of
	// one request and is not comparable between requests.
	Score float64
}

// Failure is a request that no node can take.
type Failure struct {
	RequestID string
	// Reasons maps every node's name to why it was refused (the first
	// filter that refused it; a filter may name several causes separated
	// by ", ").
	Reasons map[string]string
	// Summary reads as kubectl describe shows a pending pod:
	// "0/5 nodes are available: 2 node(s) didn't match node selector,
	// 3 Insufficient memory."
	Summary string
}

// Plan is the scheduler's answer: what to place where, and what cannot be
// placed and why. Both lists are in request order.
type Plan struct {
	Placements []Placement
	Failures   []Failure
}
