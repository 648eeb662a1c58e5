package state

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCommands(t *testing.T) {
	hour := t0.Add(time.Hour)
	type check func(t *testing.T, v *View)
	cases := []struct {
		name  string
		setup [][]byte // applied after base(), must succeed
		cmd   func(t *testing.T) []byte
		want  error
		check check
	}{
		// cluster
		{name: "cluster.init repeated is a no-op", cmd: enc(InitCluster(testCluster()))},
		{name: "cluster.init of another cluster", want: ErrExists,
			cmd: enc(InitCluster(Cluster{ID: "c2", CreatedAt: t0, CACertPEM: caPEM, GossipKey: gossipKey}))},
		{name: "cluster.init with a private key in the CA PEM", want: ErrSecret,
			cmd: func(t *testing.T) []byte {
				c := testCluster()
				c.CACertPEM += "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"
				return raw(t, 1, CmdClusterInit, ClusterInit{c})
			}},
		{name: "cluster.init with a non-certificate block", want: ErrSecret,
			cmd: func(t *testing.T) []byte {
				c := testCluster()
				c.ID = "c2"
				c.CACertPEM += "-----BEGIN OPAQUE-----\nAAAA\n-----END OPAQUE-----\n"
				return raw(t, 1, CmdClusterInit, ClusterInit{c})
			}},
		{name: "cluster.init with a short gossip key", want: ErrInvalid,
			cmd: enc(InitCluster(Cluster{ID: "c1", CreatedAt: t0, CACertPEM: caPEM, GossipKey: []byte("short")}))},
		{name: "cluster.gossip_key", cmd: enc(SetGossipKey(make([]byte, 16), hour)),
			check: func(t *testing.T, v *View) {
				c, _ := v.Cluster()
				if len(c.GossipKey) != 16 || c.SchemaVersion != SchemaVersion || c.ID != "c1" {
					t.Fatalf("cluster = %+v", c)
				}
			}},
		// nodes
		{name: "node.upsert new", cmd: enc(UpsertNode(testNode("n2"), hour)),
			check: func(t *testing.T, v *View) {
				n, ok := v.Node("n2")
				if !ok || !n.JoinedAt.Equal(hour) || !n.StateSince.Equal(hour) || n.Labels["zone"] != "a" {
					t.Fatalf("node = %+v", n)
				}
				wantEvent(t, v, EventNodeJoined, "node/n2")
			}},
		{name: "node.upsert update keeps joined, cordon and serial",
			setup: [][]byte{must(CordonNode("n1", true, t0)), must(SetNodeCert("n1", "s1"))},
			cmd: func(t *testing.T) []byte {
				n := testNode("n1")
				n.Version, n.State, n.JoinedAt = "0.2.0", NodeSuspect, hour.Add(time.Hour)
				return must(UpsertNode(n, hour))
			},
			check: func(t *testing.T, v *View) {
				n, _ := v.Node("n1")
				if n.Version != "0.2.0" || !n.JoinedAt.Equal(t0) || !n.Cordoned || n.CertSerial != "s1" ||
					n.State != NodeSuspect || !n.StateSince.Equal(hour) {
					t.Fatalf("node = %+v", n)
				}
				wantEvent(t, v, EventNodeState, "node/n1")
			}},
		{name: "node.upsert unknown state", want: ErrInvalid,
			cmd: func(t *testing.T) []byte { n := testNode("n2"); n.State = "sleepy"; return must(UpsertNode(n, t0)) }},
		{name: "node.upsert empty id", want: ErrInvalid,
			cmd: func(t *testing.T) []byte { n := testNode(""); return must(UpsertNode(n, t0)) }},
		{name: "node.upsert negative capacity", want: ErrInvalid,
			cmd: func(t *testing.T) []byte {
				n := testNode("n2")
				n.Capacity.CPUMillis = -1
				return must(UpsertNode(n, t0))
			}},
		{name: "node.upsert without time", want: ErrInvalid, cmd: enc(UpsertNode(testNode("n2"), time.Time{}))},
		{name: "node.state", cmd: enc(SetNodeState("n1", NodeDown, hour)),
			check: func(t *testing.T, v *View) {
				if n, _ := v.Node("n1"); n.State != NodeDown || !n.StateSince.Equal(hour) {
					t.Fatalf("node = %+v", n)
				}
				wantEvent(t, v, EventNodeState, "node/n1")
			}},
		{name: "node.state left", cmd: enc(SetNodeState("n1", NodeLeft, hour)),
			check: func(t *testing.T, v *View) { wantEvent(t, v, EventNodeLeft, "node/n1") }},
		{name: "node.state unknown node", want: ErrNotFound, cmd: enc(SetNodeState("nx", NodeDown, hour))},
		{name: "node.state bad state", want: ErrInvalid, cmd: enc(SetNodeState("n1", "gone", hour))},
		{name: "node.cordon", cmd: enc(CordonNode("n1", true, hour)),
			check: func(t *testing.T, v *View) {
				if n, _ := v.Node("n1"); !n.Cordoned {
					t.Fatal("not cordoned")
				}
				wantEvent(t, v, EventNodeCordoned, "node/n1")
			}},
		{name: "node.cordon unknown node", want: ErrNotFound, cmd: enc(CordonNode("nx", true, hour))},
		{name: "node.voter", cmd: enc(SetNodeVoter("n1", false)),
			check: func(t *testing.T, v *View) {
				if n, _ := v.Node("n1"); n.Voter {
					t.Fatal("still a voter")
				}
			}},
		{name: "node.cert empty serial", want: ErrInvalid, cmd: enc(SetNodeCert("n1", ""))},
		{name: "node.delete revokes its certificate", setup: [][]byte{must(SetNodeCert("n1", "s1"))},
			cmd: enc(DeleteNode("n1", hour)),
			check: func(t *testing.T, v *View) {
				if _, ok := v.Node("n1"); ok || !v.Revoked("s1") || len(v.NodesByName("name-n1")) != 0 {
					t.Fatal("node not deleted or cert not revoked")
				}
				wantEvent(t, v, EventNodeRemoved, "node/n1")
			}},
		{name: "node.delete unknown", want: ErrNotFound, cmd: enc(DeleteNode("nx", hour))},
		// join tokens
		{name: "jointoken.consume", cmd: enc(ConsumeJoinToken("tok", "hash-tok", t0.Add(time.Minute))),
			check: func(t *testing.T, v *View) {
				if tk, _ := v.Token("tok"); tk.UsesLeft != 1 {
					t.Fatalf("uses left %d", tk.UsesLeft)
				}
			}},
		{name: "jointoken.consume unlimited", cmd: enc(ConsumeJoinToken("forever", "hash-forever", hour.Add(1e6*time.Hour))),
			check: func(t *testing.T, v *View) {
				if tk, _ := v.Token("forever"); tk.UsesLeft != Unlimited {
					t.Fatalf("uses left %d", tk.UsesLeft)
				}
			}},
		{name: "jointoken.consume used up", want: ErrTokenUsedUp,
			setup: [][]byte{must(ConsumeJoinToken("tok", "hash-tok", t0)), must(ConsumeJoinToken("tok", "hash-tok", t0))},
			cmd:   enc(ConsumeJoinToken("tok", "hash-tok", t0))},
		{name: "jointoken.consume expired", want: ErrTokenExpired, cmd: enc(ConsumeJoinToken("tok", "hash-tok", hour))},
		{name: "jointoken.consume revoked", want: ErrTokenRevoked, setup: [][]byte{must(RevokeJoinToken("tok", t0))},
			cmd: enc(ConsumeJoinToken("tok", "hash-tok", t0))},
		{name: "jointoken.consume unknown", want: ErrNotFound, cmd: enc(ConsumeJoinToken("nope", "x", t0))},
		{name: "jointoken.consume wrong secret", want: ErrTokenMismatch, cmd: enc(ConsumeJoinToken("tok", "hash-other", t0))},
		{name: "jointoken.create duplicate", want: ErrExists, cmd: enc(CreateJoinToken(testToken("tok", 1, time.Time{})))},
		{name: "jointoken.create zero uses", want: ErrInvalid, cmd: enc(CreateJoinToken(testToken("t2", 0, time.Time{})))},
		{name: "jointoken.revoke twice", setup: [][]byte{must(RevokeJoinToken("tok", t0))}, cmd: enc(RevokeJoinToken("tok", hour)),
			check: func(t *testing.T, v *View) {
				if tk, _ := v.Token("tok"); !tk.Revoked {
					t.Fatal("not revoked")
				}
			}},
		{name: "jointoken.delete", cmd: enc(DeleteJoinToken("tok")),
			check: func(t *testing.T, v *View) {
				if _, ok := v.Token("tok"); ok || len(v.Tokens()) != 1 {
					t.Fatal("not deleted")
				}
			}},
		{name: "jointoken.delete unknown", want: ErrNotFound, cmd: enc(DeleteJoinToken("nope"))},
		// API tokens, certificates, events
		{name: "apitoken.create", cmd: enc(CreateAPIToken(APIToken{ID: "a2", Name: "ci", SecretHash: "h2", Role: "admin", CreatedAt: t0})),
			check: func(t *testing.T, v *View) {
				if tk, ok := v.APITokenByHash("h2"); !ok || tk.ID != "a2" || len(v.APITokens()) != 2 {
					t.Fatalf("token = %+v", tk)
				}
			}},
		{name: "apitoken.create duplicate hash", want: ErrExists,
			cmd: enc(CreateAPIToken(APIToken{ID: "a2", Name: "ci", SecretHash: "ahash", Role: "admin", CreatedAt: t0}))},
		{name: "apitoken.create duplicate id", want: ErrExists,
			cmd: enc(CreateAPIToken(APIToken{ID: "a1", Name: "ci", SecretHash: "h2", Role: "admin", CreatedAt: t0}))},
		{name: "apitoken.delete", cmd: enc(DeleteAPIToken("a1")),
			check: func(t *testing.T, v *View) {
				if _, ok := v.APITokenByHash("ahash"); ok {
					t.Fatal("not deleted")
				}
			}},
		{name: "apitoken.delete unknown", want: ErrNotFound, cmd: enc(DeleteAPIToken("nope"))},
		{name: "cert.revoke twice keeps the first", setup: [][]byte{must(RevokeCert("s9", "n1", t0))}, cmd: enc(RevokeCert("s9", "n2", hour)),
			check: func(t *testing.T, v *View) {
				if r := v.RevokedCerts(); len(r) != 1 || r[0].NodeID != "n1" || !v.Revoked("s9") || v.Revoked("s8") {
					t.Fatalf("revoked = %+v", r)
				}
			}},
		{name: "event.record", cmd: enc(RecordEvent("deploy", "app/web", "rolled out", hour)),
			check: func(t *testing.T, v *View) { wantEvent(t, v, "deploy", "app/web") }},
		// envelope refusals
		{name: "newer command version", want: ErrTooNew,
			cmd: func(t *testing.T) []byte { return raw(t, 3, CmdNodeUpsert, NodeUpsert{testNode("n2"), t0}) }},
		{name: "unknown command type", want: ErrUnknownCommand,
			cmd: func(t *testing.T) []byte { return raw(t, 1, "pod.create", map[string]string{"id": "p"}) }},
		{name: "malformed JSON", want: ErrMalformed, cmd: func(*testing.T) []byte { return []byte(`{"v":1,"type":"node.upsert","data":{`) }},
		{name: "trailing data", want: ErrMalformed,
			cmd: func(t *testing.T) []byte { return append(must(DeleteNode("n1", t0)), "{}"...) }},
		{name: "unknown envelope field", want: ErrMalformed,
			cmd: func(*testing.T) []byte { return []byte(`{"v":1,"type":"node.voter","data":{"id":"n1"},"x":1}`) }},
		{name: "unknown payload field", want: ErrMalformed,
			cmd: func(*testing.T) []byte {
				return []byte(`{"v":1,"type":"node.voter","data":{"id":"n1","colour":"red"}}`)
			}},
		{name: "version zero", want: ErrMalformed,
			cmd: func(*testing.T) []byte { return []byte(`{"v":0,"type":"node.voter","data":{"id":"n1"}}`) }},
		{name: "missing data", want: ErrMalformed, cmd: func(*testing.T) []byte { return []byte(`{"v":1,"type":"node.voter"}`) }},
		{name: "null data", want: ErrInvalid, cmd: func(*testing.T) []byte { return []byte(`{"v":1,"type":"node.voter","data":null}`) }},
		{name: "private key anywhere", want: ErrSecret,
			cmd: func(t *testing.T) []byte {
				return raw(t, 1, CmdEventRecord, EventRecord{"k", "o", "-----BEGIN PRIVATE KEY-----", t0})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t).base()
			for _, b := range tc.setup {
				h.ok(b, nil)
			}
			before := h.tables()
			res := h.apply(tc.cmd(t), nil)
			wantErr(t, res, tc.want)
			if res.Err != nil {
				if after := h.tables(); after != before {
					t.Fatalf("refused command changed the state:\n%s\n---\n%s", before, after)
				}
				if res.Value != nil {
					t.Fatalf("refused command returned a value: %#v", res.Value)
				}
			}
			if got := h.f.State().Index(); got != h.idx {
				t.Fatalf("Index() = %d, want %d", got, h.idx)
			}
			if tc.check != nil {
				tc.check(t, h.f.State())
			}
		})
	}
}

