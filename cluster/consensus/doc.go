// Package consensus wires hashicorp/raft into Kedge: the Raft node that
// replicates the cluster state machine between the control-plane servers.
//
// # Pipeline
//
//	caller ── Apply(cmd) ──> leader: raft log (bbolt) ──mTLS──> followers' logs
//	                               │ committed by a quorum of voters
//	                               v
//	                     FSM.Apply on every server (the caller's raft.FSM)
//
//	leader only: autopilot ── every Timing.AutopilotUpdate ──> health of every server
//	                       ── every Timing.AutopilotReconcile ──> promoter ──> AddVoter / DemoteVoter
//
// # Words
//
//   - voter: a server whose vote and log count towards the quorum.
//   - non-voter: a server that receives the log but does not vote. Every
//     server joins as a non-voter (AddNonvoter); autopilot promotes it.
//   - target: the number of voters the promoter aims at: the largest odd
//     number not above min(MaxVoters, healthy servers), so 1, 3 or 5. An even
//     voter count exists only while membership changes one server at a time.
//   - stable: healthy for at least Config.StabilizationTime; only stable
//     non-voters are promoted, and a failed voter keeps its seat for that long
//     before a healthy non-voter replaces it.
//
// # On disk (Config.DataDir)
//
//	raft/raft.db        bbolt: the Raft log and stable store (raft-boltdb/v2)
//	raft/snapshots/     file snapshot store, the two newest snapshots are kept
//
// # Files
//
//	node.go       Open, Apply, reads, Shutdown           membership.go  join/leave, Servers
//	config.go     Config and its checks                   timing.go      LAN and slow-link timeouts
//	transport.go  the mutual-TLS raft.StreamLayer         observe.go     leader/voter watch, metrics
//	autopilot.go  autopilot delegate and default health   promoter.go    voter-set policy (pure)
//	snapshot.go   user snapshot save/restore              recover.go     --force-new-cluster
//	hclog.go      hclog.Logger on top of log/slog         errors.go      sentinel errors
//
// Every goroutine started here is owned by a Node and stopped by
// Node.Shutdown; the package holds no mutable package-level state.
package consensus
