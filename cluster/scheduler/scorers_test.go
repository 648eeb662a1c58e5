package scheduler

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func checkScores(t *testing.T, sc Scorer, s Snapshot, r Request, want map[string]float64) {
	t.Helper()
	got, applies := evalScorer(t, sc, s, r)
	if want == nil {
		if applies {
			t.Errorf("%s applies, want it skipped (scores %v)", sc.Name(), got)
		}
		return
	}
	if !applies {
		t.Fatalf("%s does not apply", sc.Name())
	}
	for id, w := range want {
		if !near(got[id], w) {
			t.Errorf("%s on %s = %v, want %v (all: %v)", sc.Name(), id, got[id], w, got)
		}
	}
}

func TestSpreadNodes(t *testing.T) {
	nodes := []Node{node("a", 1000, 1), node("b", 1000, 1), node("c", 1000, 1)}
	allocs := func(group string, on ...string) []Alloc {
		var out []Alloc
		for _, n := range on {
			out = append(out, Alloc{NodeID: n, Group: group})
		}
		return out
	}
	web := Request{Group: "web"}
	for _, tc := range []struct {
		name   string
		allocs []Alloc
		req    Request
		want   map[string]float64
	}{
		{"no group: skipped", allocs("web", "a"), Request{}, nil},
		{"nothing placed", nil, web, map[string]float64{"a": 1, "b": 1, "c": 1}},
		{"one placed", allocs("web", "a"), web, map[string]float64{"a": 0.5, "b": 1, "c": 1}},
		{"relative to the fewest", allocs("web", "a", "a", "a", "b", "b", "c", "c"), web, map[string]float64{"a": 0.5, "b": 1, "c": 1}},
		{"two above", allocs("web", "a", "a", "a", "b"), web, map[string]float64{"a": 1.0 / 4, "b": 0.5, "c": 1}},
		{"other groups do not count", allocs("db", "a", "a"), web, map[string]float64{"a": 1, "b": 1, "c": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkScores(t, SpreadNodes{W: 1}, Snapshot{Nodes: nodes, Allocs: tc.allocs}, tc.req, tc.want)
		})
	}
}

func TestSpreadTopology(t *testing.T) {
	nodes := []Node{
		node("a1", 1000, 1, "zone", "a"), node("a2", 1000, 1, "zone", "a"),
		node("b1", 1000, 1, "zone", "b"), node("x", 1000, 1),
	}
	web := Request{Group: "web", SpreadTopologyKey: "zone"}
	on := func(ids ...string) []Alloc {
		var out []Alloc
		for _, id := range ids {
			out = append(out, Alloc{NodeID: id, Group: "web"})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		allocs []Alloc
		req    Request
		want   map[string]float64
	}{
		{"no key: skipped", on("a1"), Request{Group: "web"}, nil},
		{"no group: skipped", on("a1"), Request{SpreadTopologyKey: "zone"}, nil},
		{"nothing placed", nil, web, map[string]float64{"a1": 1, "a2": 1, "b1": 1, "x": 0}},
		{"counts the whole domain", on("a1"), web, map[string]float64{"a1": 0.5, "a2": 0.5, "b1": 1, "x": 0}},
		{"balanced", on("a1", "b1"), web, map[string]float64{"a1": 1, "a2": 1, "b1": 1, "x": 0}},
		{"unlabelled nodes do not count", on("x", "x", "a2"), web, map[string]float64{"a1": 0.5, "a2": 0.5, "b1": 1, "x": 0}},
		{"key no node has", on("a1"), Request{Group: "web", SpreadTopologyKey: "rack"}, map[string]float64{"a1": 0, "a2": 0, "b1": 0, "x": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkScores(t, SpreadTopology{W: 1}, Snapshot{Nodes: nodes, Allocs: tc.allocs}, tc.req, tc.want)
		})
	}
}

func TestLeastAllocated(t *testing.T) {
	nodes := []Node{node("empty", 1000, 4), node("half", 1000, 4), node("full", 1000, 4), node("nothing", 0, 0)}
	allocs := []Alloc{
		{NodeID: "half", Requests: Resources{MilliCPU: 500, MemoryBytes: 2 * gib}},
		{NodeID: "full", Requests: Resources{MilliCPU: 1000, MemoryBytes: 4 * gib}},
	}
	checkScores(t, LeastAllocated{W: 1}, Snapshot{Nodes: nodes, Allocs: allocs}, Request{}, map[string]float64{
		"empty": 1, "half": 0.5, "full": 0, "nothing": 0,
	})
	// the request itself counts: 250m of 1000 and 1 of 4 GiB leave 3/4
	checkScores(t, LeastAllocated{W: 1}, Snapshot{Nodes: nodes, Allocs: allocs}, Request{Requests: Resources{MilliCPU: 250, MemoryBytes: 1 * gib}}, map[string]float64{
		"empty": 0.75, "half": 0.25, "full": 0,
	})
}

func TestBalancedAllocation(t *testing.T) {
	nodes := []Node{node("even", 1000, 4), node("cpu-heavy", 1000, 4), node("empty", 1000, 4)}
	allocs := []Alloc{
		{NodeID: "even", Requests: Resources{MilliCPU: 500, MemoryBytes: 2 * gib}},
		{NodeID: "cpu-heavy", Requests: Resources{MilliCPU: 750}},
	}
	checkScores(t, BalancedAllocation{W: 1}, Snapshot{Nodes: nodes, Allocs: allocs}, Request{}, map[string]float64{
		"even": 1, "cpu-heavy": 0.25, "empty": 1,
	})
	// a memory-heavy request evens out the cpu-heavy node
	checkScores(t, BalancedAllocation{W: 1}, Snapshot{Nodes: nodes, Allocs: allocs}, Request{Requests: Resources{MemoryBytes: 3 * gib}}, map[string]float64{
		"even": 0.5 /* memory clamps at full */, "cpu-heavy": 1, "empty": 0.25,
	})
}

func TestPreferNoScheduleTaints(t *testing.T) {
	soft := node("soft", 1000, 1)
	soft.Taints = []Taint{{Key: "spot", Value: "true", Effect: EffectPreferNoSchedule}}
	hard := node("hard", 1000, 1)
	hard.Taints = []Taint{{Key: "dedicated", Value: "db", Effect: EffectNoSchedule}}
	plain := node("plain", 1000, 1)

	checkScores(t, PreferNoScheduleTaints{W: 1}, Snapshot{Nodes: []Node{plain, hard}}, Request{}, nil)
	all := Snapshot{Nodes: []Node{plain, hard, soft}}
	checkScores(t, PreferNoScheduleTaints{W: 1}, all, Request{}, map[string]float64{"plain": 1, "hard": 1, "soft": 0})
	tol := Request{Tolerations: []Toleration{{Key: "spot", Operator: OpExists}}}
	checkScores(t, PreferNoScheduleTaints{W: 1}, all, tol, map[string]float64{"plain": 1, "hard": 1, "soft": 1})
	wrongEffect := Request{Tolerations: []Toleration{{Key: "spot", Operator: OpExists, Effect: EffectNoSchedule}}}
	checkScores(t, PreferNoScheduleTaints{W: 1}, all, wrongEffect, map[string]float64{"soft": 0})
}
