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
package cluster
