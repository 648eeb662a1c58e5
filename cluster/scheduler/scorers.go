package scheduler

// The scorers of the default stack. Each returns a score in [0, 1] and
// carries its weight in W.

var (
	_ Scorer      = SpreadNodes{}
	_ Conditional = SpreadNodes{}
	_ BatchScorer = SpreadNodes{}
	_ Scorer      = SpreadTopology{}
	_ Conditional = SpreadTopology{}
	_ BatchScorer = SpreadTopology{}
	_ Scorer      = LeastAllocated{}
	_ BatchScorer = LeastAllocated{}
	_ Scorer      = BalancedAllocation{}
	_ BatchScorer = BalancedAllocation{}
	_ Scorer      = PreferNoScheduleTaints{}
	_ Conditional = PreferNoScheduleTaints{}
	_ BatchScorer = PreferNoScheduleTaints{}
)

// spread scores a count against the smallest among the candidates: 1 at the
// minimum, 1/2 one above, 1/3 two above... It depends on the distance to
// the minimum only, so one replica more weighs the same at 2 replicas per
// node as at 200.
func spread(count, min int32) float64 {
	if count <= min {
		return 1
	}
	return 1 / float64(1+count-min)
}

// SpreadNodes prefers nodes with fewer allocations of the request's group.
type SpreadNodes struct{ W float64 }

// Name implements Scorer.
func (SpreadNodes) Name() string { return "SpreadNodes" }

// Weight implements Scorer.
func (s SpreadNodes) Weight() float64 { return s.W }

// Applies implements Conditional: only for requests with a group.
func (SpreadNodes) Applies(c *Context) bool { return c.group != nil }

// Score implements Scorer: 1/(1 + count on n - fewest on any candidate).
func (SpreadNodes) Score(c *Context, n *NodeInfo) float64 {
	return spread(c.group.count[n.index], c.minGroup)
}

// ScoreNodes implements BatchScorer.
func (SpreadNodes) ScoreNodes(c *Context, cand []*NodeInfo, w float64, sums []float64) {
	count, min := c.group.count, c.minGroup
	for k, n := range cand {
		sums[k] += w * spread(count[n.index], min)
	}
}

// SpreadTopology prefers nodes in the topology domain (the value of the
// request's SpreadTopologyKey label) holding fewest allocations of the
// request's group. Nodes without the label score 0.
type SpreadTopology struct{ W float64 }

// Name implements Scorer.
func (SpreadTopology) Name() string { return "SpreadTopology" }

// Weight implements Scorer.
func (s SpreadTopology) Weight() float64 { return s.W }

// Applies implements Conditional: only for requests with a group and a
// topology key.
func (SpreadTopology) Applies(c *Context) bool { return c.domains != nil }

// Score implements Scorer: 1/(1 + count in n's domain - fewest in any
// candidate's domain).
func (SpreadTopology) Score(c *Context, n *NodeInfo) float64 {
	d := c.topo.node[n.index]
	if d < 0 || c.minDomain < 0 {
		return 0
	}
	return spread(c.domains[d], c.minDomain)
}

// ScoreNodes implements BatchScorer.
func (SpreadTopology) ScoreNodes(c *Context, cand []*NodeInfo, w float64, sums []float64) {
	if c.minDomain < 0 {
		return // no candidate has a domain: all score 0
	}
	dom, counts, min := c.topo.node, c.domains, c.minDomain
	for k, n := range cand {
		if d := dom[n.index]; d >= 0 {
			sums[k] += w * spread(counts[d], min)
		}
	}
}

// LeastAllocated prefers emptier nodes: the mean of the CPU and memory
// fractions left free once the request is placed.
type LeastAllocated struct{ W float64 }

// Name implements Scorer.
func (LeastAllocated) Name() string { return "LeastAllocated" }

// Weight implements Scorer.
func (s LeastAllocated) Weight() float64 { return s.W }

// Score implements Scorer.
func (LeastAllocated) Score(c *Context, n *NodeInfo) float64 {
	return leastAllocated(&c.Request.Requests, n)
}

// ScoreNodes implements BatchScorer.
func (LeastAllocated) ScoreNodes(c *Context, cand []*NodeInfo, w float64, sums []float64) {
	r := &c.Request.Requests
	for k, n := range cand {
		sums[k] += w * leastAllocated(r, n)
	}
}

func leastAllocated(r *Resources, n *NodeInfo) float64 {
	a, u := &n.alloc, &n.requested
	cpu := unit(float64(a.MilliCPU-u.MilliCPU-r.MilliCPU) * n.invCPU)
	mem := unit(float64(a.MemoryBytes-u.MemoryBytes-r.MemoryBytes) * n.invMem)
	return (cpu + mem) / 2
}

// BalancedAllocation prefers nodes whose CPU and memory would be used in
// equal proportions once the request is placed, so that neither runs out
// while the other idles: 1 - |cpu fraction - memory fraction|.
type BalancedAllocation struct{ W float64 }

// Name implements Scorer.
func (BalancedAllocation) Name() string { return "BalancedAllocation" }

// Weight implements Scorer.
func (s BalancedAllocation) Weight() float64 { return s.W }

// Score implements Scorer.
func (BalancedAllocation) Score(c *Context, n *NodeInfo) float64 {
	return balanced(&c.Request.Requests, n)
}

// ScoreNodes implements BatchScorer.
func (BalancedAllocation) ScoreNodes(c *Context, cand []*NodeInfo, w float64, sums []float64) {
	r := &c.Request.Requests
	for k, n := range cand {
		sums[k] += w * balanced(r, n)
	}
}

func balanced(r *Resources, n *NodeInfo) float64 {
	u := &n.requested
	cpu := unit(float64(u.MilliCPU+r.MilliCPU) * n.invCPU)
	mem := unit(float64(u.MemoryBytes+r.MemoryBytes) * n.invMem)
	if cpu > mem {
		return 1 - (cpu - mem)
	}
	return 1 - (mem - cpu)
}

// PreferNoScheduleTaints prefers nodes without a PreferNoSchedule taint
// the request does not tolerate: 1 for those, 0 for the others.
type PreferNoScheduleTaints struct{ W float64 }

// Name implements Scorer.
func (PreferNoScheduleTaints) Name() string { return "PreferNoScheduleTaints" }

// Weight implements Scorer.
func (s PreferNoScheduleTaints) Weight() float64 { return s.W }

// Applies implements Conditional: only when some node has such a taint.
func (PreferNoScheduleTaints) Applies(c *Context) bool { return c.st.anyPrefer }

// Score implements Scorer.
func (PreferNoScheduleTaints) Score(c *Context, n *NodeInfo) float64 {
	return preferScore(c.Request.Tolerations, n)
}

// ScoreNodes implements BatchScorer.
func (PreferNoScheduleTaints) ScoreNodes(c *Context, cand []*NodeInfo, w float64, sums []float64) {
	ts := c.Request.Tolerations
	for k, n := range cand {
		if len(n.prefer) == 0 {
			sums[k] += w
		} else {
			sums[k] += w * preferScore(ts, n)
		}
	}
}

func preferScore(ts []Toleration, n *NodeInfo) float64 {
	for _, t := range n.prefer {
		if !tolerated(ts, t) {
			return 0
		}
	}
	return 1
}

// unit clamps x to [0, 1].
func unit(x float64) float64 {
	if x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}
