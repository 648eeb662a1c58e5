package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchCluster is 1,000 nodes in 3 zones, a tenth of them with a gpu label
// and a few tainted, with 5 allocations each already placed; and 10,000
// requests in groups of 10 replicas: half spread by zone, a fifth with a
// node selector, some binding a host port.
func benchCluster(nodes, requests int) (Snapshot, []Request) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s Snapshot
	for i := range nodes {
		n := Node{
			ID:          fmt.Sprintf("node-%04d", i),
			Name:        fmt.Sprintf("n%04d", i),
			Labels:      map[string]string{"zone": fmt.Sprintf("zone-%d", i%3), "arch": "amd64"},
			Allocatable: Resources{MilliCPU: 32000, MemoryBytes: 128 << 30, Pods: 110},
			Ready:       i%97 != 0,
			Cordoned:    i%101 == 0,
		}
		if i%10 == 0 {
			n.Labels["gpu"] = "true"
		}
		switch i % 50 {
		case 1:
			n.Taints = []Taint{{Key: "dedicated", Value: "db", Effect: EffectNoSchedule}}
		case 2:
			n.Taints = []Taint{{Key: "spot", Value: "true", Effect: EffectPreferNoSchedule}}
		}
		s.Nodes = append(s.Nodes, n)
		for k := range 5 {
			s.Allocs = append(s.Allocs, Alloc{
				ID: fmt.Sprintf("old-%d-%d", i, k), NodeID: n.ID, Group: fmt.Sprintf("old/%d", rng.IntN(200)),
				Requests: Resources{MilliCPU: 500, MemoryBytes: 1 << 30},
			})
		}
	}
	reqs := make([]Request, 0, requests)
	for g := 0; len(reqs) < requests; g++ {
		tmpl := Request{
			Group:    fmt.Sprintf("deployment/default/app-%d", g),
			Requests: Resources{MilliCPU: 100 + int64(rng.IntN(10))*100, MemoryBytes: int64(1+rng.IntN(4)) << 28},
		}
		if g%2 == 0 {
			tmpl.SpreadTopologyKey = "zone"
		}
		if g%5 == 0 {
			tmpl.NodeSelector = map[string]string{"arch": "amd64"}
		}
		if g%50 == 0 {
			tmpl.NodeSelector = map[string]string{"gpu": "true"}
		}
		if g%20 == 3 {
			tmpl.HostPorts = []HostPort{{Port: 8000 + g, Protocol: "TCP"}}
		}
		if g%7 == 0 {
			tmpl.Tolerations = []Toleration{{Key: "spot", Operator: OpExists}}
		}
		for k := 0; k < 10 && len(reqs) < requests; k++ {
			r := tmpl
			r.ID = fmt.Sprintf("%s-%d", tmpl.Group, k)
			reqs = append(reqs, r)
		}
	}
	return s, reqs
}

// BenchmarkSchedule1000Nodes is the figure: placements per second at 1,000
// nodes (GOMAXPROCS=1 go test -bench BenchmarkSchedule1000Nodes -benchtime 3x -cpu 1).
func BenchmarkSchedule1000Nodes(b *testing.B) {
	s, reqs := benchCluster(1000, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	placed := 0
	for range b.N {
		plan := Schedule(s, reqs, Options{})
		placed += len(plan.Placements)
		if len(plan.Failures) > 0 {
			b.Fatalf("%d failures, first: %s", len(plan.Failures), plan.Failures[0].Summary)
		}
	}
	b.ReportMetric(float64(placed)/time.Since(start).Seconds(), "placements/s")
}

// TestPlacingDoesNotAllocate: once a call is set up, placing more requests
// of the same groups costs no allocation.
func TestPlacingDoesNotAllocate(t *testing.T) {
	s, reqs := benchCluster(100, 1000)
	for i := range reqs {
		reqs[i].Group = reqs[i].Group[:len("deployment/default/app-")+1] // 10 groups
		reqs[i].HostPorts = nil                                          // ports append to a node
		reqs[i].SpreadTopologyKey = "zone"                               // a group's domain counts are set up once
	}
	few := testing.AllocsPerRun(5, func() { Schedule(s, reqs[:100], Options{}) })
	many := testing.AllocsPerRun(5, func() { Schedule(s, reqs, Options{}) })
	if many > few {
		t.Errorf("%v allocations for 100 requests, %v for 1,000", few, many)
	}
}

// BenchmarkScheduleUnplaceable measures the failure path: 1,000 requests
// that no node of 1,000 can take, each explained node by node.
func BenchmarkScheduleUnplaceable(b *testing.B) {
	s, reqs := benchCluster(1000, 1000)
	for i := range reqs {
		reqs[i].Requests.MemoryBytes = 1 << 40
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	failed := 0
	for range b.N {
		failed += len(Schedule(s, reqs, Options{}).Failures)
	}
	b.ReportMetric(float64(failed)/time.Since(start).Seconds(), "failures/s")
}
