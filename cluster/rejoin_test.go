package cluster

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"kedge/api"
	"kedge/cluster/state"
	"kedge/security/pki"
)

// rejoinFixture is a cluster state with node n1, whose certificate (signed
// a year ago for a day) has long expired, and a CSR for its new key.
type rejoinFixture struct {
	f                  *state.FSM
	idx                uint64
	ca                 *pki.CA
	certPEM, keyPEM    []byte
	serial             string
	csr                []byte
	now                time.Time
	managerForDecision *Manager
}

func newRejoinFixture(t *testing.T) *rejoinFixture {
	t.Helper()
	now := time.Now().UTC()
	ca, err := pki.NewCA("c1", now.Add(-2*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key, keyPEM, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	nid := pki.NodeIdentity{ID: "n1", Name: "one", DNSNames: []string{nodeServerName}}
	csr, _ := pki.CreateCSR(key, nid)
	certPEM, serial, err := ca.SignNode(csr, nid, 24*time.Hour, now.Add(-365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	newKey, _, _ := pki.NewKey()
	newCSR, _ := pki.CreateCSR(newKey, pki.NodeIdentity{ID: "joining", Name: "one"})
	fx := &rejoinFixture{f: state.New(), ca: ca, certPEM: certPEM, keyPEM: keyPEM, serial: serial, csr: newCSR, now: now,
		managerForDecision: &Manager{log: slog.New(slog.DiscardHandler)}}
	fx.apply(t, mustCmd(state.InitCluster(state.Cluster{ID: "c1", CreatedAt: now, CACertPEM: string(ca.CertPEM()), GossipKey: make([]byte, 32)})))
	n := testRecord("n1")
	n.Name, n.CertSerial, n.State = "one", serial, state.NodeDown
	fx.apply(t, mustCmd(state.UpsertNode(n, now)))
	return fx
}

func (fx *rejoinFixture) apply(t *testing.T, cmd []byte) {
	t.Helper()
	fx.idx++
	if res := fx.f.Apply(&raft.Log{Index: fx.idx, Type: raft.LogCommand, Data: cmd}).(*state.Result); res.Err != nil {
		t.Fatal(res.Err)
	}
}

// request is a join request claiming n1 with a proof signed by keyPEM.
func (fx *rejoinFixture) request(t *testing.T, keyPEM []byte) *joinRequest {
	t.Helper()
	sig, err := pki.SignRejoin(keyPEM, "n1", "tok1", fx.csr)
	if err != nil {
		t.Fatal(err)
	}
	return &joinRequest{TokenID: "tok1", CSR: string(fx.csr), Name: "one", PreviousID: "n1", PreviousCert: string(fx.certPEM), Proof: sig}
}

// The leader keeps a rejoining node's id only for a proof that holds, of
// the node's current certificate, not revoked.
func TestRejoinDecision(t *testing.T) {
	fx := newRejoinFixture(t)
	m := fx.managerForDecision
	n, err := m.rejoinee(fx.f.State(), fx.request(t, fx.keyPEM))
	if err != nil || n == nil || n.ID != "n1" {
		t.Fatalf("a valid proof: %+v %v", n, err)
	}
	// No claim, a claim of an unknown id, a claim without proof: a new id.
	for name, req := range map[string]*joinRequest{
		"no claim":      {TokenID: "tok1", CSR: string(fx.csr)},
		"unknown id":    {TokenID: "tok1", CSR: string(fx.csr), PreviousID: "n9"},
		"without proof": {TokenID: "tok1", CSR: string(fx.csr), PreviousID: "n1"},
	} {
		if n, err := m.rejoinee(fx.f.State(), req); n != nil || err != nil {
			t.Errorf("%s: %+v %v, want a new id", name, n, err)
		}
	}
	// A proof with another key is refused.
	_, other, _ := pki.NewKey()
	if _, err := m.rejoinee(fx.f.State(), fx.request(t, other)); !errors.Is(err, api.ErrUnauthorized) || !errors.Is(err, pki.ErrUntrusted) {
		t.Fatalf("a proof with another key: %v", err)
	}
	// A certificate that is not the node's current one (it renewed since).
	fx.apply(t, mustCmd(state.SetNodeCert("n1", "abcdef")))
	if _, err := m.rejoinee(fx.f.State(), fx.request(t, fx.keyPEM)); !errors.Is(err, api.ErrUnauthorized) || !strings.Contains(err.Error(), "not the node's current one") {
		t.Fatalf("an older certificate: %v", err)
	}
	fx.apply(t, mustCmd(state.SetNodeCert("n1", fx.serial)))
	// A revoked certificate.
	fx.apply(t, mustCmd(state.RevokeCert(fx.serial, "n1", fx.now)))
	if _, err := m.rejoinee(fx.f.State(), fx.request(t, fx.keyPEM)); !errors.Is(err, api.ErrUnauthorized) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked certificate: %v", err)
	}
}

// The joiner's side: the proof goes only with a token of the cluster the
// node was in.
func TestExpiredMemberProves(t *testing.T) {
	fx := newRejoinFixture(t)
	cert, _ := pki.ParseCertPEM(fx.certPEM)
	e := &expiredMember{ms: &membership{ClusterID: "c1", NodeID: "n1"}, notAfter: cert.NotAfter, certPEM: fx.certPEM, keyPEM: fx.keyPEM, caHash: fx.ca.Hash()}
	jr := &joinRequest{CSR: string(fx.csr), PreviousID: "stale"}
	if err := e.prove(jr, pki.Token{ID: "tok1", CAHash: "another"}); err != nil || jr.PreviousID != "stale" || jr.Proof != nil {
		t.Fatalf("another cluster's token: %+v %v", jr, err)
	}
	if err := e.prove(jr, pki.Token{ID: "tok1", CAHash: fx.ca.Hash()}); err != nil || jr.PreviousID != "n1" || len(jr.Proof) == 0 {
		t.Fatalf("this cluster's token: %+v %v", jr, err)
	}
	jr.TokenID = "tok1"
	if n, err := fx.managerForDecision.rejoinee(fx.f.State(), jr); err != nil || n == nil || n.ID != "n1" {
		t.Fatalf("the leader on the joiner's proof: %+v %v", n, err)
	}
	var none *expiredMember
	if err := none.prove(jr, pki.Token{}); err != nil {
		t.Fatal(err)
	}
	if msg := e.message(); !strings.Contains(msg, "node certificate expired at "+cert.NotAfter.UTC().Format(time.RFC3339)) ||
		!strings.Contains(msg, "kedge join ADDR --token T") || !strings.Contains(msg, "n1") {
		t.Fatalf("message %q", msg)
	}
}
