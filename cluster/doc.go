// Package cluster makes an agent a peer of a Kedge cluster: it wires the
// replicated state (cluster/state) under Raft (cluster/consensus), gossip
// membership (cluster/gossip) and the PKI (security/pki) into one Manager,
// and implements the cluster's operations on top of them: init, join, leave,
// tokens, node removal, status and snapshots.
//
// Every agent has a Manager. Until `kedge init` or `kedge join` it is
// standalone (a plain engine); afterwards its membership is persisted under
// DataDir (membership.json, the node's key and certificate, the CA
// certificate and, on voters only, the CA key), so a restarted agent rejoins
// by itself.
//
// Writes go through the Raft leader: on a follower, Apply forwards the
// encoded command to the leader's API over mutual TLS, so every node accepts
// every write. Reads are served from the local state. The leader also turns
// gossip's view of the members into node records (ready, down, left) and
// keeps the voter set at 1, 3 or 5 with autopilot; the CA key travels to a
// node over mutual TLS when it becomes a voter and is wiped when it stops
// being one, so it never enters the Raft log.
//
// Mixed versions (levels.go). Every node gossips the protocol level it
// applies (state.ProtocolLevel); before a command is proposed, the gate
// checks it against the lowest level among the nodes that apply the log,
// falls back to an older encoding when one carries the payload, and else
// refuses the write (409) naming the nodes to upgrade. A joiner too old
// for the cluster's state is refused too.
//
// Expired certificates (rejoin.go). A node whose certificate expired while
// it was offline starts as a local engine (its pods run on from the saved
// desired state) and says so in its log and in kedge status; `kedge join`
// with a fresh token brings it back with its node id, record and pods,
// once it has proved it holds its old key.
package cluster
