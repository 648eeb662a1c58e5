package scheduler

// The filters of the default stack. Each is a small value type; reasons are
// constants (or precomputed per node) so refusing a node never allocates.

// Reasons given by the filters, in kubectl's words where it has some.
const (
	ReasonNotReady      = "node(s) were not ready"
	ReasonUnschedulable = "node(s) were unschedulable"
	ReasonTooManyPods   = "Too many pods"
	ReasonCPU           = "Insufficient cpu"
	ReasonMemory        = "Insufficient memory"
	ReasonNodeSelector  = "node(s) didn't match node selector"
	ReasonHostPorts     = "node(s) didn't have free ports for the requested pod ports"
	ReasonNotAllowed    = "node(s) weren't among the request's allowed nodes"
	ReasonExcluded      = "node(s) were excluded by the request"
	// Taints refuses with "node(s) had untolerated taint {key: value}".
)

var (
	_ Filter      = NodeReady{}
	_ Conditional = NodeReady{}
	_ BatchFilter = NodeReady{}
	_ Filter      = ResourcesFit{}
	_ BatchFilter = ResourcesFit{}
	_ Filter      = NodeSelector{}
	_ Conditional = NodeSelector{}
	_ BatchFilter = NodeSelector{}
	_ Filter      = Taints{}
	_ Conditional = Taints{}
	_ BatchFilter = Taints{}
	_ Filter      = HostPorts{}
	_ Conditional = HostPorts{}
	_ BatchFilter = HostPorts{}
)

// NodeReady refuses nodes that are not ready (down, suspect, gone) or are
// cordoned.
type NodeReady struct{}

// Name implements Filter.
func (NodeReady) Name() string { return "NodeReady" }

// Applies implements Conditional: only when some node is unschedulable.
func (NodeReady) Applies(c *Context) bool { return c.st.anyUnschedulable }

// Feasible implements Filter.
func (NodeReady) Feasible(c *Context, n *NodeInfo) (bool, string) {
	if !n.node.Ready {
		return false, ReasonNotReady
	}
	if n.node.Cordoned {
		return false, ReasonUnschedulable
	}
	return true, ""
}

// FilterNodes implements BatchFilter.
func (NodeReady) FilterNodes(c *Context, cand []*NodeInfo) []*NodeInfo {
	out := cand[:0]
	for _, n := range cand {
		if n.ready {
			out = append(out, n)
		}
	}
	return out
}

// ResourcesFit refuses nodes whose allocatable CPU, memory or pod count,
// minus what is placed there, cannot hold the request. A request of zero
// CPU (or memory) fits whatever is left, as in Kubernetes.
type ResourcesFit struct{}

// resourceReasons is indexed by a bit set: 1 pods, 2 cpu, 4 memory.
var resourceReasons = [8]string{
	1: ReasonTooManyPods,
	2: ReasonCPU,
	3: ReasonTooManyPods + ", " + ReasonCPU,
	4: ReasonMemory,
	5: ReasonTooManyPods + ", " + ReasonMemory,
	6: ReasonCPU + ", " + ReasonMemory,
	7: ReasonTooManyPods + ", " + ReasonCPU + ", " + ReasonMemory,
}

// Name implements Filter.
func (ResourcesFit) Name() string { return "ResourcesFit" }

// Feasible implements Filter; it names every resource that is short.
func (ResourcesFit) Feasible(c *Context, n *NodeInfo) (bool, string) {
	if short := shortOf(&c.Request.Requests, n); short != 0 {
		return false, resourceReasons[short]
	}
	return true, ""
}

// FilterNodes implements BatchFilter.
func (ResourcesFit) FilterNodes(c *Context, cand []*NodeInfo) []*NodeInfo {
	r := &c.Request.Requests
	out := cand[:0]
	for _, n := range cand {
		if shortOf(r, n) == 0 {
			out = append(out, n)
		}
	}
	return out
}

// shortOf returns the resources n lacks for r as a bit set: 1 pods, 2 cpu,
// 4 memory.
func shortOf(r *Resources, n *NodeInfo) uint8 {
	a, u := &n.alloc, &n.requested
	var short uint8
	if a.Pods > 0 && u.Pods >= a.Pods {
		short |= 1
	}
	if r.MilliCPU > 0 && r.MilliCPU > a.MilliCPU-u.MilliCPU {
		short |= 2
	}
	if r.MemoryBytes > 0 && r.MemoryBytes > a.MemoryBytes-u.MemoryBytes {
		short |= 4
	}
	return short
}

