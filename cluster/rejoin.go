package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"kedge/api"
	"kedge/cluster/state"
	"kedge/security/pki"
)

// A node whose certificate expired while it was offline.
//
// Its peers refuse its certificate, so on start it does not open Raft or
// gossip: it runs as a local engine whose pods keep running from the saved
// desired state (the reconciler serves it while the control plane cannot
// be reached), and it says, in its log and in kedge status, that it must
// join again. `kedge join ADDR --token T` then works directly: the join
// request carries the old certificate and a proof, signed with the old key,
// that binds the old id to the token and the new key's CSR
// (pki.SignRejoin). The leader checks the proof (pki.VerifyRejoin), that
// the certificate is the one the node's record holds and is not revoked,
// and that no live node has the id; only then does the node keep its id,
// its record (labels, taints, cordon) and its allocations, and it also
// keeps its Raft log. A claim to an existing id without a proof gets a new
// id; one with a proof that does not hold is refused.

// expiredMember is the membership of a node whose certificate expired.
type expiredMember struct {
	ms       *membership
	notAfter time.Time
	certPEM  []byte
	keyPEM   []byte
	caHash   string // of the cluster CA the node knew
}

// message tells the operator what happened and what to do.
func (e *expiredMember) message() string {
	return fmt.Sprintf("node certificate expired at %s; run `kedge join ADDR --token T` to rejoin "+
		"(ADDR: a node of the cluster, T: a token from `kedge token create` there); this node keeps its id %s and its pods",
		e.notAfter.UTC().Format(time.RFC3339), e.ms.NodeID)
}

