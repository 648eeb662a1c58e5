// Package gossip is cluster membership and failure detection for Kedge: one
// hashicorp/memberlist instance per agent, encrypted with the cluster's gossip
// key, carrying each node's metadata (Meta) and reporting who joined, changed,
// died or left.
//
// # Pipeline
//
//	peers --UDP/TCP (AES-GCM, keyring)--> memberlist --EventDelegate (under memberlist's lock)-->
//	  Gossip.members (copy, own mutex) --queue--> dispatcher goroutine --> Config.OnEvent
//	                                     \--> Members(), Member(id)   (reads, any goroutine)
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
// up to three peers plus a TCP ping, all bounded by the ProbeInterval). A failed
// probe makes the peer Suspect; the suspect has SuspicionMult*max(1,log10(n))
// probe intervals to refute (it gossips a newer incarnation), otherwise it is
// declared Dead and that is gossiped every GossipInterval. With k =
// SuspicionMult-2 >= 1 the suspicion timer starts at SuspicionMaxTimeoutMult
// times that minimum and drops to it once k other nodes confirm.
//
// ProfileLAN (the default) is tuned so that a kill -9 is seen as Dead by every
// other node in under 2 s (memberlist's own LAN defaults take about 5 s):
//
//	ProbeInterval 200ms, ProbeTimeout 100ms, SuspicionMult 3 (k=1),
//	SuspicionMaxTimeoutMult 2, GossipInterval 50ms, GossipNodes 3
//	suspicion: 600ms (n<=10) .. 1.02s (n=50), 1.2s .. 2.04s unconfirmed
//	detection ~ wait for a probe (0..2 intervals) + 200ms probe + suspicion + ~1 gossip round
//	          = typically 0.9-1.3s; worst case about 1.9s
//
// The trade-off: a peer is declared Dead if it and its indirect helpers fail to
// answer within 200ms AND it fails to refute within the suspicion time (0.6-1.2s).
// That is fine on a LAN or decent Wi-Fi (RTT well under 50ms), but on links with
// RTT spikes above ~50ms or loss bursts longer than about a second it produces
// false Dead verdicts (flapping). Lifeguard's local health scaling (probe interval
// up to 8x when this node itself misses acks) softens that, not removes it. For
// such links select ProfileSlow (memberlist's LAN defaults: 1s/500ms, SuspicionMult
// 4, detection about 5-6 s). Network cost of ProfileLAN is one small ping/ack
// pair per node per 200ms plus gossip only when there is news.
//
// # Suspect
//
// memberlist emits no event for suspicion. Polling Members() and reading
// Node.State is a data race: memberlist returns pointers into its own node
// table and rewrites State, Meta and Addr in place under its private lock (as
// does LocalNode). The Ping delegate only reports successful probes and the
// Alive delegate only alive messages, so neither can tell suspicion either.
// This package therefore reports only what it can observe race-free, through
// the EventDelegate (which memberlist calls with its lock held, so copying the
// node there is safe): StateSuspect exists for API completeness and is never
// reported by this version; with ProfileLAN a node is suspect for well under a
// second before it is Dead anyway.
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
