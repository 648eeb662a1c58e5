package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"kedge/api"
	"kedge/cluster/state"
	"kedge/security/pki"
)

// defaultTokenTTL is how long the join token of `kedge init` and of `kedge
// token create` without --ttl lives, as kubeadm's.
const defaultTokenTTL = 24 * time.Hour

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Init founds a cluster with this node as its first voter: a new cluster id,
// CA, node certificate and gossip key, Raft bootstrapped; it returns the join
// command for the other machines and the first admin token.
func (m *Manager) Init(ctx context.Context, req api.InitRequest) (*api.InitResponse, error) {
	if m.Member() {
		return nil, fmt.Errorf("this node is already in a cluster (kedge leave first): %w", api.ErrConflict)
	}
	m.dropExpired()
	adv, err := advertiseIP(firstNonEmpty(req.Advertise, m.cfg.Advertise))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	ms := &membership{ClusterID: newID() + newID(), NodeID: newID(), NodeName: m.cfg.NodeName, Advertise: adv.String(), Labels: m.cfg.Labels}
	ca, err := pki.NewCA(ms.ClusterID, now)
	if err != nil {
		return nil, err
	}
	key, keyPEM, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	nid := pki.NodeIdentity{ID: ms.NodeID, Name: ms.NodeName, IPs: []net.IP{adv.AsSlice()}, DNSNames: []string{nodeServerName}}
	csr, err := pki.CreateCSR(key, nid)
	if err != nil {
		return nil, err
	}
	certPEM, serial, err := ca.SignNode(csr, nid, m.cfg.CertTTL, now)
	if err != nil {
		return nil, err
	}
	caKeyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	gossipKey := make([]byte, 32)
	if _, err := rand.Read(gossipKey); err != nil {
		return nil, err
	}
	if err := m.writeMemberFiles(ms, ca.CertPEM(), caKeyPEM, certPEM, keyPEM, gossipKey); err != nil {
		return nil, err
	}
	if err := m.startMember(ctx, ms, true); err != nil {
		m.wipeMemberFiles()
		return nil, fmt.Errorf("init: %w", err)
	}
	fail := func(err error) (*api.InitResponse, error) {
		m.Close()
		m.wipeMemberFiles()
		return nil, fmt.Errorf("init: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := m.raftNode().WaitLeader(wctx); err != nil {
		return fail(err)
	}
	cmds := [][]byte{}
	add := func(b []byte, err error) {
		if err == nil {
			cmds = append(cmds, b)
		}
	}
	add(state.InitCluster(state.Cluster{ID: ms.ClusterID, CreatedAt: now, CACertPEM: string(ca.CertPEM()), GossipKey: gossipKey}))
	add(state.UpsertNode(m.selfNode(ms, serial, true), now))
	for _, c := range cmds {
		if _, err := m.apply(wctx, c); err != nil {
			return fail(err)
		}
	}
	tok, err := m.CreateToken(wctx, api.TokenCreateRequest{Description: "made by kedge init"})
	if err != nil {
		return fail(err)
	}
	admin, err := m.createAdminToken(wctx, "admin")
	if err != nil {
		return fail(err)
	}
	apiAddr := hostPort(ms.Advertise, m.cfg.APIPort)
	m.log.Info("cluster founded", "cluster", ms.ClusterID, "node", ms.NodeID, "advertise", apiAddr)
	return &api.InitResponse{
		ClusterID: ms.ClusterID, NodeID: ms.NodeID, Token: tok.Token, AdminToken: admin,
		JoinCommand: fmt.Sprintf("kedge join %s --token %s", apiAddr, tok.Token),
		CACert:      string(ca.CertPEM()), Endpoint: "https://" + apiAddr,
	}, nil
}

// selfNode is this node's record.
func (m *Manager) selfNode(ms *membership, serial string, voter bool) state.Node {
	taints, _ := m.cfg.taints() // checked by New
	return state.Node{
		ID: ms.NodeID, Name: ms.NodeName, Labels: ms.Labels, Version: m.cfg.Version, Voter: voter, State: state.NodeReady,
		Addr: state.Addresses{
			API: hostPort(ms.Advertise, m.cfg.APIPort), Raft: hostPort(ms.Advertise, m.cfg.RaftPort),
			Gossip: hostPort(ms.Advertise, m.cfg.GossipPort),
		},
		Capacity:   state.Resources{CPUMillis: m.cfg.Capacity.CPUMillis, MemoryBytes: m.cfg.Capacity.MemoryBytes},
		Reserved:   state.Resources{CPUMillis: m.cfg.Reserve.CPUMillis, MemoryBytes: m.cfg.Reserve.MemoryBytes},
		CertSerial: serial, Taints: taints,
	}
}

// createAdminToken records a bearer token with the admin role and returns it.
func (m *Manager) createAdminToken(ctx context.Context, name string) (string, error) {
	secret, err := pki.NewSecret("kedge-admin-")
	if err != nil {
		return "", err
	}
	cmd, err := state.CreateAPIToken(state.APIToken{ID: newID(), Name: name, SecretHash: pki.HashSecret(secret), Role: "admin", CreatedAt: time.Now().UTC()})
	if err != nil {
		return "", err
	}
	if _, err := m.apply(ctx, cmd); err != nil {
		return "", fmt.Errorf("record the admin token: %w", err)
	}
	return secret, nil
}

// writeMemberFiles writes a new member's keys, then its membership (the
// commit point: without it the node is standalone).
func (m *Manager) writeMemberFiles(ms *membership, caPEM, caKeyPEM, certPEM, keyPEM, gossipKey []byte) error {
	files := []struct {
		name string
		data []byte
	}{{caCertFile, caPEM}, {nodeCertFile, certPEM}, {nodeKeyFile, keyPEM}, {gossipKeyFile, gossipKey}}
	if caKeyPEM != nil {
		files = append(files, struct {
			name string
			data []byte
		}{caKeyFile, caKeyPEM})
	}
	for _, f := range files {
		if err := writeFileAtomic(m.path(f.name), f.data, 0o600); err != nil {
			m.wipeMemberFiles()
			return err
		}
	}
	if err := m.saveMembership(ms); err != nil {
		m.wipeMemberFiles()
		return err
	}
	return nil
}

// wipeMemberFiles makes the node standalone again: membership, keys and the
// Raft state go.
func (m *Manager) wipeMemberFiles() {
	for _, f := range []string{membershipFile, caCertFile, caKeyFile, nodeCertFile, nodeKeyFile, gossipKeyFile} {
		if err := os.Remove(m.path(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("remove cluster file", "file", f, "err", err)
		}
	}
	os.RemoveAll(filepath.Join(m.cfg.DataDir, "raft"))
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
