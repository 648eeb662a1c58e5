package state

import (
	"bytes"
	"encoding/pem"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Command payloads, one per command type, and their typed constructors (the
// proposer side). Every time a handler needs comes from the payload.

// ClusterInit (cluster.init) creates the cluster record. Repeating it with
// the same id, CA and gossip key is a no-op; anything else is ErrExists.
// Its Result.Value is the stored Cluster.
type ClusterInit struct {
	Cluster Cluster `json:"cluster"`
}

// ClusterGossipKey (cluster.gossip_key) replaces the gossip key.
type ClusterGossipKey struct {
	Key []byte    `json:"key"`
	At  time.Time `json:"at"`
}

// NodeUpsert (node.upsert) registers a node or updates what it reports
// about itself (see Node for which fields it owns). Its Result.Value is
// the stored Node.
type NodeUpsert struct {
	Node Node      `json:"node"`
	At   time.Time `json:"at"`
}

// NodeSetState (node.state) changes a node's state.
type NodeSetState struct {
	ID    string    `json:"id"`
	State NodeState `json:"state"`
	At    time.Time `json:"at"`
}

// NodeCordon (node.cordon) marks a node (un)schedulable.
type NodeCordon struct {
	ID       string    `json:"id"`
	Cordoned bool      `json:"cordoned"`
	At       time.Time `json:"at"`
}

// NodeSetCert (node.cert) records the serial of a node's current certificate.
type NodeSetCert struct {
	ID     string `json:"id"`
	Serial string `json:"serial"`
}

// NodeSetVoter (node.voter) records whether a node is a raft voter.
type NodeSetVoter struct {
	ID    string `json:"id"`
	Voter bool   `json:"voter"`
}

// NodeDelete (node.delete) removes a node's record and revokes its last
// certificate.
type NodeDelete struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// JoinTokenCreate (jointoken.create) adds a join token.
type JoinTokenCreate struct {
	Token JoinToken `json:"token"`
}

// JoinTokenConsume (jointoken.consume) atomically checks a join token
// (exists, secret hash matches, not revoked, not expired at At, uses left)
// and uses it once. Its Result.Value is the JoinToken after the use.
type JoinTokenConsume struct {
	ID         string    `json:"id"`
	SecretHash string    `json:"secret_hash"`
	At         time.Time `json:"at"`
}

// JoinTokenRevoke (jointoken.revoke) revokes a join token; revoking twice is a no-op.
type JoinTokenRevoke struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// JoinTokenDelete (jointoken.delete) removes a join token.
type JoinTokenDelete struct {
	ID string `json:"id"`
}

// APITokenCreate (apitoken.create) adds an API bearer token.
type APITokenCreate struct {
	Token APIToken `json:"token"`
}

// APITokenDelete (apitoken.delete) removes an API bearer token.
type APITokenDelete struct {
	ID string `json:"id"`
}

// CertRevoke (cert.revoke) revokes a certificate; revoking twice is a no-op.
type CertRevoke struct {
	Serial string    `json:"serial"`
	NodeID string    `json:"node_id,omitempty"`
	At     time.Time `json:"at"`
}

// EventRecord (event.record) appends an event to the event ring.
type EventRecord struct {
	Kind    string    `json:"kind"`
	Object  string    `json:"object"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// InitCluster encodes a cluster.init command.
func InitCluster(c Cluster) ([]byte, error) { return Encode(CmdClusterInit, ClusterInit{c}) }

// SetGossipKey encodes a cluster.gossip_key command.
func SetGossipKey(key []byte, at time.Time) ([]byte, error) {
	return Encode(CmdClusterGossipKey, ClusterGossipKey{key, at})
}

// UpsertNode encodes a node.upsert command.
func UpsertNode(n Node, at time.Time) ([]byte, error) {
	return Encode(CmdNodeUpsert, NodeUpsert{n, at})
}

// SetNodeState encodes a node.state command.
func SetNodeState(id string, s NodeState, at time.Time) ([]byte, error) {
	return Encode(CmdNodeState, NodeSetState{id, s, at})
}

// CordonNode encodes a node.cordon command.
func CordonNode(id string, cordoned bool, at time.Time) ([]byte, error) {
	return Encode(CmdNodeCordon, NodeCordon{id, cordoned, at})
}

// SetNodeCert encodes a node.cert command.
func SetNodeCert(id, serial string) ([]byte, error) {
	return Encode(CmdNodeCert, NodeSetCert{id, serial})
}

// SetNodeVoter encodes a node.voter command.
func SetNodeVoter(id string, voter bool) ([]byte, error) {
	return Encode(CmdNodeVoter, NodeSetVoter{id, voter})
}

// DeleteNode encodes a node.delete command.
func DeleteNode(id string, at time.Time) ([]byte, error) {
	return Encode(CmdNodeDelete, NodeDelete{id, at})
}

// CreateJoinToken encodes a jointoken.create command.
func CreateJoinToken(t JoinToken) ([]byte, error) {
	return Encode(CmdJoinTokenCreate, JoinTokenCreate{t})
}

// ConsumeJoinToken encodes a jointoken.consume command.
func ConsumeJoinToken(id, secretHash string, at time.Time) ([]byte, error) {
	return Encode(CmdJoinTokenConsume, JoinTokenConsume{id, secretHash, at})
}

// RevokeJoinToken encodes a jointoken.revoke command.
func RevokeJoinToken(id string, at time.Time) ([]byte, error) {
	return Encode(CmdJoinTokenRevoke, JoinTokenRevoke{id, at})
}

// DeleteJoinToken encodes a jointoken.delete command.
func DeleteJoinToken(id string) ([]byte, error) {
	return Encode(CmdJoinTokenDelete, JoinTokenDelete{id})
}

// CreateAPIToken encodes an apitoken.create command.
func CreateAPIToken(t APIToken) ([]byte, error) {
	return Encode(CmdAPITokenCreate, APITokenCreate{t})
}

// DeleteAPIToken encodes an apitoken.delete command.
func DeleteAPIToken(id string) ([]byte, error) {
	return Encode(CmdAPITokenDelete, APITokenDelete{id})
}

// RevokeCert encodes a cert.revoke command.
func RevokeCert(serial, nodeID string, at time.Time) ([]byte, error) {
	return Encode(CmdCertRevoke, CertRevoke{serial, nodeID, at})
}

// RecordEvent encodes an event.record command.
func RecordEvent(kind, object, message string, at time.Time) ([]byte, error) {
	return Encode(CmdEventRecord, EventRecord{kind, object, message, at})
}

// Validation limits. Validation here is a backstop for the leader's own
// (api package); it keeps rows indexable and the state bounded.
const (
	maxIDLen   = 253
	maxTextLen = 4096
	maxLabels  = 64
	maxPEMLen  = 64 << 10
)

func (p *ClusterInit) validate() error {
	c := &p.Cluster
	if err := checkID("cluster id", c.ID); err != nil {
		return err
	}
	if err := checkTime("cluster created_at", c.CreatedAt); err != nil {
		return err
	}
	if err := checkCAPEM(c.CACertPEM); err != nil {
		return err
	}
	return checkGossipKey(c.GossipKey)
}

func (p *ClusterGossipKey) validate() error {
	if err := checkGossipKey(p.Key); err != nil {
		return err
	}
	return checkTime("at", p.At)
}

func (p *NodeUpsert) validate() error {
	n := &p.Node
	if err := checkID("node id", n.ID); err != nil {
		return err
	}
	if err := checkID("node name", n.Name); err != nil {
		return err
	}
	if !n.State.Valid() {
		return errorf(ErrInvalid, "node %q: unknown state %q", n.ID, n.State)
	}
	if n.Capacity.CPUMillis < 0 || n.Capacity.MemoryBytes < 0 || n.Reserved.CPUMillis < 0 || n.Reserved.MemoryBytes < 0 {
		return errorf(ErrInvalid, "node %q: negative capacity or reserve", n.ID)
	}
	if len(n.Labels) > maxLabels {
		return errorf(ErrInvalid, "node %q: %d labels, at most %d", n.ID, len(n.Labels), maxLabels)
	}
	for k, v := range n.Labels {
		if checkID("label key", k) != nil || checkText("label value", v) != nil {
			return errorf(ErrInvalid, "node %q: bad label %.64q", n.ID, k)
		}
	}
	for _, s := range []string{n.Addr.API, n.Addr.Raft, n.Addr.Gossip, n.Version, n.CertSerial} {
		if err := checkText("node field", s); err != nil {
			return err
		}
	}
	return checkTime("at", p.At)
}

func (p *NodeSetState) validate() error {
	if !p.State.Valid() {
		return errorf(ErrInvalid, "node %q: unknown state %q", p.ID, p.State)
	}
	return firstErr(checkID("node id", p.ID), checkTime("at", p.At))
}

func (p *NodeCordon) validate() error {
	return firstErr(checkID("node id", p.ID), checkTime("at", p.At))
}

func (p *NodeSetCert) validate() error {
	return firstErr(checkID("node id", p.ID), checkID("serial", p.Serial))
}

func (p *NodeSetVoter) validate() error { return checkID("node id", p.ID) }

func (p *NodeDelete) validate() error {
	return firstErr(checkID("node id", p.ID), checkTime("at", p.At))
}

func (p *JoinTokenCreate) validate() error {
	t := &p.Token
	if t.UsesLeft < Unlimited || t.UsesLeft == 0 {
		return errorf(ErrInvalid, "join token %q: uses_left must be -1 (unlimited) or > 0, not %d", t.ID, t.UsesLeft)
	}
	if t.Revoked {
		return errorf(ErrInvalid, "join token %q: cannot be created revoked", t.ID)
	}
	return firstErr(checkID("join token id", t.ID), checkID("secret hash", t.SecretHash),
		checkID("role", t.Role), checkText("description", t.Description), checkTime("created_at", t.CreatedAt))
}

func (p *JoinTokenConsume) validate() error {
	return firstErr(checkID("join token id", p.ID), checkID("secret hash", p.SecretHash), checkTime("at", p.At))
}

func (p *JoinTokenRevoke) validate() error {
	return firstErr(checkID("join token id", p.ID), checkTime("at", p.At))
}

func (p *JoinTokenDelete) validate() error { return checkID("join token id", p.ID) }

func (p *APITokenCreate) validate() error {
	t := &p.Token
	return firstErr(checkID("api token id", t.ID), checkID("api token name", t.Name),
		checkID("secret hash", t.SecretHash), checkID("role", t.Role), checkTime("created_at", t.CreatedAt))
}

func (p *APITokenDelete) validate() error { return checkID("api token id", p.ID) }

func (p *CertRevoke) validate() error {
	return firstErr(checkID("serial", p.Serial), checkText("node id", p.NodeID), checkTime("at", p.At))
}

func (p *EventRecord) validate() error {
	return firstErr(checkID("event kind", p.Kind), checkText("event object", p.Object),
		checkText("event message", p.Message), checkTime("at", p.At))
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkID accepts a non-empty, bounded, printable string without spaces
// at its ends: ids, names, serials, hashes, roles.
func checkID(what, s string) error {
	if s == "" {
		return errorf(ErrInvalid, "%s is empty", what)
	}
	if len(s) > maxIDLen {
		return errorf(ErrInvalid, "%s is %d bytes long, at most %d", what, len(s), maxIDLen)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) || strings.TrimSpace(s) != s {
		return errorf(ErrInvalid, "%s %.64q has control characters or surrounding spaces", what, s)
	}
	return nil
}

// checkText accepts a possibly empty, bounded, valid UTF-8 string.
func checkText(what, s string) error {
	if len(s) > maxTextLen {
		return errorf(ErrInvalid, "%s is %d bytes long, at most %d", what, len(s), maxTextLen)
	}
	if !utf8.ValidString(s) {
		return errorf(ErrInvalid, "%s is not valid UTF-8", what)
	}
	return nil
}

func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return errorf(ErrInvalid, "%s is missing (commands carry their own time)", what)
	}
	return nil
}

func checkGossipKey(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	}
	return errorf(ErrInvalid, "gossip key is %d bytes, want 16, 24 or 32", len(k))
}

// checkCAPEM accepts one or more CERTIFICATE blocks and nothing else: a
// private key in the CA PEM is the mistake this package exists to refuse.
func checkCAPEM(s string) error {
	if len(s) > maxPEMLen {
		return errorf(ErrInvalid, "CA PEM is %d bytes, at most %d", len(s), maxPEMLen)
	}
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return errorf(ErrSecret, "CA PEM holds a %q block: only CERTIFICATE blocks may enter the cluster state", b.Type)
		}
		n++
	}
	if n == 0 || len(bytes.TrimSpace(rest)) != 0 {
		return errorf(ErrInvalid, "CA PEM must be CERTIFICATE blocks only")
	}
	return nil
}
