package scheduler

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// randomCase builds a small random cluster (some nodes down, cordoned,
// tainted, labelled, with a pod limit), allocations that fit, and random
// requests using every feature.
func randomCase(rng *rand.Rand) (Snapshot, []Request) {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var s Snapshot
	nn := 1 + rng.IntN(12)
	perm := rng.Perm(100)
	for i := range nn {
		n := Node{
			ID:          fmt.Sprintf("id-%02d", perm[i]),
			Name:        fmt.Sprintf("node-%02d", perm[i]),
			Labels:      map[string]string{},
			Allocatable: Resources{MilliCPU: int64(rng.IntN(5)) * 1000, MemoryBytes: int64(rng.IntN(5)) * gib, Pods: rng.IntN(6)},
			Ready:       rng.IntN(10) != 0,
			Cordoned:    rng.IntN(10) == 0,
		}
		if rng.IntN(4) != 0 {
			n.Labels["zone"] = pick("a", "b", "c")
		}
		if rng.IntN(2) == 0 {
			n.Labels["disk"] = pick("ssd", "hdd")
		}
		for range rng.IntN(3) {
			n.Taints = append(n.Taints, Taint{Key: pick("dedicated", "spot", "gpu"), Value: pick("", "x", "y"), Effect: pick(EffectNoSchedule, EffectPreferNoSchedule, EffectNoExecute)})
		}
		s.Nodes = append(s.Nodes, n)
	}
	ports := func() []HostPort {
		var ps []HostPort
		for range rng.IntN(3) {
			ps = append(ps, HostPort{Port: pick2(rng, 0, 80, 443), Protocol: pick("", "TCP", "UDP"), IP: pick("", "0.0.0.0", "10.0.0.1", "10.0.0.2")})
		}
		return ps
	}
	// allocations that fit their node
	used := map[string]*Resources{}
	for k := range rng.IntN(20) {
		n := &s.Nodes[rng.IntN(len(s.Nodes))]
		u := used[n.ID]
		if u == nil {
			u = &Resources{}
			used[n.ID] = u
		}
		req := Resources{MilliCPU: int64(rng.IntN(4)) * 250, MemoryBytes: int64(rng.IntN(4)) * gib / 4}
		if u.MilliCPU+req.MilliCPU > n.Allocatable.MilliCPU || u.MemoryBytes+req.MemoryBytes > n.Allocatable.MemoryBytes ||
			(n.Allocatable.Pods > 0 && u.Pods+1 > n.Allocatable.Pods) {
			continue
		}
		u.MilliCPU += req.MilliCPU
		u.MemoryBytes += req.MemoryBytes
		u.Pods++
		s.Allocs = append(s.Allocs, Alloc{ID: fmt.Sprint("old-", k), NodeID: n.ID, Group: pick("g0", "g1", "g2"), Requests: req})
	}
	var reqs []Request
	for k := range rng.IntN(30) {
		r := Request{
			ID:       fmt.Sprint("r-", k),
			Group:    pick("", "g0", "g1", "g2", "g3"),
			Requests: Resources{MilliCPU: int64(rng.IntN(5)) * 250, MemoryBytes: int64(rng.IntN(5)) * gib / 4},
		}
		if rng.IntN(3) == 0 {
			r.SpreadTopologyKey = pick("zone", "disk", "rack")
		}
		if rng.IntN(4) == 0 {
			r.NodeSelector = map[string]string{pick("zone", "disk"): pick("a", "b", "ssd", "hdd")}
		}
		for range rng.IntN(3) {
			r.Tolerations = append(r.Tolerations, Toleration{Key: pick("", "dedicated", "spot", "gpu"), Operator: pick("", OpEqual, OpExists), Value: pick("", "x"), Effect: pick("", EffectNoSchedule, EffectPreferNoSchedule, EffectNoExecute)})
		}
		if rng.IntN(4) == 0 {
			r.HostPorts = ports()
		}
		if rng.IntN(6) == 0 {
			for range 1 + rng.IntN(2) {
				r.AllowedNodes = append(r.AllowedNodes, pick(s.Nodes[rng.IntN(len(s.Nodes))].ID, "unknown"))
			}
		}
		if rng.IntN(6) == 0 {
			r.ExcludedNodes = append(r.ExcludedNodes, s.Nodes[rng.IntN(len(s.Nodes))].ID)
		}
		reqs = append(reqs, r)
	}
	return s, reqs
}

func pick2(rng *rand.Rand, xs ...int) int { return xs[rng.IntN(len(xs))] }

// model is a naive re-implementation of the filters, written from the
// rules rather than from the code, to check plans against.
type model struct {
	used  map[string]Resources
	ports map[string][]HostPort
}

func newModel(s Snapshot) *model {
	m := &model{used: map[string]Resources{}, ports: map[string][]HostPort{}}
	for _, a := range s.Allocs {
		m.add(a.NodeID, a.Requests, a.HostPorts)
	}
	return m
}

func (m *model) add(id string, r Resources, ps []HostPort) {
	u := m.used[id]
	u.MilliCPU += r.MilliCPU
	u.MemoryBytes += r.MemoryBytes
	u.Pods++
	m.used[id] = u
	m.ports[id] = append(m.ports[id], ps...)
}

// why returns why n cannot take r, or "" when it can.
func (m *model) why(n Node, r Request) string {
	if len(r.AllowedNodes) > 0 && !slices.Contains(r.AllowedNodes, n.ID) {
		return "not allowed"
	}
	if slices.Contains(r.ExcludedNodes, n.ID) {
		return "excluded"
	}
	if !n.Ready || n.Cordoned {
		return "unschedulable"
	}
	u := m.used[n.ID]
	if n.Allocatable.Pods > 0 && u.Pods+1 > n.Allocatable.Pods {
		return "pods"
	}
	if r.Requests.MilliCPU > 0 && u.MilliCPU+r.Requests.MilliCPU > n.Allocatable.MilliCPU {
		return "cpu"
	}
	if r.Requests.MemoryBytes > 0 && u.MemoryBytes+r.Requests.MemoryBytes > n.Allocatable.MemoryBytes {
		return "memory"
	}
	for k, v := range r.NodeSelector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return "selector"
		}
	}
	for _, t := range n.Taints {
		if t.Effect == EffectPreferNoSchedule {
			continue
		}
		ok := false
		for _, tol := range r.Tolerations {
			effect := tol.Effect == "" || tol.Effect == t.Effect
			switch {
			case tol.Operator == OpExists && (tol.Key == "" || tol.Key == t.Key) && effect,
				(tol.Operator == "" || tol.Operator == OpEqual) && tol.Key == t.Key && tol.Value == t.Value && effect:
				ok = true
			}
		}
		if !ok {
			return "taint"
		}
	}
	for _, p := range r.HostPorts {
		for _, q := range m.ports[n.ID] {
			if p.Port == 0 || p.Port != q.Port {
				continue
			}
			pp, qp := p.Protocol, q.Protocol
			if pp == "" {
				pp = "TCP"
			}
			if qp == "" {
				qp = "TCP"
			}
			wild := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
			if pp == qp && (p.IP == q.IP || wild(p.IP) || wild(q.IP)) {
				return "port"
			}
		}
	}
	return ""
}

// batchless hides a stage's batch method so the per-node path runs, and
// keeps its Conditional.
type batchlessFilter struct{ Filter }

func (f batchlessFilter) Applies(c *Context) bool {
	cs, ok := f.Filter.(Conditional)
	return !ok || cs.Applies(c)
}

type batchlessScorer struct{ Scorer }

func (s batchlessScorer) Applies(c *Context) bool {
	cs, ok := s.Scorer.(Conditional)
	return !ok || cs.Applies(c)
}

func batchlessDefault() *Stack {
	d := DefaultStack()
	var fs []Filter
	for _, f := range d.Filters() {
		fs = append(fs, batchlessFilter{f})
	}
	var ss []Scorer
	for _, s := range d.Scorers() {
		ss = append(ss, batchlessScorer{s})
	}
	return NewStack(fs, ss)
}

func TestPropertyPlansRespectFilters(t *testing.T) {
	slow := batchlessDefault()
	for seed := range uint64(2000) {
		rng := rand.New(rand.NewPCG(seed, 99))
		s, reqs := randomCase(rng)
		plan := Schedule(s, reqs, Options{})

		byID := map[string]Node{}
		for _, n := range s.Nodes {
			byID[n.ID] = n
		}
		m := newModel(s)
		placed := map[string]Placement{}
		for _, p := range plan.Placements {
			placed[p.RequestID] = p
		}
		failed := map[string]Failure{}
		for _, f := range plan.Failures {
			failed[f.RequestID] = f
		}
		if len(placed)+len(failed) != len(reqs) {
			t.Fatalf("seed %d: %d placed + %d failed for %d requests", seed, len(placed), len(failed), len(reqs))
		}
		for _, r := range reqs {
			if p, ok := placed[r.ID]; ok {
				n, known := byID[p.NodeID]
				if !known {
					t.Fatalf("seed %d: %s placed on unknown node %s", seed, r.ID, p.NodeID)
				}
				if why := m.why(n, r); why != "" {
					t.Fatalf("seed %d: %s placed on %s, which refuses it: %s", seed, r.ID, n.ID, why)
				}
				m.add(n.ID, r.Requests, r.HostPorts)
				continue
			}
			f := failed[r.ID]
			if len(f.Reasons) != len(s.Nodes) {
				t.Fatalf("seed %d: failure of %s has %d reasons for %d nodes", seed, r.ID, len(f.Reasons), len(s.Nodes))
			}
			for _, n := range s.Nodes {
				if m.why(n, r) == "" {
					t.Fatalf("seed %d: %s failed (%s) but %s could take it", seed, r.ID, f.Summary, n.ID)
				}
				if f.Reasons[n.Name] == "" {
					t.Fatalf("seed %d: no reason for %s", seed, n.Name)
				}
			}
		}
		for id, u := range m.used {
			a := byID[id].Allocatable
			if u.MilliCPU > a.MilliCPU || u.MemoryBytes > a.MemoryBytes || (a.Pods > 0 && u.Pods > a.Pods) {
				t.Fatalf("seed %d: node %s holds %+v, allocatable %+v", seed, id, u, a)
			}
		}
		if other := Schedule(s, reqs, Options{Stack: slow}); !reflect.DeepEqual(other, plan) {
			t.Fatalf("seed %d: per-node stages give another plan than batch stages:\n%+v\n%+v", seed, other.Placements, plan.Placements)
		}
	}
}
