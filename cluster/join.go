package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"kedge/api"
	"kedge/cluster/consensus"
	"kedge/cluster/gossip"
	"kedge/cluster/state"
	"kedge/security/pki"
)

// joinRequest is what a joiner sends to POST /v1/cluster/join, over TLS
// pinned to the token's CA: only a server holding a certificate of that CA
// ever sees the secret.
type joinRequest struct {
	TokenID   string            `json:"token_id"`
	Secret    string            `json:"secret"`
	CSR       string            `json:"csr"`
	Name      string            `json:"name"`
	Advertise string            `json:"advertise"`
	Labels    map[string]string `json:"labels,omitempty"`
	Capacity  api.NodeResources `json:"capacity"`
	Reserve   api.NodeResources `json:"reserve"`
	Version   string            `json:"version"`
	Taints    []state.Taint     `json:"taints,omitempty"`
	// PreviousID is the id the node had. The leader keeps it only with
	// PreviousCert (the node's old, typically expired, certificate) and
	// Proof (pki.SignRejoin with the old key): see rejoin.go.
	PreviousID   string `json:"previous_id,omitempty"`
	PreviousCert string `json:"previous_cert,omitempty"`
	Proof        []byte `json:"proof,omitempty"`
	// Protocol is the protocol level the joiner applies (absent: 1).
	Protocol int `json:"protocol,omitempty"`
}

// joinAnswer is what the leader gives a joiner.
type joinAnswer struct {
	ClusterID string   `json:"cluster_id"`
	NodeID    string   `json:"node_id"`
	CertPEM   string   `json:"cert"`
	CACertPEM string   `json:"ca_cert"`
	GossipKey []byte   `json:"gossip_key"`
	Peers     []string `json:"peers"`
}

// Join makes this standalone node a member of the cluster that the node at
// req.Addr belongs to. It verifies the CA against the token's digest before
// sending anything secret.
func (m *Manager) Join(ctx context.Context, req api.JoinRequest) (*api.JoinResponse, error) {
	if m.Member() {
		return nil, fmt.Errorf("this node is already in a cluster (kedge leave first): %w", api.ErrConflict)
	}
	tok, err := pki.ParseToken(req.Token)
	if err != nil {
		return nil, fmt.Errorf("join token: %v: %w", err, api.ErrInvalid)
	}
	addr := req.Addr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = hostPort(addr, api.DefaultAPIPort)
	}
	exp := m.expiredState()
	oldAdvertise := ""
	if exp != nil {
		oldAdvertise = exp.ms.Advertise
	}
	adv, err := advertiseIP(firstNonEmpty(req.Advertise, m.cfg.Advertise, oldAdvertise))
	if err != nil {
		return nil, err
	}
	// The CA first: a wrong digest ends the join before the secret leaves.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	caCert, err := pki.FetchCA(fctx, addr, tok.CAHash)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", addr, err)
	}
	key, keyPEM, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	csr, err := pki.CreateCSR(key, pki.NodeIdentity{ID: "joining", Name: m.cfg.NodeName})
	if err != nil {
		return nil, err
	}
	labels := req.Labels
	if labels == nil && exp != nil && exp.caHash == tok.CAHash {
		labels = exp.ms.Labels
	}
	if labels == nil {
		labels = m.cfg.Labels
	}
	prev, _ := m.loadPreviousID()
	taints, _ := m.cfg.taints()
	jr := joinRequest{
		TokenID: tok.ID, Secret: tok.Secret, CSR: string(csr), Name: m.cfg.NodeName, Advertise: adv.String(),
		Labels: labels, Capacity: m.cfg.Capacity, Reserve: m.cfg.Reserve, Version: m.cfg.Version, PreviousID: prev, Taints: taints,
		Protocol: m.cfg.protocolLevel(),
	}
	if err := exp.prove(&jr, tok); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(jr)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.PinnedClientTLS(tok.CAHash)}}
	defer client.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+pathJoin, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", addr, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		_ = json.Unmarshal(raw, &e)
		err := fmt.Errorf("join %s: %s", addr, firstNonEmpty(e.Message, resp.Status))
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("%w: %w", err, api.ErrUnauthorized)
		}
		return nil, err
	}
	var ans joinAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("join %s: bad answer: %w", addr, err)
	}
	if pki.SPKIHash(caCert) != tok.CAHash {
		return nil, fmt.Errorf("join %s: %w", addr, pki.ErrCAMismatch)
	}
	ms := &membership{ClusterID: ans.ClusterID, NodeID: ans.NodeID, NodeName: m.cfg.NodeName, Advertise: adv.String(), Labels: labels, Peers: ans.Peers}
	m.leaveExpired(ms)
	if err := m.writeMemberFiles(ms, []byte(ans.CACertPEM), nil, []byte(ans.CertPEM), keyPEM, ans.GossipKey); err != nil {
		return nil, err
	}
	if err := m.startMember(ctx, ms, false); err != nil {
		m.wipeMemberFiles()
		return nil, fmt.Errorf("join: %w", err)
	}
	m.log.Info("joined the cluster", "cluster", ans.ClusterID, "node", ans.NodeID, "via", addr)
	return &api.JoinResponse{ClusterID: ans.ClusterID, NodeID: ans.NodeID, NodeName: ms.NodeName}, nil
}

// loadPreviousID returns the node id of an earlier membership, kept by
// Leave in previous_id so that a node rejoining keeps its identity.
func (m *Manager) loadPreviousID() (string, error) {
	b, err := readSmall(m.path("previous_id"))
	return string(bytes.TrimSpace(b)), err
}

