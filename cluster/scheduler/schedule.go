package scheduler

import (
	"math"
	"slices"
)

// Options tune one Schedule call.
type Options struct {
	// Stack is the chain of stages; nil means DefaultStack().
	Stack *Stack
}

// Schedule places reqs, in order, on the nodes of s and returns the plan.
//
// Each request is placed on the best node that passes every filter of the
// stack, given s plus the placements made for earlier requests of the same
// call (their resources, ports and group counts), so replicas of one group
// passed together spread. A request no node can take becomes a Failure
// with every node's reason; it consumes nothing.
//
// Schedule is deterministic: the same snapshot and requests give the same
// plan, whatever the order of s.Nodes and s.Allocs. Nodes are visited in ID
// order and ties go to the smallest ID. The order of reqs matters (earlier
// requests choose first): the caller puts them in priority order.
//
// Schedule reads s and reqs and never modifies them.
func Schedule(s Snapshot, reqs []Request, opts Options) Plan {
	stack := opts.Stack
	if stack == nil {
		stack = DefaultStack()
	}
	st := newState(s, reqs)
	plan := Plan{Placements: make([]Placement, 0, len(reqs))}
	for i := range reqs {
		r := &reqs[i]
		c := st.prepare(r)
		if node, score, ok := st.place(stack, c); ok {
			st.commit(c, node)
			plan.Placements = append(plan.Placements, Placement{RequestID: r.ID, NodeID: st.nodes[node].node.ID, Score: score})
			continue
		}
		plan.Failures = append(plan.Failures, st.failure(stack, c))
	}
	return plan
}

// activate selects the stages that apply to c.Request (indices into the
// stack) and returns the sum of the active scorers' weights.
func (st *state) activate(stack *Stack, c *Context) (total float64) {
	st.filters = st.filters[:0]
	for k, f := range stack.filterCond {
		if f == nil || f.Applies(c) {
			st.filters = append(st.filters, k)
		}
	}
	st.scorers = st.scorers[:0]
	for k, s := range stack.scorerCond {
		if w := stack.scorers[k].Weight(); w > 0 && (s == nil || s.Applies(c)) {
			st.scorers = append(st.scorers, k)
			total += w
		}
	}
	return total
}

// candidates returns the node indices the request may consider at all, in
// ID order, and marks its excluded nodes (st.excluded reads the marks).
func (st *state) candidates(r *Request) []int32 {
	st.stamp++
	if st.stamp == 0 { // wrapped: old marks could read as current
		clear(st.mark)
		st.stamp = 1
	}
	for _, id := range r.ExcludedNodes {
		if i, ok := st.byID[id]; ok {
			st.mark[i] = st.stamp
		}
	}
	if len(r.AllowedNodes) == 0 {
		if len(st.allowed) != len(st.nodes) || !st.allowedAll {
			st.allowed = st.allowed[:0]
			for i := range st.nodes {
				st.allowed = append(st.allowed, int32(i))
			}
			st.allowedAll = true
		}
		return st.allowed
	}
	st.allowedAll = false
	st.allowed = st.allowed[:0]
	for _, id := range r.AllowedNodes {
		if i, ok := st.byID[id]; ok {
			st.allowed = append(st.allowed, i)
		}
	}
	slices.Sort(st.allowed)
	st.allowed = slices.Compact(st.allowed)
	return st.allowed
}

func (st *state) excluded(i int32) bool { return st.mark[i] == st.stamp }

// place finds the best node for c.Request; ok is false when none passes.
//
// Each stage runs over the whole candidate list in turn (BatchFilter,
// BatchScorer), so the indirect calls are per request, not per node.
func (st *state) place(stack *Stack, c *Context) (node int32, score float64, ok bool) {
	total := st.activate(stack, c)
	allowed := st.candidates(c.Request)
	excl := len(c.Request.ExcludedNodes) > 0

	cand := st.cand[:0]
	for _, i := range allowed {
		if !excl || !st.excluded(i) {
			cand = append(cand, &st.nodes[i])
		}
	}
	for _, k := range st.filters {
		if len(cand) == 0 {
			break
		}
		if b := stack.filterBatch[k]; b != nil {
			cand = b.FilterNodes(c, cand)
		} else {
			cand = filterEach(stack.filters[k], c, cand)
		}
	}
	st.cand = cand
	if len(cand) == 0 {
		return -1, 0, false
	}
	if len(st.scorers) == 0 {
		return cand[0].index, 0, true // no preference: the smallest ID
	}

	c.setMins(cand)

	sums := slices.Grow(st.sums[:0], len(cand))[:len(cand)]
	clear(sums)
	st.sums = sums
	for _, k := range st.scorers {
		s := stack.scorers[k]
		if b := stack.scorerBatch[k]; b != nil {
			b.ScoreNodes(c, cand, s.Weight(), sums)
		} else {
			scoreEach(s, c, cand, s.Weight(), sums)
		}
	}
	best := 0
	for k := 1; k < len(sums); k++ {
		if sums[k] > sums[best] { // strict: ties keep the smaller ID
			best = k
		}
	}
	return cand[best].index, unit(sums[best] / total), true
}

// setMins records the fewest allocations of the group on a candidate and in
// a candidate's domain, which the spread scorers measure against.
func (c *Context) setMins(cand []*NodeInfo) {
	c.minGroup, c.minDomain = 0, -1
	g := c.group
	if g == nil {
		return
	}
	min := int32(math.MaxInt32)
	for _, n := range cand {
		if v := g.count[n.index]; v < min {
			min = v
		}
	}
	c.minGroup = min
	if c.domains == nil {
		return
	}
	dmin := int32(-1)
	for _, n := range cand {
		if d := c.topo.node[n.index]; d >= 0 {
			if v := c.domains[d]; dmin < 0 || v < dmin {
				dmin = v
			}
		}
	}
	c.minDomain = dmin
}

// filterEach is the per-node fallback for a Filter without FilterNodes.
func filterEach(f Filter, c *Context, cand []*NodeInfo) []*NodeInfo {
	out := cand[:0]
	for _, n := range cand {
		if ok, _ := f.Feasible(c, n); ok {
			out = append(out, n)
		}
	}
	return out
}

// scoreEach is the per-node fallback for a Scorer without ScoreNodes; it
// clamps what the stage returns to [0, 1] (NaN counts as 0).
func scoreEach(s Scorer, c *Context, cand []*NodeInfo, w float64, sums []float64) {
	for k, n := range cand {
		v := s.Score(c, n)
		if !(v >= 0) {
			v = 0
		} else if v > 1 {
			v = 1
		}
		sums[k] += w * v
	}
}
