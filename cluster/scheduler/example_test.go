package scheduler_test

import (
	"fmt"

	"kedge/cluster/scheduler"
)

func ExampleSchedule() {
	const gib = 1 << 30
	snap := scheduler.Snapshot{
		Nodes: []scheduler.Node{
			{ID: "n1", Name: "edge-1", Ready: true, Labels: map[string]string{"zone": "a"}, Allocatable: scheduler.Resources{MilliCPU: 2000, MemoryBytes: 4 * gib}},
			{ID: "n2", Name: "edge-2", Ready: true, Labels: map[string]string{"zone": "a"}, Allocatable: scheduler.Resources{MilliCPU: 2000, MemoryBytes: 4 * gib}},
			{ID: "n3", Name: "edge-3", Ready: true, Labels: map[string]string{"zone": "b"}, Allocatable: scheduler.Resources{MilliCPU: 2000, MemoryBytes: 4 * gib}},
			{ID: "n4", Name: "edge-4", Ready: false, Labels: map[string]string{"zone": "b"}, Allocatable: scheduler.Resources{MilliCPU: 8000, MemoryBytes: 16 * gib}},
		},
	}
	var reqs []scheduler.Request
	for _, id := range []string{"web-0", "web-1", "web-2"} {
		reqs = append(reqs, scheduler.Request{
			ID: id, Group: "deployment/default/web", SpreadTopologyKey: "zone",
			Requests: scheduler.Resources{MilliCPU: 500, MemoryBytes: 1 * gib},
		})
	}
	reqs = append(reqs, scheduler.Request{ID: "db-0", Requests: scheduler.Resources{MilliCPU: 500, MemoryBytes: 8 * gib}})

	plan := scheduler.Schedule(snap, reqs, scheduler.Options{})
	for _, p := range plan.Placements {
		fmt.Println(p.RequestID, "->", p.NodeID)
	}
	for _, f := range plan.Failures {
		fmt.Println(f.RequestID, f.Summary)
	}
	// Output:
	// web-0 -> n1
	// web-1 -> n3
	// web-2 -> n2
	// db-0 0/4 nodes are available: 3 Insufficient memory, 1 node(s) were not ready.
}
