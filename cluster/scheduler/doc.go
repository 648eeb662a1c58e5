// Package scheduler places allocations on nodes: a pure function from a
// snapshot of the cluster and a list of requests to a Plan. It reads no
// clock, no network and no global state, and imports no other Kedge
// package: the leader maps its cluster state into a [Snapshot], calls
// [Schedule], and writes the placements through Raft itself.
//
// # Pipeline
//
// For every request, in the order given:
//
//	nodes of the snapshot, in ID order
//	  -> AllowedNodes / ExcludedNodes         the nodes the request may consider at all
//	  -> filters, in stack order              NodeReady, ResourcesFit, NodeSelector, Taints, HostPorts
//	       (a node refused by one is dropped; what is left are the candidates)
//	  -> scorers, weighted sum in [0, 1]      SpreadTopology, PreferNoScheduleTaints, SpreadNodes,
//	                                          LeastAllocated, BalancedAllocation
//	  -> the best candidate (ties: smallest node ID)
//	  -> commit: the node's resources, ports and the group's counts now include the request
//
// No candidate: the request becomes a [Failure] with every node's reason and
// a kubectl-like summary ("0/5 nodes are available: 3 Insufficient memory,
// 2 node(s) didn't match node selector."); it consumes nothing and later
// requests are still placed.
//
// # Words
//
// A group is a workload's replicas (Request.Group, Alloc.Group, e.g.
// "deployment/ns/web"); spreading counts allocations per group. A topology
// domain is the set of nodes sharing one value of the request's
// SpreadTopologyKey label (e.g. zone=a). Candidates are the nodes that
// passed every filter for the request at hand.
//
// # Stages
//
// A [Stack] is a chain of small [Filter] and [Scorer] values; [DefaultStack]
// is Kedge's, and tests build their own with [NewStack]. Stages are pure and
// receive a [Context] (the request, plus what the scheduler worked out for
// it once: its group's counts per node and per domain, the fewest among the
// candidates, the selector resolved to label ids) and a [NodeInfo] (the
// node and everything placed on it so far). Optional capabilities are small
// extra interfaces: [Conditional] (skip a stage that has nothing to do for
// this request), [BatchFilter] and [BatchScorer] (run over the whole
// candidate list in one call).
//
// Spread scores depend on the distance to the fewest among the candidates:
// 1 at the minimum, 1/2 one replica above, 1/3 two above. With the default
// weights each stage outweighs everything below it, so the ranking is in
// effect lexicographic: balance topology domains, then avoid
// PreferNoSchedule taints, then balance nodes, then prefer emptier and
// balanced nodes. Example: 4 replicas over zone a (3 nodes) and zone b (1
// node) go 2 and 2, the two in zone a on different nodes.
//
// # Determinism
//
// The same snapshot and requests give the same plan: nodes are sorted by ID
// first (the order of Snapshot.Nodes and Snapshot.Allocs does not matter),
// Go maps are never iterated where order could leak, floating-point sums are
// taken in stack order, and ties go to the smallest node ID. The order of
// the requests does matter: earlier requests choose first.
//
// # Performance
//
// Every request looks at every node (no sampling, no candidate limit): the
// best node is always found and a request fails only when no node can take
// it. What keeps that fast is doing per request what need not be done per
// node: label keys are interned, so selectors and domains are integer
// compares; group counts are dense per-node arrays built only for the
// groups the requests name; stages that have nothing to do are skipped; and
// each stage runs over the whole candidate list in one call. Once a call
// is set up, placing a request allocates nothing (a failure does: its
// reasons). BenchmarkSchedule1000Nodes (1,000 nodes, 10,000
// requests in groups of 10) measures placements per second on one core.
//
// # Not done here
//
// Preemption, pod affinity and anti-affinity, hard topology constraints
// (maxSkew), volume topology, and resources beyond CPU, memory and the pod
// count. Evicting what runs on a node that gains a NoExecute taint is the
// reconciler's job.
package scheduler
