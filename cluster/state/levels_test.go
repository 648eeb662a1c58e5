package state

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Every command version has a level no newer than ProtocolLevel, levels
// never go down with versions, and the newest level is reached.
func TestProtocolLevels(t *testing.T) {
	top := 0
	for _, typ := range commandTypes() {
		c := commandTable()[typ]
		prev := 0
		for v := 1; v <= c.version; v++ {
			l, ok := LevelOf(typ, v)
			if !ok || l < prev || l < 1 || l > ProtocolLevel {
				t.Errorf("%s v%d: level %d (ok %v), previous %d", typ, v, l, ok, prev)
			}
			prev, top = l, max(top, l)
		}
		if _, ok := LevelOf(typ, c.version+1); ok {
			t.Errorf("%s v%d is unknown, yet has a level", typ, c.version+1)
		}
	}
	if top != ProtocolLevel {
		t.Errorf("the newest level used is %d, ProtocolLevel is %d", top, ProtocolLevel)
	}
	if _, ok := LevelOf("node.reboot", 1); ok {
		t.Error("an unknown type has a level")
	}
	now, old := CommandVersionsAt(ProtocolLevel), CommandVersionsAt(1)
	if len(now) != len(CommandVersions()) || now[CmdNodeUpsert] != 2 || old[CmdNodeUpsert] != 1 || old[CmdAllocPlan] != 1 {
		t.Fatalf("versions now %v, at level 1 %v", now, old)
	}
}

// asVersion re-envelopes an encoded command at version v.
func asVersion(t *testing.T, b []byte, v int) []byte {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	env.V = v
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Encode writes the oldest version that carries the payload: older agents
// apply every node.upsert but those with taints.
func TestEncodeOldestVersion(t *testing.T) {
	n := testNode("n1")
	if _, v, _ := PeekCommand(must(UpsertNode(n, t0))); v != 1 {
		t.Fatalf("node.upsert without taints is v%d, want v1", v)
	}
	n.Taints = []Taint{{Key: "gpu", Effect: "NoSchedule"}}
	if _, v, _ := PeekCommand(must(UpsertNode(n, t0))); v != 2 {
		t.Fatalf("node.upsert with taints is v%d, want v2", v)
	}
}

func TestPeekCommand(t *testing.T) {
	b := asVersion(t, must(UpsertNode(testNode("n1"), t0)), 2)
	if typ, v, ok := PeekCommand(b); !ok || typ != CmdNodeUpsert || v != 2 {
		t.Fatalf("peek = %q v%d %v", typ, v, ok)
	}
	// Field order does not matter; a missing field or a non-envelope is not ok.
	if typ, v, ok := PeekCommand([]byte(`{"data":{"x":[1,{"v":9}]},"type":"a.b","v":3}`)); !ok || typ != "a.b" || v != 3 {
		t.Fatalf("reordered: %q v%d %v", typ, v, ok)
	}
	for _, bad := range []string{``, `[]`, `{"type":"a"}`, `{"v":"1","type":"a"}`, `{"v":1,"type":`} {
		if _, _, ok := PeekCommand([]byte(bad)); ok {
			t.Errorf("%q peeked ok", bad)
		}
	}
}

// Fit keeps what the level applies, falls back to v1 for a node.upsert
// without taints, and refuses one with taints, or a command newer than
// this agent.
func TestFit(t *testing.T) {
	plain := asVersion(t, must(UpsertNode(testNode("n1"), t0)), 2) // as a newer agent may send it
	tainted := testNode("n2")
	tainted.Taints = []Taint{{Key: "gpu", Effect: "NoSchedule"}}
	withTaints := must(UpsertNode(tainted, t0))
	token := must(DeleteJoinToken("t1"))

	for _, level := range []int{1, 2, 7} {
		if got, err := Fit(token, level); err != nil || string(got) != string(token) {
			t.Fatalf("a v1 command at level %d: %s %v", level, got, err)
		}
	}
	if got, err := Fit(withTaints, ProtocolLevel); err != nil || string(got) != string(withTaints) {
		t.Fatalf("at the current level: %s %v", got, err)
	}
	got, err := Fit(plain, 1)
	if err != nil {
		t.Fatal(err)
	}
	if typ, v, _ := PeekCommand(got); typ != CmdNodeUpsert || v != 1 {
		t.Fatalf("fallback is %s v%d, want node.upsert v1", typ, v)
	}
	// The fallback applies on an agent at level 1, the original does not.
	old := &harness{t: t, f: NewAtLevel(1)}
	old.ok(got, nil)
	if res := old.apply(plain, nil); !errors.Is(res.Err, ErrTooNew) || !strings.Contains(res.Err.Error(), "upgrade kedge") {
		t.Fatalf("a level-1 agent applying node.upsert v2: %v", res.Err)
	}
	if n, ok := old.f.State().Node("n1"); !ok || n.Name != "name-n1" {
		t.Fatalf("the fallback did not record the node: %+v", n)
	}

	_, err = Fit(withTaints, 1)
	var le *LevelError
	if !errors.As(err, &le) || !errors.Is(err, ErrNeedsLevel) || le.Type != CmdNodeUpsert || le.Version != 2 || le.Level != 2 ||
		!strings.Contains(err.Error(), "taints") {
		t.Fatalf("node.upsert with taints at level 1: %v", err)
	}
	newer, _ := json.Marshal(envelope{V: 3, Type: CmdNodeUpsert, Data: json.RawMessage(`{}`)})
	if _, err := Fit(newer, ProtocolLevel); !errors.Is(err, ErrTooNew) {
		t.Fatalf("node.upsert v3: %v", err)
	}
	unknown, _ := json.Marshal(envelope{V: 1, Type: "node.reboot", Data: json.RawMessage(`{}`)})
	if _, err := Fit(unknown, ProtocolLevel); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("unknown type: %v", err)
	}
	// Not an envelope: left to the state machine, which refuses it.
	if got, err := Fit([]byte("junk"), 1); err != nil || string(got) != "junk" {
		t.Fatalf("junk: %s %v", got, err)
	}
}

// A v1 node.upsert that carries taints (written before v2 existed) still
// applies on this agent.
func TestNodeUpsertV1WithTaintsStillApplies(t *testing.T) {
	n := testNode("n1")
	n.Taints = []Taint{{Key: "k", Effect: "NoExecute"}}
	b := asVersion(t, must(UpsertNode(n, t0)), 1)
	h := newHarness(t)
	h.ok(b, nil)
	if got, _ := h.f.State().Node("n1"); len(got.Taints) != 1 {
		t.Fatalf("taints = %+v", got.Taints)
	}
}

func TestRequiredLevel(t *testing.T) {
	h := newHarness(t).base()
	if l, why := h.f.State().RequiredLevel(); l != 1 || why != "" {
		t.Fatalf("without taints: %d %q", l, why)
	}
	n := testNode("n2")
	n.Taints = []Taint{{Key: "gpu", Effect: "NoSchedule"}}
	h.ok(UpsertNode(n, t0))
	if l, why := h.f.State().RequiredLevel(); l != 2 || !strings.Contains(why, "name-n2 has taints") {
		t.Fatalf("with a tainted node: %d %q", l, why)
	}
}