func TestRefusalMessages(t *testing.T) {
	h := newHarness(t)
	res := h.apply(raw(t, 3, CmdNodeUpsert, NodeUpsert{testNode("n"), t0}), nil)
	if want := "command node.upsert v3 is newer than this agent (v2): upgrade kedge"; res.Err == nil || res.Err.Error() != want {
		t.Fatalf("got %v, want %q", res.Err, want)
	}
	res = h.apply(raw(t, 1, "pod.create\n", 1), nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), `"pod.create\n"`) {
		t.Fatalf("unknown type message: %v", res.Err)
	}
	h.ok(CreateJoinToken(testToken("tok", 1, t0.Add(time.Hour))))
	res = h.apply(ConsumeJoinToken("tok", "hash-tok", t0.Add(2*time.Hour)))
	if res.Err == nil || !strings.Contains(res.Err.Error(), `join token "tok": expired at 2026-01-02T04:04:05Z`) {
		t.Fatalf("expired message: %v", res.Err)
	}
}

func TestConsumeReturnsToken(t *testing.T) {
	h := newHarness(t).base()
	res := h.ok(ConsumeJoinToken("tok", "hash-tok", t0))
	if tk, ok := res.Value.(JoinToken); !ok || tk.UsesLeft != 1 || tk.Role != "node" {
		t.Fatalf("value = %#v", res.Value)
	}
}

