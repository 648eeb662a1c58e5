package scheduler

import (
	"cmp"
	"slices"
)

// NodeInfo is a node as the stages see it: the node itself and everything
// placed on it, including the placements made earlier in the same Schedule
// call. Stages must not modify it or what it returns.
type NodeInfo struct {
	node      *Node
	index     int32
	alloc     Resources // node.Allocatable, copied to save a pointer chase
	ready     bool      // node.Ready && !node.Cordoned
	requested Resources // Pods is the number of allocations
	ports     []HostPort
	hard      []hardTaint // NoSchedule and NoExecute taints
	prefer    []Taint     // PreferNoSchedule taints
	invCPU    float64     // 1/Allocatable.MilliCPU, 0 when there is none
	invMem    float64     // 1/Allocatable.MemoryBytes, 0 when there is none
}

type hardTaint struct {
	Taint
	reason string // precomputed so refusing never allocates
}

// Node returns the node.
func (n *NodeInfo) Node() *Node { return n.node }

// Requested returns the sum of what is placed on the node; Pods is how many
// allocations there are.
func (n *NodeInfo) Requested() Resources { return n.requested }

// Free returns Allocatable minus Requested (negative when over-committed;
// Pods is meaningless when Allocatable.Pods is 0, i.e. unlimited).
func (n *NodeInfo) Free() Resources {
	a := n.alloc
	return Resources{
		MilliCPU:    a.MilliCPU - n.requested.MilliCPU,
		MemoryBytes: a.MemoryBytes - n.requested.MemoryBytes,
		Pods:        a.Pods - n.requested.Pods,
	}
}

// HostPorts returns the host ports bound on the node (port 0 excluded).
func (n *NodeInfo) HostPorts() []HostPort { return n.ports }

// Context is one request being placed, with what the scheduler worked out
// for it once so that stages stay cheap per node: the request's group
// counts, its topology domains and its resolved node selector.
type Context struct {
	// Request is the request being placed. Stages must not modify it.
	Request *Request

	st       *state
	group    *groupInfo  // nil when Request.Group is ""
	topo     *labelIndex // nil when Request.SpreadTopologyKey is ""
	domains  []int32     // the group's count per domain of topo
	selector []selTerm
	selNever bool // a selector value no node has: nothing matches

	minGroup  int32
	minDomain int32 // -1 when no candidate has a domain
}

type selTerm struct {
	idx  *labelIndex
	want int32
}

// GroupCount returns how many allocations of the request's group are on n
// (0 when the request has no group).
func (c *Context) GroupCount(n *NodeInfo) int {
	if c.group == nil {
		return 0
	}
	return int(c.group.count[n.index])
}

// DomainCount returns how many allocations of the request's group are in
// n's topology domain (the nodes sharing its value of SpreadTopologyKey).
// ok is false when the request has no group or key, or n lacks the label.
func (c *Context) DomainCount(n *NodeInfo) (count int, ok bool) {
	if c.domains == nil {
		return 0, false
	}
	d := c.topo.node[n.index]
	if d < 0 {
		return 0, false
	}
	return int(c.domains[d]), true
}

// MinGroupCount returns the smallest GroupCount among the nodes that passed
// every filter. It is valid while scoring only.
func (c *Context) MinGroupCount() int { return int(c.minGroup) }

// MinDomainCount returns the smallest DomainCount among the domains of the
// nodes that passed every filter; ok is false when none of them has a
// domain. It is valid while scoring only.
func (c *Context) MinDomainCount() (count int, ok bool) {
	return int(c.minDomain), c.minDomain >= 0
}

// labelIndex interns one label key: every node's value as a small integer,
// so matching a selector or finding a domain is an integer compare.
type labelIndex struct {
	values map[string]int32
	node   []int32 // value id per node index; -1 when the label is absent
}

// groupInfo is what the scheduler tracks for one group named by a request.
type groupInfo struct {
	count   []int32 // allocations per node index
	domains []groupDomains
}

type groupDomains struct {
	idx   *labelIndex
	count []int32 // allocations per value id of idx
}

// state is the mutable cluster of one Schedule call. Placements update it so
// that later requests see them.
type state struct {
	nodes  []NodeInfo
	byID   map[string]int32
	labels map[string]*labelIndex
	groups map[string]*groupInfo

	anyHard          bool // some node has a NoSchedule or NoExecute taint
	anyPrefer        bool // some node has a PreferNoSchedule taint
	anyUnschedulable bool // some node is not ready or cordoned

	// Per-request scratch, reused so that placing allocates nothing.
	ctx        Context
	cand       []*NodeInfo
	sums       []float64
	allowed    []int32
	allowedAll bool     // allowed holds every node
	mark       []uint32 // mark[i] == stamp: node i excluded for this request
	stamp      uint32
	sel        []selTerm
	keys       []string
	filters    []int // indices of the stack's filters that apply
	scorers    []int // indices of the stack's scorers that apply
}

