package scheduler

import (
	"errors"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestSpreadAcrossNodes(t *testing.T) {
	nodes := []Node{node("a", 4000, 8), node("b", 4000, 8), node("c", 4000, 8)}
	plan := Schedule(Snapshot{Nodes: nodes}, replicas("web", 6, 100, 1), Options{})
	if len(plan.Failures) != 0 {
		t.Fatalf("failures: %+v", plan.Failures)
	}
	if got, want := perNode(plan), map[string]int{"a": 2, "b": 2, "c": 2}; !maps.Equal(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}

	// A much bigger, emptier node does not attract two replicas while
	// another node has none.
	nodes = []Node{node("big", 64000, 256), node("s1", 2000, 4), node("s2", 2000, 4)}
	allocs := []Alloc{{NodeID: "s1", Group: "other", Requests: Resources{MilliCPU: 1000, MemoryBytes: 2 * gib}}}
	plan = Schedule(Snapshot{Nodes: nodes, Allocs: allocs}, replicas("web", 3, 100, 1), Options{})
	if got, want := perNode(plan), map[string]int{"big": 1, "s1": 1, "s2": 1}; !maps.Equal(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	// The first replica goes to the emptiest node.
	if got := plan.Placements[0].NodeID; got != "big" {
		t.Errorf("first replica on %s, want big", got)
	}

	// Existing replicas count: the new one goes where there is none.
	allocs = []Alloc{{NodeID: "a", Group: "web"}, {NodeID: "b", Group: "web"}}
	plan = Schedule(Snapshot{Nodes: []Node{node("a", 4000, 8), node("b", 4000, 8), node("c", 4000, 8)}, Allocs: allocs}, replicas("web", 1, 100, 1), Options{})
	if got := plan.Placements[0].NodeID; got != "c" {
		t.Errorf("placed on %s, want c", got)
	}
}

func TestSpreadAcrossZones(t *testing.T) {
	nodes := []Node{
		node("a1", 4000, 8, "zone", "a"), node("a2", 4000, 8, "zone", "a"), node("a3", 4000, 8, "zone", "a"),
		node("b1", 4000, 8, "zone", "b"),
	}
	zone := map[string]string{}
	for _, n := range nodes {
		zone[n.ID] = n.Labels["zone"]
	}
	reqs := replicas("web", 4, 100, 1)
	for i := range reqs {
		reqs[i].SpreadTopologyKey = "zone"
	}
	plan := Schedule(Snapshot{Nodes: nodes}, reqs, Options{})
	byZone := map[string]int{}
	for _, p := range plan.Placements {
		byZone[zone[p.NodeID]]++
	}
	if want := map[string]int{"a": 2, "b": 2}; !maps.Equal(byZone, want) {
		t.Errorf("by zone %v, want %v (plan %+v)", byZone, want, plan.Placements)
	}
	if pn := perNode(plan); pn["a1"] > 1 || pn["a2"] > 1 || pn["a3"] > 1 {
		t.Errorf("zone a replicas share a node: %v", pn)
	}

	// Without the key the same replicas spread over nodes only: 3 in zone a.
	plan = Schedule(Snapshot{Nodes: nodes}, replicas("web", 4, 100, 1), Options{})
	byZone = map[string]int{}
	for _, p := range plan.Placements {
		byZone[zone[p.NodeID]]++
	}
	if want := map[string]int{"a": 3, "b": 1}; !maps.Equal(byZone, want) {
		t.Errorf("without a key, by zone %v, want %v", byZone, want)
	}

	// 20 replicas: zones stay within one of each other at every step, even
	// with replicas already placed in zone a.
	allocs := []Alloc{{NodeID: "a1", Group: "web"}, {NodeID: "a2", Group: "web"}}
	reqs = replicas("web", 20, 100, 0)
	for i := range reqs {
		reqs[i].SpreadTopologyKey = "zone"
	}
	plan = Schedule(Snapshot{Nodes: nodes, Allocs: allocs}, reqs, Options{})
	counts := map[string]int{"a": 2}
	for k, p := range plan.Placements {
		counts[zone[p.NodeID]]++
		if k >= 2 && abs(counts["a"]-counts["b"]) > 1 {
			t.Fatalf("after %d placements zones are %v", k+1, counts)
		}
	}
	if counts["a"] != 11 || counts["b"] != 11 {
		t.Errorf("zones %v, want 11 and 11", counts)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestCapacityExhaustion(t *testing.T) {
	nodes := []Node{node("a", 1000, 8), node("b", 1000, 8), node("c", 1000, 8)}
	plan := Schedule(Snapshot{Nodes: nodes}, replicas("web", 7, 500, 1), Options{})
	if len(plan.Placements) != 6 || len(plan.Failures) != 1 {
		t.Fatalf("%d placed, %d failed; want 6 and 1", len(plan.Placements), len(plan.Failures))
	}
	f := plan.Failures[0]
	if f.RequestID != "web-g" {
		t.Errorf("failed %s, want the last request web-g", f.RequestID)
	}
	if want := "0/3 nodes are available: 3 Insufficient cpu."; f.Summary != want {
		t.Errorf("summary %q, want %q", f.Summary, want)
	}
	if want := map[string]string{"a": ReasonCPU, "b": ReasonCPU, "c": ReasonCPU}; !maps.Equal(f.Reasons, want) {
		t.Errorf("reasons %v, want %v", f.Reasons, want)
	}

	// kubectl's example: 3 nodes short of memory, 2 without the label.
	nodes = []Node{
		node("n1", 4000, 1, "disk", "ssd"), node("n2", 4000, 1, "disk", "ssd"), node("n3", 4000, 2, "disk", "ssd"),
		node("n4", 4000, 64), node("n5", 4000, 64, "disk", "hdd"),
	}
	allocs := []Alloc{{NodeID: "n3", Requests: Resources{MemoryBytes: 1 * gib}}}
	r := Request{ID: "db-0", Requests: Resources{MilliCPU: 100, MemoryBytes: 2 * gib}, NodeSelector: map[string]string{"disk": "ssd"}}
	plan = Schedule(Snapshot{Nodes: nodes, Allocs: allocs}, []Request{r}, Options{})
	if len(plan.Failures) != 1 {
		t.Fatalf("plan %+v, want one failure", plan)
	}
	f = plan.Failures[0]
	if want := "0/5 nodes are available: 3 Insufficient memory, 2 node(s) didn't match node selector."; f.Summary != want {
		t.Errorf("summary\n %q, want\n %q", f.Summary, want)
	}
	if f.Reasons["n1"] != ReasonMemory || f.Reasons["n4"] != ReasonNodeSelector || len(f.Reasons) != 5 {
		t.Errorf("reasons %v", f.Reasons)
	}

	// A failure consumes nothing: a smaller request after it still fits.
	plan = Schedule(Snapshot{Nodes: nodes[:1]}, []Request{
		{ID: "big", Requests: Resources{MemoryBytes: 2 * gib}},
		{ID: "small", Requests: Resources{MemoryBytes: 1 * gib}},
	}, Options{})
	if len(plan.Placements) != 1 || plan.Placements[0].RequestID != "small" || plan.Failures[0].RequestID != "big" {
		t.Errorf("plan %+v", plan)
	}
}

func TestNodeSelectorPlan(t *testing.T) {
	nodes := []Node{node("cpu1", 8000, 32), node("gpu1", 1000, 4, "gpu", "true"), node("gpu2", 1000, 4, "gpu", "true")}
	reqs := replicas("train", 2, 100, 1)
	for i := range reqs {
		reqs[i].NodeSelector = map[string]string{"gpu": "true"}
	}
	plan := Schedule(Snapshot{Nodes: nodes}, reqs, Options{})
	if got, want := perNode(plan), map[string]int{"gpu1": 1, "gpu2": 1}; !maps.Equal(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
}

func TestTaintsPlan(t *testing.T) {
	db := node("db", 8000, 32)
	db.Taints = []Taint{{Key: "dedicated", Value: "db", Effect: EffectNoSchedule}}
	r := Request{ID: "r", Requests: Resources{MilliCPU: 100}}
	plan := Schedule(Snapshot{Nodes: []Node{db}}, []Request{r}, Options{})
	if len(plan.Failures) != 1 {
		t.Fatalf("untolerated taint: plan %+v, want a failure", plan)
	}
	if want := "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}."; plan.Failures[0].Summary != want {
		t.Errorf("summary %q, want %q", plan.Failures[0].Summary, want)
	}
	r.Tolerations = []Toleration{{Key: "dedicated", Operator: OpEqual, Value: "db", Effect: EffectNoSchedule}}
	plan = Schedule(Snapshot{Nodes: []Node{db}}, []Request{r}, Options{})
	if len(plan.Placements) != 1 || plan.Placements[0].NodeID != "db" {
		t.Errorf("tolerated taint: plan %+v, want placed on db", plan)
	}

	// PreferNoSchedule: avoided while another node fits, used when not.
	spot := node("spot", 64000, 256)
	spot.Taints = []Taint{{Key: "spot", Value: "true", Effect: EffectPreferNoSchedule}}
	small := node("small", 1000, 2)
	plan = Schedule(Snapshot{Nodes: []Node{spot, small}}, replicas("web", 3, 400, 0), Options{})
	if got, want := perNode(plan), map[string]int{"small": 2, "spot": 1}; !maps.Equal(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	if got := nodeOf(plan); got["web-a"] != "small" || got["web-b"] != "small" {
		t.Errorf("first two replicas on %v, want small (spot only when small is full)", got)
	}
}

func TestHostPortConflict(t *testing.T) {
	nodes := []Node{node("a", 4000, 8), node("b", 4000, 8)}
	reqs := make([]Request, 3)
	for i := range reqs {
		reqs[i] = Request{ID: string(rune('x' + i)), HostPorts: []HostPort{{Port: 80}}}
	}
	plan := Schedule(Snapshot{Nodes: nodes}, reqs, Options{})
	if got, want := perNode(plan), map[string]int{"a": 1, "b": 1}; !maps.Equal(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	if len(plan.Failures) != 1 || plan.Failures[0].Summary != "0/2 nodes are available: 2 "+ReasonHostPorts+"." {
		t.Errorf("failures %+v", plan.Failures)
	}

	// A port bound by an existing allocation on a specific IP.
	allocs := []Alloc{{NodeID: "a", HostPorts: []HostPort{{Port: 443, IP: "10.0.0.1"}}}}
	plan = Schedule(Snapshot{Nodes: nodes, Allocs: allocs}, []Request{{ID: "r", HostPorts: []HostPort{{Port: 443, IP: "0.0.0.0"}}}}, Options{})
	if len(plan.Placements) != 1 || plan.Placements[0].NodeID != "b" {
		t.Errorf("plan %+v, want r on b", plan)
	}
}

func TestUnschedulableNodesExcluded(t *testing.T) {
	down := node("down", 64000, 256)
	down.Ready = false
	cordoned := node("cordoned", 64000, 256)
	cordoned.Cordoned = true
	plan := Schedule(Snapshot{Nodes: []Node{down, cordoned, node("ok", 1000, 2)}}, replicas("web", 3, 400, 0), Options{})
	if got, want := perNode(plan), map[string]int{"ok": 2}; !maps.Equal(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}
	want := "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) were not ready, 1 node(s) were unschedulable."
	if len(plan.Failures) != 1 || plan.Failures[0].Summary != want {
		t.Errorf("failures %+v, want summary %q", plan.Failures, want)
	}
}

func TestPinnedRequests(t *testing.T) {
	// A DaemonSet: one request per node, each pinned to its node; the pins
	// win over spreading and over the node being busy.
	nodes := []Node{node("a", 4000, 8), node("b", 4000, 8), node("c", 1000, 1)}
	allocs := []Alloc{{NodeID: "c", Group: "ds/logs", Requests: Resources{MilliCPU: 500}}} // a stale replica
	var reqs []Request
	for _, n := range nodes {
		reqs = append(reqs, Request{ID: "logs-" + n.ID, Group: "ds/logs", Requests: Resources{MilliCPU: 200}, AllowedNodes: []string{n.ID}})
	}
	plan := Schedule(Snapshot{Nodes: nodes, Allocs: allocs}, reqs, Options{})
	if got, want := nodeOf(plan), map[string]string{"logs-a": "a", "logs-b": "b", "logs-c": "c"}; !maps.Equal(got, want) {
		t.Errorf("placed %v, want %v", got, want)
	}

	// Pinned to a node that cannot take it: fails, it does not move.
	r := Request{ID: "logs-c2", Requests: Resources{MilliCPU: 900}, AllowedNodes: []string{"c"}}
	plan = Schedule(Snapshot{Nodes: nodes, Allocs: allocs}, []Request{r}, Options{})
	if len(plan.Failures) != 1 {
		t.Fatalf("plan %+v, want a failure", plan)
	}
	want := "0/3 nodes are available: 2 " + ReasonNotAllowed + ", 1 Insufficient cpu."
	if f := plan.Failures[0]; f.Summary != want || f.Reasons["a"] != ReasonNotAllowed || f.Reasons["c"] != ReasonCPU {
		t.Errorf("failure %+v, want summary %q", f, want)
	}

	// Pinned to unknown nodes only: nothing to choose from.
	plan = Schedule(Snapshot{Nodes: nodes}, []Request{{ID: "x", AllowedNodes: []string{"gone"}}}, Options{})
	if len(plan.Failures) != 1 || !strings.Contains(plan.Failures[0].Summary, "3 "+ReasonNotAllowed) {
		t.Errorf("plan %+v", plan)
	}

	// A rescheduled replica avoids the node it failed on.
	r = Request{ID: "web-0", Group: "web", ExcludedNodes: []string{"a"}}
	plan = Schedule(Snapshot{Nodes: nodes[:2]}, []Request{r}, Options{})
	if len(plan.Placements) != 1 || plan.Placements[0].NodeID != "b" {
		t.Errorf("plan %+v, want web-0 on b", plan)
	}
	r.ExcludedNodes = []string{"a", "b"}
	plan = Schedule(Snapshot{Nodes: nodes[:2]}, []Request{r}, Options{})
	if len(plan.Failures) != 1 || plan.Failures[0].Summary != "0/2 nodes are available: 2 "+ReasonExcluded+"." {
		t.Errorf("plan %+v", plan)
	}
	// Exclusion is per request: the next request may use the node.
	plan = Schedule(Snapshot{Nodes: nodes[:1]}, []Request{{ID: "1", ExcludedNodes: []string{"a"}}, {ID: "2"}}, Options{})
	if len(plan.Placements) != 1 || plan.Placements[0].RequestID != "2" {
		t.Errorf("plan %+v", plan)
	}
}

func TestDeterministic(t *testing.T) {
	s, reqs := benchCluster(60, 400)
	want := Schedule(s, reqs, Options{})
	if len(want.Placements) == 0 {
		t.Fatal("nothing placed")
	}
	if again := Schedule(s, reqs, Options{}); !reflect.DeepEqual(again, want) {
		t.Fatal("two runs on the same input differ")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 5 {
		shuffled := Snapshot{Nodes: slices.Clone(s.Nodes), Allocs: slices.Clone(s.Allocs)}
		rng.Shuffle(len(shuffled.Nodes), func(i, j int) { shuffled.Nodes[i], shuffled.Nodes[j] = shuffled.Nodes[j], shuffled.Nodes[i] })
		rng.Shuffle(len(shuffled.Allocs), func(i, j int) { shuffled.Allocs[i], shuffled.Allocs[j] = shuffled.Allocs[j], shuffled.Allocs[i] })
		if got := Schedule(shuffled, reqs, Options{}); !reflect.DeepEqual(got, want) {
			t.Fatal("the plan depends on the order of nodes or allocs")
		}
	}
	// Equal nodes: the tie goes to the smallest ID whatever the input order.
	plan := Schedule(Snapshot{Nodes: []Node{node("c", 1, 1), node("a", 1, 1), node("b", 1, 1)}}, []Request{{ID: "r"}}, Options{})
	if plan.Placements[0].NodeID != "a" {
		t.Errorf("tie went to %s, want a", plan.Placements[0].NodeID)
	}
}

func TestInputsUnchanged(t *testing.T) {
	s, reqs := benchCluster(30, 200)
	s2 := Snapshot{Nodes: slices.Clone(s.Nodes), Allocs: slices.Clone(s.Allocs)}
	reqs2 := slices.Clone(reqs)
	Schedule(s, reqs, Options{})
	if !reflect.DeepEqual(s, s2) || !reflect.DeepEqual(reqs, reqs2) {
		t.Error("Schedule modified its input")
	}
}

func TestNoNodes(t *testing.T) {
	plan := Schedule(Snapshot{}, []Request{{ID: "r"}}, Options{})
	if len(plan.Failures) != 1 || plan.Failures[0].Summary != "0/0 nodes are available: no nodes in the cluster." {
		t.Errorf("plan %+v", plan)
	}
	if plan := Schedule(Snapshot{}, nil, Options{}); len(plan.Placements)+len(plan.Failures) != 0 {
		t.Errorf("plan %+v for no requests", plan)
	}
}

func TestSummary(t *testing.T) {
	got := summary(10, map[string]int{"b reason": 2, "a reason": 2, "c reason": 6})
	if want := "0/10 nodes are available: 6 c reason, 2 a reason, 2 b reason."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := summary(3, nil); got != "0/3 nodes are available." {
		t.Errorf("got %q", got)
	}
}

func TestExplainNode(t *testing.T) {
	n := node("n1", 1000, 1, "zone", "a")
	n.Taints = []Taint{{Key: "dedicated", Value: "db", Effect: EffectNoSchedule}}
	n.Cordoned = true
	s := Snapshot{Nodes: []Node{n, node("n2", 4000, 8)}}
	r := Request{Requests: Resources{MilliCPU: 2000, MemoryBytes: 2 * gib}, NodeSelector: map[string]string{"zone": "b"}}
	got, err := ExplainNode(s, r, "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ReasonUnschedulable, ReasonCPU, ReasonMemory, ReasonNodeSelector, "node(s) had untolerated taint {dedicated: db}"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got, err := ExplainNode(s, Request{}, "n2"); err != nil || got != nil {
		t.Errorf("n2: %q, %v; want nil, nil", got, err)
	}
	if _, err := ExplainNode(s, r, "n9"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("unknown node: %v, want ErrUnknownNode", err)
	}
	got, _ = ExplainNode(s, Request{AllowedNodes: []string{"n1"}, ExcludedNodes: []string{"n2"}}, "n2")
	if want := []string{ReasonNotAllowed, ReasonExcluded}; !slices.Equal(got, want) {
		t.Errorf("pins: got %q, want %q", got, want)
	}
}

// onlyNamed refuses nodes whose name is not in the set; it has no batch
// method, so the per-node fallback runs.
type onlyNamed map[string]bool

func (onlyNamed) Name() string { return "onlyNamed" }
func (f onlyNamed) Feasible(_ *Context, n *NodeInfo) (bool, string) {
	if f[n.Node().Name] {
		return true, ""
	}
	return false, "node(s) not on the list"
}

// lastID prefers later IDs, and returns out-of-range values the scheduler
// must clamp.
type lastID struct{}

func (lastID) Name() string    { return "lastID" }
func (lastID) Weight() float64 { return 1 }
func (lastID) Score(_ *Context, n *NodeInfo) float64 {
	switch n.Node().ID {
	case "a":
		return -5
	case "b":
		return 0.5
	}
	return 7 // clamped to 1
}

func TestCustomStack(t *testing.T) {
	nodes := []Node{node("a", 1000, 1), node("b", 1000, 1), node("c", 1000, 1), node("d", 1000, 1)}
	stack := NewStack([]Filter{onlyNamed{"a": true, "b": true, "c": true}}, []Scorer{lastID{}})
	plan := Schedule(Snapshot{Nodes: nodes}, []Request{{ID: "r"}}, Options{Stack: stack})
	if len(plan.Placements) != 1 || plan.Placements[0].NodeID != "c" || plan.Placements[0].Score != 1 {
		t.Errorf("plan %+v, want r on c with score 1", plan)
	}
	stack = NewStack([]Filter{onlyNamed{}}, nil)
	plan = Schedule(Snapshot{Nodes: nodes}, []Request{{ID: "r"}}, Options{Stack: stack})
	if len(plan.Failures) != 1 || plan.Failures[0].Summary != "0/4 nodes are available: 4 node(s) not on the list." {
		t.Errorf("plan %+v", plan)
	}
	// No scorers: the first candidate in ID order, score 0.
	plan = Schedule(Snapshot{Nodes: nodes}, []Request{{ID: "r"}}, Options{Stack: NewStack(nil, nil)})
	if plan.Placements[0].NodeID != "a" || plan.Placements[0].Score != 0 {
		t.Errorf("plan %+v", plan)
	}
	if got := DefaultStack().Filters(); len(got) != 5 || got[0].Name() != "NodeReady" {
		t.Errorf("default filters %v", got)
	}
}

func TestScoreRange(t *testing.T) {
	s, reqs := benchCluster(40, 300)
	for _, p := range Schedule(s, reqs, Options{}).Placements {
		if !(p.Score >= 0 && p.Score <= 1) {
			t.Fatalf("placement %+v: score outside [0, 1]", p)
		}
	}
}

func TestNoGroupNoSpread(t *testing.T) {
	// Without a group, requests go by resources alone: to the emptiest node
	// each time.
	nodes := []Node{node("a", 4000, 8), node("b", 1000, 2)}
	reqs := []Request{{ID: "1", Requests: Resources{MilliCPU: 500, MemoryBytes: gib}}, {ID: "2", Requests: Resources{MilliCPU: 500, MemoryBytes: gib}}}
	if got := perNode(Schedule(Snapshot{Nodes: nodes}, reqs, Options{})); got["a"] != 2 {
		t.Errorf("placed %v, want both on a", got)
	}
}

func TestStackSharedByConcurrentCalls(t *testing.T) {
	s, reqs := benchCluster(50, 300)
	stack := DefaultStack()
	want := Schedule(s, reqs, Options{Stack: stack})
	done := make(chan Plan)
	for range 4 {
		go func() { done <- Schedule(s, reqs, Options{Stack: stack}) }()
	}
	for range 4 {
		if got := <-done; !reflect.DeepEqual(got, want) {
			t.Error("concurrent calls on one stack gave another plan")
		}
	}
}
