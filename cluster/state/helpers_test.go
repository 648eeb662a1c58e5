package state

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// caPEM is a syntactically valid CERTIFICATE block; the FSM checks PEM block
// types, not X.509 contents.
var caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not really DER")}))

var gossipKey = bytes.Repeat([]byte{7}, 32)

func testCluster() Cluster {
	return Cluster{ID: "c1", CreatedAt: t0, CACertPEM: caPEM, GossipKey: gossipKey}
}

func testNode(id string) Node {
	return Node{
		ID: id, Name: "name-" + id,
		Addr:     Addresses{API: "10.0.0.1:7443", Raft: "10.0.0.1:7444", Gossip: "10.0.0.1:7445"},
		Labels:   map[string]string{"zone": "a"},
		Capacity: Resources{CPUMillis: 4000, MemoryBytes: 8 << 30},
		Reserved: Resources{CPUMillis: 100, MemoryBytes: 256 << 20},
		Version:  "0.1.0", Voter: true, State: NodeReady,
	}
}

func testToken(id string, uses int64, expires time.Time) JoinToken {
	return JoinToken{ID: id, SecretHash: "hash-" + id, Role: "node", CreatedAt: t0, ExpiresAt: expires, UsesLeft: uses}
}

// harness applies commands to one FSM at consecutive raft indexes.
type harness struct {
	t   testing.TB
	f   *FSM
	idx uint64
}

func newHarness(t testing.TB) *harness { return &harness{t: t, f: New()} }

// apply applies b (failing the test if building it failed) and returns the result.
func (h *harness) apply(b []byte, err error) *Result {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("encode: %v", err)
	}
	h.idx++
	res, ok := h.f.Apply(&raft.Log{Index: h.idx, Term: 1, Type: raft.LogCommand, Data: b}).(*Result)
	if !ok || res == nil || res.Index != h.idx {
		h.t.Fatalf("Apply returned %#v", res)
	}
	return res
}

// ok applies b and fails the test if the command was refused.
func (h *harness) ok(b []byte, err error) *Result {
	h.t.Helper()
	res := h.apply(b, err)
	if res.Err != nil {
		h.t.Fatalf("command refused: %v", res.Err)
	}
	return res
}

// base builds a cluster with one node, two join tokens and an API token.
func (h *harness) base() *harness {
	h.t.Helper()
	h.ok(InitCluster(testCluster()))
	h.ok(UpsertNode(testNode("n1"), t0))
	h.ok(CreateJoinToken(testToken("tok", 2, t0.Add(time.Hour))))
	h.ok(CreateJoinToken(testToken("forever", Unlimited, time.Time{})))
	h.ok(CreateAPIToken(APIToken{ID: "a1", Name: "admin", SecretHash: "ahash", Role: "admin", CreatedAt: t0}))
	return h
}

// snapshot returns the full snapshot encoding of the current state.
func (h *harness) snapshot() string {
	h.t.Helper()
	return snapshotOf(h.t, h.f.State())
}

// tables returns the snapshot without its header line: every table's rows
// but not the applied index.
func (h *harness) tables() string {
	h.t.Helper()
	s := h.snapshot()
	return s[bytes.IndexByte([]byte(s), '\n')+1:]
}

func snapshotOf(t testing.TB, v *View) string {
	t.Helper()
	var buf bytes.Buffer
	if err := v.WriteSnapshot(&buf); err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	return buf.String()
}

// raw builds an envelope by hand, bypassing Encode's checks.
func raw(t testing.TB, v int, typ string, data any) []byte {
	t.Helper()
	d, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(envelope{V: v, Type: typ, Data: d})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantErr(t testing.TB, res *Result, want error) {
	t.Helper()
	switch {
	case want == nil && res.Err != nil:
		t.Fatalf("unexpected refusal: %v", res.Err)
	case want != nil && !errors.Is(res.Err, want):
		t.Fatalf("error = %v, want %v", res.Err, want)
	}
}

var raftConfigLog = raft.Log{Index: 1, Type: raft.LogConfiguration, Data: []byte("x")}

type raftLog = raft.Log

func newLog(idx uint64, data []byte) *raft.Log {
	return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data}
}

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }
