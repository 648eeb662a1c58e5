package state

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSnapshotRoundTrip(t *testing.T) {
	h := newHarness(t).base()
	h.ok(SetNodeCert("n1", "s1"))
	h.ok(RevokeCert("s0", "n0", t0))
	h.ok(UpsertNode(testNode("n2"), t0))
	want := h.snapshot()

	r := newHarness(t)
	r.ok(UpsertNode(testNode("stale"), t0)) // Restore must discard this
	if err := r.f.Restore(io.NopCloser(strings.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if got := r.snapshot(); got != want {
		t.Fatalf("round trip differs:\n%s\n---\n%s", got, want)
	}
	v := r.f.State()
	if v.Index() != h.idx || v.TableIndex(TableNodes) != h.idx || len(v.Nodes()) != 2 || len(v.NodesByName("name-n2")) != 1 {
		t.Fatalf("restored view: index %d nodes %+v", v.Index(), v.Nodes())
	}
	if tk, ok := v.APITokenByHash("ahash"); !ok || tk.ID != "a1" {
		t.Fatal("hash index not rebuilt")
	}
}

func TestRestoreRefusals(t *testing.T) {
	good := newHarness(t).base().snapshot()
	lines := strings.SplitAfter(good, "\n")
	cases := []struct {
		name string
		snap string
		want error
	}{
		{"newer schema", strings.Replace(good, `"schema":2`, `"schema":3`, 1), ErrTooNew},
		{"schema zero", strings.Replace(good, `"schema":2`, `"schema":0`, 1), ErrMalformed},
		{"other format", strings.Replace(good, `"kedge-state"`, `"etcd"`, 1), ErrMalformed},
		{"empty", "", ErrMalformed},
		{"truncated", strings.Join(lines[:len(lines)-2], ""), ErrMalformed},
		{"wrong row count", strings.Replace(good, `"rows":`, `"rows":1`, 1), ErrMalformed},
		{"unknown table", strings.Replace(good, `"table":"nodes"`, `"table":"pods"`, 1), ErrMalformed},
		{"unknown field", strings.Replace(good, `"cordoned":`, `"colour":1,"cordoned":`, 1), ErrMalformed},
		{"duplicate row", lines[0] + lines[1] + lines[1] + strings.Join(lines[2:], ""), ErrMalformed},
		{"data after trailer", good + "{}\n", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t).base()
			h.ok(UpsertNode(testNode("n9"), t0))
			before := h.snapshot()
			err := h.f.Restore(io.NopCloser(strings.NewReader(tc.snap)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore error = %v, want %v", err, tc.want)
			}
			if after := h.snapshot(); after != before {
				t.Fatal("failed Restore changed the state")
			}
		})
	}
	err := New().Restore(io.NopCloser(strings.NewReader(strings.Replace(good, `"schema":2`, `"schema":7`, 1))))
	if want := "snapshot schema v7 is newer than this agent (v2): upgrade kedge"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

type memSink struct {
	strings.Builder
	closed, cancelled bool
	fail              bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.fail {
		return 0, errors.New("disk full")
	}
	return s.Builder.Write(p)
}
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) ID() string    { return "test" }

func TestPersist(t *testing.T) {
	h := newHarness(t).base()
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	want := h.snapshot()
	h.ok(UpsertNode(testNode("later"), t0)) // Persist runs concurrently with Apply
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed || sink.String() != want {
		t.Fatalf("Persist: err %v closed %v same %v", err, sink.closed, sink.String() == want)
	}
	bad := memSink{fail: true}
	if err := snap.Persist(&bad); err == nil || !bad.cancelled || bad.closed {
		t.Fatalf("failing sink: err %v cancelled %v", err, bad.cancelled)
	}
}

// TestNoPrivateKeyInState builds a state through every command type with a
// real CA, tries to smuggle the CA key in, and checks neither the log nor
// the snapshot ever holds it.
func TestNoPrivateKeyInState(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kedge CA"},
		NotBefore: t0, NotAfter: t0.Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	c := Cluster{ID: "c1", CreatedAt: t0, CACertPEM: certPEM + keyPEM, GossipKey: gossipKey}

	if _, err := InitCluster(c); !errors.Is(err, ErrSecret) {
		t.Fatalf("Encode accepted the CA key: %v", err)
	}
	h := newHarness(t)
	wantErr(t, h.apply(raw(t, 1, CmdClusterInit, ClusterInit{c}), nil), ErrSecret)
	// A key block with its type disguised is still not a CERTIFICATE.
	c.CACertPEM = certPEM + strings.ReplaceAll(keyPEM, "PRIVATE KEY", "EC PARAMETERS")
	wantErr(t, h.apply(InitCluster(c)), ErrSecret)

	c.CACertPEM = certPEM
	at := t0.Add(time.Minute)
	type built struct {
		b   []byte
		err error
	}
	var cmds []built
	add := func(b []byte, err error) { cmds = append(cmds, built{b, err}) }
	add(InitCluster(c))
	add(SetGossipKey(make([]byte, 24), at))
	add(UpsertNode(testNode("n1"), at))
	add(UpsertNode(testNode("n2"), at))
	add(SetNodeState("n1", NodeSuspect, at))
	add(CordonNode("n1", true, at))
	add(SetNodeCert("n1", "s1"))
	add(SetNodeVoter("n1", false))
	add(DeleteNode("n2", at))
	add(CreateJoinToken(testToken("tok", 3, time.Time{})))
	add(CreateJoinToken(testToken("tok2", 3, time.Time{})))
	add(ConsumeJoinToken("tok", "hash-tok", at))
	add(RevokeJoinToken("tok", at))
	add(DeleteJoinToken("tok2"))
	add(CreateAPIToken(APIToken{ID: "a1", Name: "admin", SecretHash: "h1", Role: "admin", CreatedAt: at}))
	add(CreateAPIToken(APIToken{ID: "a2", Name: "ci", SecretHash: "h2", Role: "admin", CreatedAt: at}))
	add(DeleteAPIToken("a2"))
	add(RevokeCert("s0", "n0", at))
	add(RecordEvent("note", "cluster/c1", "hello", at))
	add(PutObject(Object{Key: "deployment/default/web", Kind: "Deployment", Namespace: "default", Name: "web", UID: "u1", SpecHash: "h",
		Manifest: json.RawMessage(`{"kind":"Deployment"}`)}, at))
	add(PlanAllocs([]Alloc{{ID: "al1", NodeID: "n1", Namespace: "default", Name: "web-1", Owner: "deployment/default/web", Desired: AllocRun,
		Pod: json.RawMessage(`{}`)}}, nil, at))
	add(ReportAllocs("n1", map[string]AllocStatus{"al1": {Phase: "Running", Ready: true}}, at))
	add(DeleteObject("deployment/default/web", at))
	add(CollectAllocs([]string{"al1"}))
	var types []string
	for _, cmd := range cmds {
		res := h.ok(cmd.b, cmd.err)
		if strings.Contains(string(cmd.b), "PRIVATE KEY") {
			t.Fatal("a log entry holds a private key")
		}
		types = append(types, res.Type)
	}
	slices.Sort(types)
	if got := slices.Compact(types); !slices.Equal(got, commandTypes()) {
		t.Fatalf("not every command type exercised: %v", got)
	}
	snap := h.snapshot()
	for _, bad := range []string{"PRIVATE KEY", base64.StdEncoding.EncodeToString(keyDER)[:40]} {
		if strings.Contains(snap, bad) {
			t.Fatalf("snapshot contains %q", bad)
		}
	}
	if cl, _ := h.f.State().Cluster(); cl.CACertPEM != certPEM {
		t.Fatal("CA certificate not stored")
	}
}
