// Package state is Kedge's replicated state machine: the FSM that
// hashicorp/raft applies on every node, and the read-only, indexed view of
// the cluster that the rest of the agent reads.
//
// # Rules
//
// Determinism. Apply must produce byte-identical state on every peer, so the
// package is pure: no network, no disk, no clock, no randomness, no
// goroutines on the write path and no iteration over Go maps where order
// could leak into state. Time always comes inside a command (an "at" field
// stamped by the proposer); the FSM never reads the wall clock. Numbers in
// state are fixed-size (int64/uint64) so 32-bit ARM peers decode exactly
// what 64-bit peers decode.
//
// Commands. Every log entry is an envelope
//
//	{"v": 1, "type": "node.upsert", "data": {...}}
//
// built with [Encode] or a typed constructor such as [UpsertNode]. Each
// command type has its own schema version (see [CommandVersions]). A command
// that is malformed, of an unknown type, of a newer version than this agent
// knows, or that fails validation or a precondition is refused: Apply
// returns a [Result] whose Err wraps one of the sentinel errors in errors.go,
// and the state tables are left exactly as they were (only the applied index
// advances, so waiters on that index wake). A command is applied in a single
// memdb write transaction, so readers never see half of it. Apply never
// panics: a bug in a handler is recovered, the transaction aborted, and the
// result carries [ErrInternal].
//
// Versioning. Any change to a payload's fields needs a new command version,
// and a leader must not propose a version that some peer does not support:
// a refusal on an old peer while new peers apply would split the state.
// Versions map to protocol levels (levels.go): every agent gossips the
// [ProtocolLevel] it applies, and the proposer passes every command through
// [Fit] at the lowest level among the nodes that apply the log, which keeps
// it, re-encodes it at an older version, or refuses it (package cluster
// names the nodes to upgrade). Decoding is strict (unknown fields are
// refused) so a payload change without a new version is loud.
//
// Secrets. The CA private key, join-token secrets and API-token secrets never
// enter the log or the state: tokens carry a hash only, the cluster record
// carries the CA certificate PEM only, and any command containing the text
// "PRIVATE KEY" is refused by both [Encode] and Apply.
//
// Who calls what. Only raft calls Apply, ApplyBatch, Snapshot and Restore
// (through the consensus package); everyone else proposes commands with
// [Encode] and the constructors and reads through [FSM.State], which
// returns a consistent, immutable [View] (memdb MVCC). Views are safe for
// concurrent use with each other and with Apply; values they return are
// copies the caller may keep and modify. To wait for changes without
// polling use [View.Changed], [View.TableChanged], [FSM.Watch] or
// [FSM.WaitIndex].
//
// Storage. Rows are stored in go-memdb as pointers and treated as
// immutable: a handler copies a row before changing it. Tables (schema
// version [SchemaVersion]):
//
//	cluster        the single Cluster record, by id
//	nodes          Node by id; non-unique index on name
//	join_tokens    JoinToken by id
//	api_tokens     APIToken by id; unique index on secret_hash
//	revoked_certs  RevokedCert by serial
//	events         Event by seq (a ring of the newest MaxEvents); index on raft index
//	index          internal: raft index of the last change per table, and "applied"
//
// Adding a table: a record type with a clone method (types.go), an entry in
// tableDefs (schema.go; this also puts it in snapshots), payloads and
// handlers in a file of their own, and a line per command in commandTable.
//
// Snapshots are newline-delimited JSON: a header naming the format, schema
// version and applied index, one line per row in table and key order, and a
// trailer with the row count (see snapshot.go). Restore refuses a snapshot
// whose schema is newer than [SchemaVersion] and replaces the state in one
// transaction.
package state