// newState indexes the snapshot. Nodes are ordered by ID so that the result
// never depends on the order of s.Nodes; groups are counted for the groups
// the requests name (others never matter).
func newState(s Snapshot, reqs []Request) *state {
	order := make([]int, len(s.Nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		na, nb := &s.Nodes[a], &s.Nodes[b]
		if c := cmp.Compare(na.ID, nb.ID); c != 0 {
			return c
		}
		return cmp.Compare(na.Name, nb.Name)
	})
	st := &state{
		nodes:  make([]NodeInfo, 0, len(order)),
		byID:   make(map[string]int32, len(order)),
		labels: map[string]*labelIndex{},
		groups: map[string]*groupInfo{},
	}
	for _, j := range order {
		n := &s.Nodes[j]
		if _, dup := st.byID[n.ID]; dup {
			continue // IDs are unique; keep the first in (ID, Name) order
		}
		i := int32(len(st.nodes))
		st.byID[n.ID] = i
		ni := NodeInfo{node: n, index: i, alloc: n.Allocatable, ready: n.Ready && !n.Cordoned}
		if a := n.Allocatable.MilliCPU; a > 0 {
			ni.invCPU = 1 / float64(a)
		}
		if a := n.Allocatable.MemoryBytes; a > 0 {
			ni.invMem = 1 / float64(a)
		}
		for _, t := range n.Taints {
			switch t.Effect {
			case EffectPreferNoSchedule:
				ni.prefer = append(ni.prefer, t)
				st.anyPrefer = true
			default: // NoSchedule, NoExecute, and unknown effects are hard
				ni.hard = append(ni.hard, hardTaint{t, "node(s) had untolerated taint {" + t.Key + ": " + t.Value + "}"})
				st.anyHard = true
			}
		}
		if !n.Ready || n.Cordoned {
			st.anyUnschedulable = true
		}
		st.nodes = append(st.nodes, ni)
	}
	st.mark = make([]uint32, len(st.nodes))

	for i := range reqs {
		if g := reqs[i].Group; g != "" && st.groups[g] == nil {
			st.groups[g] = &groupInfo{count: make([]int32, len(st.nodes))}
		}
	}
	for k := range s.Allocs {
		a := &s.Allocs[k]
		i, ok := st.byID[a.NodeID]
		if !ok {
			continue
		}
		n := &st.nodes[i]
		n.requested.MilliCPU += a.Requests.MilliCPU
		n.requested.MemoryBytes += a.Requests.MemoryBytes
		n.requested.Pods++
		for _, p := range a.HostPorts {
			if p.Port != 0 {
				n.ports = append(n.ports, p)
			}
		}
		if a.Group != "" {
			if g := st.groups[a.Group]; g != nil {
				g.count[i]++
			}
		}
	}
	return st
}

// label returns the index of one label key, building it on first use.
func (st *state) label(key string) *labelIndex {
	if idx := st.labels[key]; idx != nil {
		return idx
	}
	idx := &labelIndex{values: map[string]int32{}, node: make([]int32, len(st.nodes))}
	for i := range st.nodes {
		v, ok := st.nodes[i].node.Labels[key]
		if !ok {
			idx.node[i] = -1
			continue
		}
		id, seen := idx.values[v]
		if !seen {
			id = int32(len(idx.values))
			idx.values[v] = id
		}
		idx.node[i] = id
	}
	st.labels[key] = idx
	return idx
}

// group returns the tracking of a group, creating it (empty: no allocs were
// counted for it) for a group no request named when the state was built.
func (st *state) group(name string) *groupInfo {
	g := st.groups[name]
	if g == nil {
		g = &groupInfo{count: make([]int32, len(st.nodes))}
		st.groups[name] = g
	}
	return g
}

// domainCounts returns the group's counts per domain of idx, deriving them
// from the per-node counts on first use.
func (g *groupInfo) domainCounts(idx *labelIndex) []int32 {
	for _, d := range g.domains {
		if d.idx == idx {
			return d.count
		}
	}
	count := make([]int32, len(idx.values))
	for i, c := range g.count {
		if d := idx.node[i]; d >= 0 {
			count[d] += c
		}
	}
	g.domains = append(g.domains, groupDomains{idx, count})
	return count
}

// prepare fills the reused Context for r.
func (st *state) prepare(r *Request) *Context {
	c := &st.ctx
	*c = Context{Request: r, st: st, minDomain: -1}
	if r.Group != "" {
		c.group = st.group(r.Group)
		if r.SpreadTopologyKey != "" {
			c.topo = st.label(r.SpreadTopologyKey)
			c.domains = c.group.domainCounts(c.topo)
		}
	}
	st.sel = st.sel[:0]
	if len(r.NodeSelector) > 0 {
		keys := st.keys[:0]
		for k := range r.NodeSelector {
			keys = append(keys, k)
		}
		slices.Sort(keys) // a fixed order: same work, same answer
		st.keys = keys
		for _, k := range keys {
			idx := st.label(k)
			want, ok := idx.values[r.NodeSelector[k]]
			if !ok {
				c.selNever = true
			}
			st.sel = append(st.sel, selTerm{idx, want})
		}
	}
	c.selector = st.sel
	return c
}

// commit records r placed on node i.
func (st *state) commit(c *Context, i int32) {
	r := c.Request
	n := &st.nodes[i]
	n.requested.MilliCPU += r.Requests.MilliCPU
	n.requested.MemoryBytes += r.Requests.MemoryBytes
	n.requested.Pods++
	for _, p := range r.HostPorts {
		if p.Port != 0 {
			n.ports = append(n.ports, p)
		}
	}
	if g := c.group; g != nil {
		g.count[i]++
		for _, d := range g.domains {
			if v := d.idx.node[i]; v >= 0 {
				d.count[v]++
			}
		}
	}
}