func TestEncodeRefuses(t *testing.T) {
	if _, err := Encode("pod.create", struct{}{}); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := RecordEvent("k", "o", "RSA PRIVATE KEY", t0); !errors.Is(err, ErrSecret) {
		t.Fatalf("private key: %v", err)
	}
	if _, err := Encode(CmdEventRecord, func() {}); err == nil {
		t.Fatal("unencodable payload accepted")
	}
}

func TestCommandVersions(t *testing.T) {
	v := CommandVersions()
	if !slices.Equal(commandTypes(), slices.Sorted(maps.Keys(v))) || len(v) != 21 || v[CmdNodeUpsert] != 2 {
		t.Fatalf("versions = %v", v)
	}
}

func TestNonCommandLogsIgnored(t *testing.T) {
	h := newHarness(t)
	if res := h.f.ApplyBatch(nil); len(res) != 0 {
		t.Fatal("empty batch")
	}
	if res := h.f.Apply(&raftConfigLog); res != nil {
		t.Fatalf("configuration entry result %#v", res)
	}
}

func TestEventRing(t *testing.T) {
	h := newHarness(t)
	for i := range MaxEvents + 50 {
		h.ok(RecordEvent("tick", "x", "", t0.Add(time.Duration(i)*time.Second)))
	}
	ev := h.f.State().Events(0)
	if len(ev) != MaxEvents || ev[0].Seq != 51 || ev[len(ev)-1].Seq != MaxEvents+50 || ev[0].Index != 51 {
		t.Fatalf("ring: %d events, first %+v last %+v", len(ev), ev[0], ev[len(ev)-1])
	}
	if ev := h.f.State().Events(h.idx - 3); len(ev) != 3 || ev[0].Index != h.idx-2 {
		t.Fatalf("Events(since) = %+v", ev)
	}
	if ev := h.f.State().Events(^uint64(0)); len(ev) != 0 {
		t.Fatal("Events(max)")
	}
}

func TestViewReturnsCopies(t *testing.T) {
	h := newHarness(t).base()
	v := h.f.State()
	n, _ := v.Node("n1")
	n.Labels["zone"] = "mutated"
	c, _ := v.Cluster()
	c.GossipKey[0] = 0
	if n2, _ := v.Node("n1"); n2.Labels["zone"] != "a" {
		t.Fatal("view leaked a node's labels")
	}
	if c2, _ := v.Cluster(); c2.GossipKey[0] != 7 {
		t.Fatal("view leaked the gossip key")
	}
}

func wantEvent(t *testing.T, v *View, kind, object string) {
	t.Helper()
	ev := v.Events(v.Index() - 1)
	for _, e := range ev {
		if e.Kind == kind && e.Object == object {
			return
		}
	}
	t.Fatalf("no %s event for %s in %+v", kind, object, ev)
}

func enc(b []byte, err error) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		return b
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
