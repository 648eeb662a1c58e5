package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"kedge/api"
	"kedge/cluster/state"
)

func mustCmd(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func testRecord(id string, taints ...state.Taint) state.Node {
	return state.Node{ID: id, Name: "name-" + id, State: state.NodeReady, Taints: taints,
		Addr: state.Addresses{API: "10.0.0.1:7780", Raft: "10.0.0.1:7781", Gossip: "10.0.0.1:7782"}}
}

// The gate passes what every node applies, falls back to an older encoding
// when one carries the payload, and otherwise refuses with the command, the
// level it needs and the nodes to upgrade.
func TestFitCommand(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// As a newer agent may forward it: v2 though it carries no taints.
	plain := []byte(strings.Replace(string(mustCmd(state.UpsertNode(testRecord("n9"), at))), `{"v":1,`, `{"v":2,`, 1))
	tainted := mustCmd(state.UpsertNode(testRecord("n9", state.Taint{Key: "gpu", Effect: "NoSchedule"}), at))
	token := mustCmd(state.DeleteJoinToken("tok"))
	current := []nodeLevel{{"a1", "alpha", state.ProtocolLevel}, {"b2", "beta", state.ProtocolLevel}}
	mixed := []nodeLevel{{"a1", "alpha", state.ProtocolLevel}, {"c3c3c3c3c3", "gamma", 1}, {"b2", "beta", 0}}

	for name, nodes := range map[string][]nodeLevel{"current": current, "mixed": mixed} {
		if got, err := fitCommand(token, nodes); err != nil || string(got) != string(token) {
			t.Errorf("%s: a level-1 command: %s %v", name, got, err)
		}
	}
	if got, err := fitCommand(tainted, current); err != nil || string(got) != string(tainted) {
		t.Fatalf("all current: %s %v", got, err)
	}
	got, err := fitCommand(plain, mixed)
	if err != nil {
		t.Fatal(err)
	}
	if typ, v, _ := state.PeekCommand(got); typ != state.CmdNodeUpsert || v != 1 {
		t.Fatalf("fallback %s v%d, want node.upsert v1", typ, v)
	}
	_, err = fitCommand(tainted, mixed)
	if !errors.Is(err, api.ErrConflict) || !errors.Is(err, state.ErrNeedsLevel) {
		t.Fatalf("tainted with old nodes: %v, want a conflict", err)
	}
	msg := err.Error()
	for _, want := range []string{"node.upsert v2 needs protocol level 2", "taints", "beta (b2) is at level 1", "gamma (c3c3c3c3) is at level 1", "upgrade beta, gamma first"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "alpha") {
		t.Errorf("message %q names a current node", msg)
	}
	if api.HTTPStatus(err) != 409 {
		t.Errorf("HTTP status %d, want 409", api.HTTPStatus(err))
	}
	// A command newer than this agent (forwarded by a newer node) never
	// reaches the log through it.
	newer := []byte(`{"v":9,"type":"node.upsert","data":{}}`)
	if _, err := fitCommand(newer, current); !errors.Is(err, state.ErrTooNew) || !errors.Is(err, api.ErrConflict) {
		t.Fatalf("node.upsert v9: %v", err)
	}
}

func TestProtocolLevelConfig(t *testing.T) {
	for in, want := range map[int]int{0: state.ProtocolLevel, 1: 1, state.ProtocolLevel: state.ProtocolLevel, 99: state.ProtocolLevel, -3: state.ProtocolLevel} {
		c := Config{ProtocolLevel: in}
		if got := c.protocolLevel(); got != want {
			t.Errorf("ProtocolLevel %d: advertises %d, want %d", in, got, want)
		}
	}
}

// A joiner older than the cluster's state is refused before it is admitted.
func TestCheckJoinerLevel(t *testing.T) {
	f := state.New()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, cmd := range [][]byte{mustCmd(state.UpsertNode(testRecord("a1"), at))} {
		if res := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: cmd}).(*state.Result); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	old, current := &joinRequest{Name: "old"}, &joinRequest{Name: "new", Protocol: state.ProtocolLevel}
	if err := checkJoinerLevel(f.State(), old); err != nil {
		t.Fatalf("an old joiner while nothing needs level 2: %v", err)
	}
	tainted := mustCmd(state.UpsertNode(testRecord("b2", state.Taint{Key: "gpu", Effect: "NoSchedule"}), at))
	if res := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: tainted}).(*state.Result); res.Err != nil {
		t.Fatal(res.Err)
	}
	err := checkJoinerLevel(f.State(), old)
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "node old runs protocol level 1, and this cluster's state needs level 2 (node name-b2 has taints)") {
		t.Fatalf("an old joiner with a tainted node: %v", err)
	}
	if err := checkJoinerLevel(f.State(), current); err != nil {
		t.Fatalf("a current joiner: %v", err)
	}
}
