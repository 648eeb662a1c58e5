package scheduler

import "testing"

// filterCase is one filter check: does node n (with allocs on it) take r?
type filterCase struct {
	name   string
	node   Node
	allocs []Alloc
	req    Request
	ok     bool
	reason string
}

func runFilterCases(t *testing.T, f Filter, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.node.ID, tc.node.Name = "n1", "n1"
			for i := range tc.allocs {
				tc.allocs[i].NodeID = "n1"
			}
			// a second, empty node checks that only n1's allocations count
			other := node("n2", 100000, 1000)
			ok, reason := evalFilter(t, f, Snapshot{Nodes: []Node{tc.node, other}, Allocs: tc.allocs}, tc.req)
			if ok["n1"] != tc.ok || reason["n1"] != tc.reason {
				t.Errorf("got (%v, %q), want (%v, %q)", ok["n1"], reason["n1"], tc.ok, tc.reason)
			}
		})
	}
}

func TestNodeReady(t *testing.T) {
	down := node("", 1000, 1)
	down.Ready = false
	cordoned := node("", 1000, 1)
	cordoned.Cordoned = true
	both := down
	both.Cordoned = true
	runFilterCases(t, NodeReady{}, []filterCase{
		{name: "ready", node: node("", 1000, 1), ok: true},
		{name: "down", node: down, reason: ReasonNotReady},
		{name: "cordoned", node: cordoned, reason: ReasonUnschedulable},
		{name: "down and cordoned", node: both, reason: ReasonNotReady},
	})
}

func TestResourcesFit(t *testing.T) {
	small := node("", 1000, 2)
	pods2 := node("", 1000, 2)
	pods2.Allocatable.Pods = 2
	used := []Alloc{{Requests: Resources{MilliCPU: 600, MemoryBytes: 1 * gib}}}
	two := []Alloc{{}, {}}
	cpu := func(m int64) Request { return Request{Requests: Resources{MilliCPU: m}} }
	mem := func(g int64) Request { return Request{Requests: Resources{MemoryBytes: g * gib}} }
	runFilterCases(t, ResourcesFit{}, []filterCase{
		{name: "empty node fits", node: small, req: Request{Requests: Resources{MilliCPU: 1000, MemoryBytes: 2 * gib}}, ok: true},
		{name: "cpu exactly left", node: small, allocs: used, req: cpu(400), ok: true},
		{name: "cpu short", node: small, allocs: used, req: cpu(401), reason: ReasonCPU},
		{name: "memory exactly left", node: small, allocs: used, req: mem(1), ok: true},
		{name: "memory short", node: small, allocs: used, req: mem(2), reason: ReasonMemory},
		{name: "both short", node: small, allocs: used, req: Request{Requests: Resources{MilliCPU: 500, MemoryBytes: 2 * gib}}, reason: "Insufficient cpu, Insufficient memory"},
		{name: "zero request on a full node", node: small, allocs: []Alloc{{Requests: Resources{MilliCPU: 1000, MemoryBytes: 2 * gib}}}, req: Request{}, ok: true},
		{name: "zero request on an over-committed node", node: small, allocs: []Alloc{{Requests: Resources{MilliCPU: 5000}}}, req: mem(1), ok: true},
		{name: "pod limit reached", node: pods2, allocs: two, req: cpu(1), reason: ReasonTooManyPods},
		{name: "pod limit and cpu", node: pods2, allocs: two, req: cpu(2000), reason: "Too many pods, Insufficient cpu"},
		{name: "pod limit not reached", node: pods2, allocs: two[:1], req: cpu(1), ok: true},
		{name: "pods 0 is unlimited", node: small, allocs: make([]Alloc, 500), req: cpu(1), ok: true},
		{name: "no memory at all", node: node("", 1000, 0), req: mem(1), reason: ReasonMemory},
	})
}

func TestNodeSelector(t *testing.T) {
	n := node("", 1000, 1, "zone", "a", "disk", "ssd")
	sel := func(kv ...string) Request {
		r := Request{NodeSelector: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			r.NodeSelector[kv[i]] = kv[i+1]
		}
		return r
	}
	runFilterCases(t, NodeSelector{}, []filterCase{
		{name: "no selector", node: n, req: Request{}, ok: true},
		{name: "one match", node: n, req: sel("zone", "a"), ok: true},
		{name: "all match", node: n, req: sel("zone", "a", "disk", "ssd"), ok: true},
		{name: "wrong value", node: n, req: sel("zone", "b"), reason: ReasonNodeSelector},
		{name: "value no node has", node: n, req: sel("zone", "nowhere"), reason: ReasonNodeSelector},
		{name: "one of two wrong", node: n, req: sel("zone", "a", "disk", "hdd"), reason: ReasonNodeSelector},
		{name: "missing key", node: n, req: sel("gpu", "true"), reason: ReasonNodeSelector},
		{name: "empty value does not match a missing label", node: n, req: sel("gpu", ""), reason: ReasonNodeSelector},
		{name: "empty value matches an empty label", node: node("", 1, 1, "gpu", ""), req: sel("gpu", ""), ok: true},
	})
}

func TestTaints(t *testing.T) {
	tainted := func(ts ...Taint) Node { n := node("", 1000, 1); n.Taints = ts; return n }
	db := Taint{Key: "dedicated", Value: "db", Effect: EffectNoSchedule}
	exec := Taint{Key: "maintenance", Effect: EffectNoExecute}
	soft := Taint{Key: "spot", Value: "true", Effect: EffectPreferNoSchedule}
	tol := func(ts ...Toleration) Request { return Request{Tolerations: ts} }
	runFilterCases(t, Taints{}, []filterCase{
		{name: "no taints", node: node("", 1, 1), ok: true},
		{name: "NoSchedule untolerated", node: tainted(db), reason: "node(s) had untolerated taint {dedicated: db}"},
		{name: "NoSchedule tolerated Equal", node: tainted(db), req: tol(Toleration{Key: "dedicated", Operator: OpEqual, Value: "db", Effect: EffectNoSchedule}), ok: true},
		{name: "empty operator is Equal", node: tainted(db), req: tol(Toleration{Key: "dedicated", Value: "db"}), ok: true},
		{name: "wrong value", node: tainted(db), req: tol(Toleration{Key: "dedicated", Value: "web"}), reason: "node(s) had untolerated taint {dedicated: db}"},
		{name: "Exists on key", node: tainted(db), req: tol(Toleration{Key: "dedicated", Operator: OpExists}), ok: true},
		{name: "Exists with empty key tolerates all", node: tainted(db, exec), req: tol(Toleration{Operator: OpExists}), ok: true},
		{name: "wrong effect", node: tainted(db), req: tol(Toleration{Key: "dedicated", Operator: OpExists, Effect: EffectNoExecute}), reason: "node(s) had untolerated taint {dedicated: db}"},
		{name: "NoExecute untolerated", node: tainted(exec), reason: "node(s) had untolerated taint {maintenance: }"},
		{name: "NoExecute tolerated", node: tainted(exec), req: tol(Toleration{Key: "maintenance", Operator: OpExists, Effect: EffectNoExecute}), ok: true},
		{name: "one of two tolerated", node: tainted(db, exec), req: tol(Toleration{Key: "dedicated", Operator: OpExists}), reason: "node(s) had untolerated taint {maintenance: }"},
		{name: "PreferNoSchedule does not refuse", node: tainted(soft), ok: true},
		{name: "unknown operator tolerates nothing", node: tainted(db), req: tol(Toleration{Key: "dedicated", Operator: "Like"}), reason: "node(s) had untolerated taint {dedicated: db}"},
	})
}

func TestHostPorts(t *testing.T) {
	bound := func(ps ...HostPort) []Alloc { return []Alloc{{HostPorts: ps}} }
	want := func(ps ...HostPort) Request { return Request{HostPorts: ps} }
	n := node("", 1000, 1)
	runFilterCases(t, HostPorts{}, []filterCase{
		{name: "no ports", node: n, allocs: bound(HostPort{Port: 80}), ok: true},
		{name: "free port", node: n, allocs: bound(HostPort{Port: 80}), req: want(HostPort{Port: 81}), ok: true},
		{name: "same port, both wildcard", node: n, allocs: bound(HostPort{Port: 80}), req: want(HostPort{Port: 80}), reason: ReasonHostPorts},
		{name: "TCP is the default protocol", node: n, allocs: bound(HostPort{Port: 80, Protocol: "TCP"}), req: want(HostPort{Port: 80}), reason: ReasonHostPorts},
		{name: "other protocol", node: n, allocs: bound(HostPort{Port: 53, Protocol: "UDP"}), req: want(HostPort{Port: 53, Protocol: "TCP"}), ok: true},
		{name: "different IPs", node: n, allocs: bound(HostPort{Port: 80, IP: "10.0.0.1"}), req: want(HostPort{Port: 80, IP: "10.0.0.2"}), ok: true},
		{name: "same IP", node: n, allocs: bound(HostPort{Port: 80, IP: "10.0.0.1"}), req: want(HostPort{Port: 80, IP: "10.0.0.1"}), reason: ReasonHostPorts},
		{name: "0.0.0.0 conflicts with an IP", node: n, allocs: bound(HostPort{Port: 80, IP: "10.0.0.1"}), req: want(HostPort{Port: 80, IP: "0.0.0.0"}), reason: ReasonHostPorts},
		{name: "an IP conflicts with 0.0.0.0", node: n, allocs: bound(HostPort{Port: 80, IP: "0.0.0.0"}), req: want(HostPort{Port: 80, IP: "10.0.0.1"}), reason: ReasonHostPorts},
		{name: ":: is a wildcard", node: n, allocs: bound(HostPort{Port: 80, IP: "::"}), req: want(HostPort{Port: 80, IP: "10.0.0.1"}), reason: ReasonHostPorts},
		{name: "port 0 never conflicts", node: n, allocs: bound(HostPort{Port: 0}), req: want(HostPort{Port: 0}), ok: true},
		{name: "second port conflicts", node: n, allocs: bound(HostPort{Port: 443}), req: want(HostPort{Port: 80}, HostPort{Port: 443}), reason: ReasonHostPorts},
	})
}

func TestTolerates(t *testing.T) {
	taint := Taint{Key: "k", Value: "v", Effect: EffectNoSchedule}
	for _, tc := range []struct {
		tol  Toleration
		want bool
	}{
		{Toleration{Key: "k", Value: "v"}, true},
		{Toleration{Key: "k", Operator: OpEqual, Value: "v", Effect: EffectNoSchedule}, true},
		{Toleration{Key: "k", Operator: OpEqual, Value: "w"}, false},
		{Toleration{Key: "k", Operator: OpExists, Value: "ignored"}, true},
		{Toleration{Operator: OpExists}, true},
		{Toleration{Operator: OpExists, Effect: EffectNoExecute}, false},
		{Toleration{Key: "other", Operator: OpExists}, false},
		{Toleration{Value: "v"}, false}, // Equal with an empty key matches only an empty key
	} {
		if got := tc.tol.Tolerates(taint); got != tc.want {
			t.Errorf("%+v tolerates %+v = %v, want %v", tc.tol, taint, got, tc.want)
		}
	}
}