// HandleJoin serves POST /v1/cluster/join. It is public: the join token
// authenticates the caller. A follower hands the request to the leader,
// which consumes the token through Raft, signs the node's certificate,
// records the node and adds it to Raft as a non-voter.
func (m *Manager) HandleJoin(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeAPIError(w, fmt.Errorf("read join request: %v: %w", err, api.ErrInvalid))
		return
	}
	var req joinRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.TokenID == "" || req.Secret == "" || req.CSR == "" {
		writeAPIError(w, fmt.Errorf("malformed join request: %w", api.ErrInvalid))
		return
	}
	_, rn, fsm, err := m.member()
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if !rn.IsLeader() {
		m.proxyJoinToLeader(w, r, raw)
		return
	}
	ans, err := m.admit(r.Context(), rn, fsm, &req)
	if err != nil {
		m.log.Warn("join refused", "name", req.Name, "from", r.RemoteAddr, "err", err)
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// admit is the leader's side of a join.
func (m *Manager) admit(ctx context.Context, rn *consensus.Node, fsm *state.FSM, req *joinRequest) (*joinAnswer, error) {
	m.mu.Lock()
	ca := m.ca
	m.mu.Unlock()
	if ca == nil {
		return nil, errors.New("the leader does not hold the CA key yet; retry in a moment")
	}
	adv, err := netip.ParseAddr(req.Advertise)
	if err != nil {
		return nil, fmt.Errorf("join: advertise address %q: %w", req.Advertise, api.ErrInvalid)
	}
	now := time.Now().UTC()
	// Which id: a new one, or the old one of a node that proves it holds
	// that node's key (checked before the token is used up).
	back, err := m.rejoinee(fsm.State(), req)
	if err != nil {
		return nil, err
	}
	if err := checkJoinerLevel(fsm.State(), req); err != nil {
		return nil, err
	}
	consume, err := state.ConsumeJoinToken(req.TokenID, pki.HashSecret(req.Secret), now)
	if err != nil {
		return nil, fmt.Errorf("join token: %v: %w", err, api.ErrInvalid)
	}
	if _, err := m.apply(ctx, consume); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			err = fmt.Errorf("unknown join token: %w", api.ErrUnauthorized)
		}
		return nil, fmt.Errorf("join token refused: %w", err)
	}
	view := fsm.State()
	cl, _ := view.Cluster()
	id := newID()
	if back != nil {
		id = back.ID // a node coming back keeps its id, its record and its pods
		req.Labels, req.Taints = back.Labels, back.Taints
	}
	name := firstNonEmpty(req.Name, id)
	nid := pki.NodeIdentity{ID: id, Name: name, IPs: []net.IP{adv.AsSlice()}, DNSNames: []string{nodeServerName}}
	certPEM, serial, err := ca.SignNode([]byte(req.CSR), nid, m.cfg.CertTTL, now)
	if err != nil {
		return nil, fmt.Errorf("sign the node's certificate: %v: %w", err, api.ErrInvalid)
	}
	ip := adv.String()
	node := state.Node{
		ID: id, Name: name, Labels: req.Labels, Version: req.Version, State: state.NodeReady, CertSerial: serial, Taints: req.Taints,
		Addr:     state.Addresses{API: hostPort(ip, m.cfg.APIPort), Raft: hostPort(ip, m.cfg.RaftPort), Gossip: hostPort(ip, m.cfg.GossipPort)},
		Capacity: state.Resources{CPUMillis: req.Capacity.CPUMillis, MemoryBytes: req.Capacity.MemoryBytes},
		Reserved: state.Resources{CPUMillis: req.Reserve.CPUMillis, MemoryBytes: req.Reserve.MemoryBytes},
	}
	up, err := state.UpsertNode(node, now)
	if err != nil {
		return nil, fmt.Errorf("record node: %v: %w", err, api.ErrInvalid)
	}
	if _, err := m.apply(ctx, up); err != nil {
		return nil, fmt.Errorf("record node: %w", err)
	}
	if err := rn.AddNonvoter(ctx, id, node.Addr.Raft); err != nil {
		return nil, fmt.Errorf("add the node to raft: %w", err)
	}
	return &joinAnswer{ClusterID: cl.ID, NodeID: id, CertPEM: string(certPEM), CACertPEM: cl.CACertPEM, GossipKey: cl.GossipKey, Peers: m.gossipPeers()}, nil
}

// gossipPeers lists the gossip addresses of the live members.
func (m *Manager) gossipPeers() []string {
	m.mu.Lock()
	g := m.gossip
	m.mu.Unlock()
	var out []string
	if g == nil {
		return out
	}
	for _, mem := range g.Members() {
		if mem.State == gossip.StateAlive {
			out = append(out, mem.Addr.String())
		}
	}
	return out
}

// proxyJoinToLeader hands a join request to the leader over node mTLS.
func (m *Manager) proxyJoinToLeader(w http.ResponseWriter, r *http.Request, raw []byte) {
	_, rn, _, _ := m.member()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leaderID, _ := rn.Leader()
		if addr := m.apiAddrOf(leaderID); leaderID != "" && addr != "" {
			m.mu.Lock()
			client := m.client
			m.mu.Unlock()
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "https://"+addr+pathJoin, bytes.NewReader(raw))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := client.Do(req); err == nil {
				defer resp.Body.Close()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(resp.StatusCode)
				_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
				return
			}
		}
		if time.Now().After(deadline) || r.Context().Err() != nil {
			writeAPIError(w, fmt.Errorf("no cluster leader reachable to admit the node: %w", api.ErrConflict))
			return
		}
		time.Sleep(100 * time.Millisecond) // waiting out an election
	}
}

func writeAPIError(w http.ResponseWriter, err error) {
	writeJSON(w, api.HTTPStatus(err), api.Error{Message: err.Error()})
}