// enterExpired reports whether the stored certificate of ms has expired;
// if so the node stays out of Raft and gossip and runs its pods from the
// saved desired state until it joins again.
func (m *Manager) enterExpired(ms *membership) bool {
	certPEM, err1 := os.ReadFile(m.path(nodeCertFile))
	keyPEM, err2 := os.ReadFile(m.path(nodeKeyFile))
	caPEM, err3 := os.ReadFile(m.path(caCertFile))
	if errors.Join(err1, err2, err3) != nil {
		return false // startMember reports what is missing
	}
	cert, err := pki.ParseCertPEM(certPEM)
	if err != nil || !time.Now().After(cert.NotAfter) {
		return false
	}
	e := &expiredMember{ms: ms, notAfter: cert.NotAfter, certPEM: certPEM, keyPEM: keyPEM}
	if ca, err := pki.ParseCertPEM(caPEM); err == nil {
		e.caHash = pki.SPKIHash(ca)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m.mu.Lock()
	m.expired, m.runCtx, m.cancel = e, runCtx, cancel
	m.mu.Unlock()
	m.log.Error(e.message(), "cluster", ms.ClusterID, "node", ms.NodeID, "expired", cert.NotAfter.UTC())
	m.startPods()
	m.notify()
	return true
}

// expiredState returns the expired membership, or nil.
func (m *Manager) expiredState() *expiredMember {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.expired
}

// expiredStatus is kedge status on a node whose certificate expired.
func (m *Manager) expiredStatus() (api.ClusterStatus, bool) {
	e := m.expiredState()
	if e == nil {
		return api.ClusterStatus{}, false
	}
	return api.ClusterStatus{
		Member: true, ClusterID: e.ms.ClusterID, NodeID: e.ms.NodeID, NodeName: e.ms.NodeName,
		RaftState: "certificate expired", Warnings: []string{e.message()},
	}, true
}

// certWarning warns about a running member's certificate that expired (it
// could not be renewed in time): peers refuse it until it joins again.
func (m *Manager) certWarning() string {
	m.mu.Lock()
	id := m.identity
	m.mu.Unlock()
	if id == nil || !time.Now().After(id.Cert().NotAfter) {
		return ""
	}
	return fmt.Sprintf("node certificate expired at %s: the other nodes refuse this one; restart the agent and run `kedge join ADDR --token T` to rejoin",
		id.Cert().NotAfter.UTC().Format(time.RFC3339))
}

// prove adds to a join request the proof that this node holds its old key,
// when the token is for the cluster the node was in.
func (e *expiredMember) prove(jr *joinRequest, tok pki.Token) error {
	if e == nil || e.caHash != tok.CAHash {
		return nil // not a rejoin: another cluster's token makes a plain join
	}
	sig, err := pki.SignRejoin(e.keyPEM, e.ms.NodeID, tok.ID, []byte(jr.CSR))
	if err != nil {
		return fmt.Errorf("rejoin: %w", err)
	}
	jr.PreviousID, jr.PreviousCert, jr.Proof = e.ms.NodeID, string(e.certPEM), sig
	return nil
}

// stopExpired ends the expired mode's local loops and returns what it was
// (nil when the node was not in it).
func (m *Manager) stopExpired() *expiredMember {
	m.mu.Lock()
	e, cancel := m.expired, m.cancel
	if e != nil {
		m.expired, m.cancel, m.runCtx = nil, nil, nil
	}
	m.mu.Unlock()
	if e == nil {
		return nil
	}
	if cancel != nil {
		cancel()
	}
	m.wg.Wait()
	return e
}

// leaveExpired ends the expired mode once the leader admitted the node as
// ms: its local loops stop (startMember starts them again), and the Raft
// state and CA key go unless the node kept its id in the same cluster.
func (m *Manager) leaveExpired(ms *membership) {
	e := m.stopExpired()
	if e == nil {
		return
	}
	if e.ms.ClusterID == ms.ClusterID && e.ms.NodeID == ms.NodeID {
		m.log.Info("rejoined with the node's old id", "node", ms.NodeID)
		return
	}
	m.log.Info("joined with a new id: the old Raft state goes", "old", e.ms.NodeID, "new", ms.NodeID)
	if err := os.RemoveAll(filepath.Join(m.cfg.DataDir, "raft")); err != nil {
		m.log.Warn("remove the old raft state", "err", err)
	}
	if err := wipeFile(m.path(caKeyFile)); err != nil {
		m.log.Warn("wipe the old CA key", "err", err)
	}
}

// rejoinee decides, on the leader, whether a joiner keeps the id it claims:
// the node whose record it returns, or nil for a new id. A claim without a
// proof gets a new id; a proof that does not hold is refused.
func (m *Manager) rejoinee(view *state.View, req *joinRequest) (*state.Node, error) {
	if req.PreviousID == "" {
		return nil, nil
	}
	n, ok := view.Node(req.PreviousID)
	if !ok || n.State == state.NodeLeft {
		return nil, nil // gone: a new id, as for any joiner
	}
	if req.PreviousCert == "" && len(req.Proof) == 0 {
		m.log.Warn("a join claims an existing node's id without proof of its key: it gets a new id", "claimed", n.ID, "name", req.Name)
		return nil, nil
	}
	cl, _ := view.Cluster()
	cert, err := pki.VerifyRejoin([]byte(cl.CACertPEM), []byte(req.PreviousCert), req.Proof, n.ID, req.TokenID, []byte(req.CSR))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, api.ErrUnauthorized)
	}
	serial := pki.Serial(cert)
	switch {
	case view.Revoked(serial):
		return nil, fmt.Errorf("rejoin as node %s: its certificate %s is revoked (the node was removed): join as a new node (kedge leave --force on it first): %w",
			n.Name, serial, api.ErrUnauthorized)
	case n.CertSerial != "" && n.CertSerial != serial:
		return nil, fmt.Errorf("rejoin as node %s: certificate %s is not the node's current one (%s): %w", n.Name, serial, n.CertSerial, api.ErrUnauthorized)
	case m.alive(n.ID):
		return nil, fmt.Errorf("rejoin as node %s: a node with id %s is alive: stop it first: %w", n.Name, n.ID, api.ErrConflict)
	}
	m.log.Info("a node whose certificate expired rejoins with its id", "node", n.ID, "name", n.Name, "expired", cert.NotAfter.UTC())
	return &n, nil
}

// dropExpired abandons an expired membership (kedge init founds a new
// cluster instead): the local loops stop and the old files go.
func (m *Manager) dropExpired() {
	e := m.stopExpired()
	if e == nil {
		return
	}
	_ = wipeFile(m.path(caKeyFile))
	m.wipeMemberFiles()
	m.log.Info("the expired membership is abandoned", "cluster", e.ms.ClusterID, "node", e.ms.NodeID)
}
