package scheduler

import (
	"maps"
	"slices"
	"testing"
)

const gib = 1 << 30

// node returns a ready node with cpu millis and memory GiB.
func node(id string, cpu, memGiB int64, labels ...string) Node {
	n := Node{ID: id, Name: id, Ready: true, Allocatable: Resources{MilliCPU: cpu, MemoryBytes: memGiB * gib}, Labels: map[string]string{}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

// replicas returns n requests of one group.
func replicas(group string, n int, cpu, memGiB int64) []Request {
	out := make([]Request, n)
	for i := range out {
		out[i] = Request{ID: group + "-" + string(rune('a'+i)), Group: group, Requests: Resources{MilliCPU: cpu, MemoryBytes: memGiB * gib}}
	}
	return out
}

// perNode counts placements per node ID.
func perNode(p Plan) map[string]int {
	m := map[string]int{}
	for _, pl := range p.Placements {
		m[pl.NodeID]++
	}
	return m
}

// nodeOf maps request IDs to their node.
func nodeOf(p Plan) map[string]string {
	m := map[string]string{}
	for _, pl := range p.Placements {
		m[pl.RequestID] = pl.NodeID
	}
	return m
}

// evalFilter runs f for r against every node of s, per node and in batch,
// checks both agree, and returns the per-node answers by node ID.
func evalFilter(t *testing.T, f Filter, s Snapshot, r Request) (ok map[string]bool, reason map[string]string) {
	t.Helper()
	st := newState(s, []Request{r})
	c := st.prepare(&r)
	ok, reason = map[string]bool{}, map[string]string{}
	var all []*NodeInfo
	for i := range st.nodes {
		n := &st.nodes[i]
		all = append(all, n)
		if cs, is := f.(Conditional); is && !cs.Applies(c) {
			ok[n.node.ID] = true
			continue
		}
		ok[n.node.ID], reason[n.node.ID] = f.Feasible(c, n)
		if ok[n.node.ID] != (reason[n.node.ID] == "") {
			t.Errorf("%s on %s: ok=%v with reason %q", f.Name(), n.node.ID, ok[n.node.ID], reason[n.node.ID])
		}
	}
	if b, is := f.(BatchFilter); is && (!isConditional(f) || f.(Conditional).Applies(c)) {
		var want []string
		for _, n := range all {
			if ok[n.node.ID] {
				want = append(want, n.node.ID)
			}
		}
		var got []string
		for _, n := range b.FilterNodes(c, slices.Clone(all)) {
			got = append(got, n.node.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: FilterNodes kept %v, Feasible passes %v", f.Name(), got, want)
		}
	}
	return ok, reason
}

func isConditional(x any) bool { _, ok := x.(Conditional); return ok }

// evalScorer scores r on every node of s (all nodes as candidates), per
// node and in batch, checks both agree and the range, and returns the
// scores by node ID; applies is the Conditional's answer.
func evalScorer(t *testing.T, sc Scorer, s Snapshot, r Request) (scores map[string]float64, applies bool) {
	t.Helper()
	st := newState(s, []Request{r})
	c := st.prepare(&r)
	var all []*NodeInfo
	for i := range st.nodes {
		all = append(all, &st.nodes[i])
	}
	c.setMins(all)
	applies = !isConditional(sc) || sc.(Conditional).Applies(c)
	if !applies {
		return nil, false
	}
	scores = map[string]float64{}
	for _, n := range all {
		v := sc.Score(c, n)
		if !(v >= 0 && v <= 1) {
			t.Errorf("%s on %s: score %v outside [0,1]", sc.Name(), n.node.ID, v)
		}
		scores[n.node.ID] = v
	}
	if b, is := sc.(BatchScorer); is {
		sums := make([]float64, len(all))
		b.ScoreNodes(c, all, 2, sums)
		for k, n := range all {
			if sums[k] != 2*scores[n.node.ID] {
				t.Errorf("%s on %s: ScoreNodes %v, Score %v (weight 2)", sc.Name(), n.node.ID, sums[k], scores[n.node.ID])
			}
		}
	}
	return scores, true
}

// keys returns a map's keys, sorted.
func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
