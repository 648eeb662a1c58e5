// Package gossip is cluster membership and failure detection for Kedge: one
// hashicorp/memberlist instance per agent, encrypted with the cluster's gossip
// key, carrying each node's metadata (Meta) and reporting who joined, changed,
// died or left.
//
// # Pipeline
//
//	peers --UDP/TCP, AES-GCM (keyring)--> memberlist
//	  --Event/Alive delegate (called under memberlist's lock: copy, never block)-->
//	  member table (own mutex) --> Members(), Member(id), NumMembers (any goroutine)
//	                           \--bounded queue--> dispatcher goroutine: log, Config.OnEvent
//
// Words:
//   - Node ID: memberlist's node name. IDs are unique; host names are not (lab
//     hosts share one), so the human name travels in Meta.Name.
//   - Dead: peers stopped hearing from the node (crash, kill -9, power, link).
//   - Left: the node said goodbye (Leave) before going away.
//
// # Failure detection and timings
//
// memberlist runs SWIM with Lifeguard: each node probes one peer per
// ProbeInterval (direct UDP ping; after ProbeTimeout, indirect pings through
// three peers plus a TCP ping, all within the ProbeInterval). A failed probe
// makes the peer Suspect; it then has SuspicionMult*max(1,log10(n))
// probe intervals to refute (gossip a newer incarnation) before it is declared
// Dead, which is gossiped every GossipInterval.
//
// ProfileLAN (the default) is tuned so that a kill -9 is seen as Dead by every
// other node in under 2 s (memberlist's LAN defaults take about 5-6 s):
//
//	ProbeInterval 200ms, ProbeTimeout 100ms, SuspicionMult 2 (no confirmations
//	needed, so SuspicionMaxTimeoutMult 1), GossipInterval 50ms, GossipNodes 3,
//	RetransmitMult 6, PushPullInterval 15s
//	suspicion = 400ms (n<=10), 590ms (n=30), 680ms (n=50)
//	detection = wait for a probe (0-400ms) + 200ms probe + suspicion + gossip
//
// Measured on loopback, every node in one 2-core process (BenchmarkDeadDetection,
// time until the slowest observer marks the victim dead): 3-10 nodes 0.65-0.95 s,
// 30 nodes 0.85-1.25 s, 50 nodes 1.0-1.7 s. ProfileSlow: 5 nodes 6.1 s mean.
//
// The trade-off: a peer is declared Dead when it and the indirect helpers
// miss a 200ms probe window AND it fails to refute within 400-680ms. Fine on
// a LAN or decent Wi-Fi (RTT well under 50ms), but RTT spikes above ~50ms,
// loss bursts of half a second or a CPU starved for that long (an overloaded
// ARM board) produce false Dead verdicts, that is flapping; Lifeguard's local
// health scaling (a node that misses acks itself probes up to 8x slower)
// softens this. RetransmitMult is 6 rather than 4: with 40 nodes joining at
// once, 4 left a node unaware of a peer until the next push/pull in about 1
// of 6 formations. The cost is one ~100-byte ping/ack pair per node per 200ms
// (about 0.4% of a core per node) plus gossip only when there is news.
// ProfileSlow is memberlist's LAN defaults (1s/500ms, SuspicionMult 4): for
// flaky radio links and sites joined over a WAN.
//
// # Dead or Left
//
// memberlist reports both through NotifyLeave and keeps the difference in its
// private nodeState.State: the State field of the *Node it hands out is never
// written (nodeState.State shadows it), so it always reads Alive. Leave
// therefore first re-advertises the node's metadata with a leaving flag
// (UpdateNode), then calls memberlist's Leave; a peer that has the flag
// reports Left, and one whose dead message overtook the flag upgrades Dead to
// Left when the flag arrives (memberlist calls the Alive delegate before it
// discards the stale alive message). A peer that misses the flag reports Dead.
//
// # Suspect
//
// memberlist emits no event for suspicion, and polling cannot see it: Members
// returns pointers into memberlist's table whose Node.State is never set (see
// above) and whose Meta and Addr memberlist rewrites in place under its
// private lock, so even reading them is a data race. Its suspect messages
// never reach a delegate either. What it does give is a log line when a
// probe fails ("Suspect NAME has failed, no acks received"), written just
// before it marks the peer suspect. The log writer passes that name to the
// member table, which marks the member Suspect and broadcasts a user message
// of its own, so that every node (the leader, which records node states,
// included) sees the suspicion, not only the prober. Suspicion ends with
// Dead (NotifyLeave), with a successful probe (Ping delegate), or, when
// the member refuted, after the longest suspicion timeout plus two probe
// intervals without a dead message. With ProfileLAN a killed node is
// Suspect for about 400 ms before it is Dead.
//
// # Metadata wire format
//
// Meta is encoded in at most 512 bytes (memberlist.MetaMaxSize), deterministic
// (labels sorted) so that memberlist's byte comparison does not see spurious
// updates:
//
//	byte    format version (1)
//	string  Name, APIAddr, RaftAddr, Version     (string = uvarint length + bytes)
//	uvarint Capacity.MilliCPU, Capacity.MemoryBytes, Capacity.DiskBytes, Capacity.Pods
//	uvarint label count, then key, value strings sorted by key
//	uvarint flags (1 = leaving, see "Dead or Left")
//	uvarint Protocol: the protocol level the node applies (absent from
//	        older nodes: read as 0, which the cluster counts as level 1)
//
// Meta.ID is not encoded: it is the memberlist node name. Later versions may
// only append fields; decoders ignore trailing bytes, so mixed versions keep
// working during a rolling upgrade.
//
// # Keys
//
// Config.Key (16, 24 or 32 bytes: AES-128/192/256) is the primary key;
// Config.SecondaryKeys are also accepted when receiving. InstallKey, UseKey and
// RemoveKey change the local keyring; a cluster-wide rotation is install on
// every node, then use on every node, then remove the old key on every node,
// driven by the caller (for example through Raft).
package gossip