// NodeSelector refuses nodes whose labels do not include every key and
// value of the request's NodeSelector.
type NodeSelector struct{}

// Name implements Filter.
func (NodeSelector) Name() string { return "NodeSelector" }

// Applies implements Conditional: only for requests with a selector.
func (NodeSelector) Applies(c *Context) bool { return len(c.selector) > 0 }

// Feasible implements Filter.
func (NodeSelector) Feasible(c *Context, n *NodeInfo) (bool, string) {
	if !selects(c, n) {
		return false, ReasonNodeSelector
	}
	return true, ""
}

// FilterNodes implements BatchFilter.
func (NodeSelector) FilterNodes(c *Context, cand []*NodeInfo) []*NodeInfo {
	if c.selNever {
		return cand[:0]
	}
	out := cand[:0]
	for _, n := range cand {
		if selects(c, n) {
			out = append(out, n)
		}
	}
	return out
}

func selects(c *Context, n *NodeInfo) bool {
	if c.selNever {
		return false
	}
	for _, t := range c.selector {
		if t.idx.node[n.index] != t.want {
			return false
		}
	}
	return true
}

// Taints refuses nodes with a NoSchedule or NoExecute taint (or one of an
// unknown effect) that the request does not tolerate. PreferNoSchedule
// taints are left to the PreferNoScheduleTaints scorer.
type Taints struct{}

// Name implements Filter.
func (Taints) Name() string { return "Taints" }

// Applies implements Conditional: only when some node has such a taint.
func (Taints) Applies(c *Context) bool { return c.st.anyHard }

// Feasible implements Filter; the reason names the first untolerated taint.
func (Taints) Feasible(c *Context, n *NodeInfo) (bool, string) {
	if k := untolerated(c.Request.Tolerations, n); k >= 0 {
		return false, n.hard[k].reason
	}
	return true, ""
}

// FilterNodes implements BatchFilter.
func (Taints) FilterNodes(c *Context, cand []*NodeInfo) []*NodeInfo {
	ts := c.Request.Tolerations
	out := cand[:0]
	for _, n := range cand {
		if len(n.hard) == 0 || untolerated(ts, n) < 0 {
			out = append(out, n)
		}
	}
	return out
}

// untolerated returns the index of n's first hard taint that ts do not
// tolerate, or -1.
func untolerated(ts []Toleration, n *NodeInfo) int {
	for k := range n.hard {
		if !tolerated(ts, n.hard[k].Taint) {
			return k
		}
	}
	return -1
}

func tolerated(ts []Toleration, taint Taint) bool {
	for _, t := range ts {
		if t.Tolerates(taint) {
			return true
		}
	}
	return false
}

// HostPorts refuses nodes where a host port of the request is already
// bound (same port and protocol, and the same IP or a wildcard on either
// side).
type HostPorts struct{}

// Name implements Filter.
func (HostPorts) Name() string { return "HostPorts" }

// Applies implements Conditional: only for requests that bind a port.
func (HostPorts) Applies(c *Context) bool {
	for _, p := range c.Request.HostPorts {
		if p.Port != 0 {
			return true
		}
	}
	return false
}

// Feasible implements Filter.
func (HostPorts) Feasible(c *Context, n *NodeInfo) (bool, string) {
	if portsClash(c.Request.HostPorts, n.ports) {
		return false, ReasonHostPorts
	}
	return true, ""
}

// FilterNodes implements BatchFilter.
func (HostPorts) FilterNodes(c *Context, cand []*NodeInfo) []*NodeInfo {
	want := c.Request.HostPorts
	out := cand[:0]
	for _, n := range cand {
		if len(n.ports) == 0 || !portsClash(want, n.ports) {
			out = append(out, n)
		}
	}
	return out
}

func portsClash(want, used []HostPort) bool {
	for _, p := range want {
		for _, q := range used {
			if p.Conflicts(q) {
				return true
			}
		}
	}
	return false
}
