package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"time"

	"kedge/cluster/gossip"
	"kedge/cluster/state"
	"kedge/security/pki"
)

// reconcileInterval bounds how late the leader records a membership change
// that no gossip event announced (it also wakes on every event).
const reconcileInterval = 250 * time.Millisecond

// leaderLoop, on the leader, turns gossip's view into node records and the
// Raft configuration's roles into voter flags.
func (m *Manager) leaderLoop(ctx context.Context) {
	t := time.NewTicker(reconcileInterval)
	defer t.Stop()
	dead := map[string]time.Time{} // members gossip reports dead, since when (this loop's own)
	recheck := time.NewTimer(time.Hour)
	defer recheck.Stop()
	for {
		m.chMu.Lock()
		changed := m.changed
		m.chMu.Unlock()
		if rn := m.raftNode(); rn != nil && rn.IsLeader() {
			next, err := m.reconcileNodes(ctx, dead)
			if err != nil && ctx.Err() == nil {
				m.log.Debug("reconcile nodes", "err", err)
			}
			if !next.IsZero() {
				recheck.Reset(time.Until(next))
			}
			m.fetchCAKey(ctx)
		} else {
			clear(dead)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		case <-recheck.C:
		}
	}
}

// downGrace is how long gossip must report a member dead before the leader
// records its node down. A partition that heals makes the members that were
// cut off spread what they believed, "every other node is dead"; each
// wrongly declared member refutes it at once, but the others hold it dead
// for a gossip round or two, and a leader that recorded that would replace
// a healthy node's pods. Four gossip intervals let the refutation arrive.
func (m *Manager) downGrace() time.Duration {
	return 4 * m.cfg.gossipProfile().Timing().GossipInterval
}

// nodeStateOf maps gossip liveness to the recorded node state.
func nodeStateOf(s gossip.State) state.NodeState {
	switch s {
	case gossip.StateDead:
		return state.NodeDown
	case gossip.StateLeft:
		return state.NodeLeft
	case gossip.StateSuspect:
		return state.NodeSuspect
	}
	return state.NodeReady
}

// reconcileNodes records gossip's view of the members as node states (a
// death once it outlasted downGrace; dead holds when each member was first
// seen dead) and Raft's as voter flags. It returns when to look again for
// a death still within its grace (zero if none).
func (m *Manager) reconcileNodes(ctx context.Context, dead map[string]time.Time) (next time.Time, err error) {
	m.mu.Lock()
	g, fsm, rn := m.gossip, m.fsm, m.raft
	m.mu.Unlock()
	view := fsm.State()
	now := time.Now().UTC()
	grace := m.downGrace()
	seen := map[string]bool{}
	for _, mem := range g.Members() {
		seen[mem.ID] = true
		if mem.State != gossip.StateDead {
			delete(dead, mem.ID)
		}
		n, ok := view.Node(mem.ID)
		if !ok {
			continue // recorded by its join
		}
		want := nodeStateOf(mem.State)
		if n.State == state.NodeLeft && want != state.NodeReady {
			continue // it left on purpose; gossip's later view adds nothing
		}
		if want == state.NodeDown && n.State != state.NodeDown {
			since, ok := dead[mem.ID]
			if !ok {
				since = now
				dead[mem.ID] = since
			}
			if wait := since.Add(grace); now.Before(wait) {
				if next.IsZero() || wait.Before(next) {
					next = wait
				}
				continue
			}
		}
		if n.State != want {
			cmd, err := state.SetNodeState(n.ID, want, now)
			if err == nil {
				_, err = m.apply(ctx, cmd)
			}
			if err != nil {
				return next, fmt.Errorf("record node %s %s: %w", n.Name, want, err)
			}
		}
		// A node that came back with another address, labels or version.
		if want == state.NodeReady && mem.Meta.APIAddr != "" && (mem.Meta.APIAddr != n.Addr.API || mem.Meta.Version != n.Version) {
			n.Addr.API, n.Addr.Raft, n.Addr.Gossip = mem.Meta.APIAddr, mem.Meta.RaftAddr, mem.Addr.String()
			n.Version = mem.Meta.Version
			if cmd, err := state.UpsertNode(n, now); err == nil {
				// A tainted node's record waits for the upgrade of the
				// nodes too old for it (see levels.go); the others go on.
				if _, err := m.apply(ctx, cmd); err != nil && !errors.Is(err, state.ErrNeedsLevel) {
					return next, err
				}
			}
		}
	}
	for id := range dead {
		if !seen[id] {
			delete(dead, id)
		}
	}
	servers, err := rn.Servers()
	if err != nil {
		return next, err
	}
	voter := map[string]bool{}
	for _, s := range servers {
		voter[s.ID] = s.Voter
		// A node that came back with a new address: Raft learns it too.
		if mem, ok := g.Member(s.ID); ok && !s.Leader && mem.State == gossip.StateAlive && mem.Meta.RaftAddr != "" && mem.Meta.RaftAddr != s.Addr {
			if err := rn.AddNonvoter(ctx, s.ID, mem.Meta.RaftAddr); err != nil {
				return next, fmt.Errorf("move raft server %s to %s: %w", s.ID, mem.Meta.RaftAddr, err)
			}
			m.log.Info("node moved to a new address", "node", s.ID, "raft", mem.Meta.RaftAddr)
		}
	}
	// A member that autopilot removed from Raft while it was dead, and that
	// is back: add it again (as a non-voter; autopilot promotes it).
	for _, mem := range g.Members() {
		if _, inRaft := voter[mem.ID]; inRaft || mem.State != gossip.StateAlive || mem.Meta.RaftAddr == "" {
			continue
		}
		if n, ok := view.Node(mem.ID); ok && n.State != state.NodeLeft {
			if err := rn.AddNonvoter(ctx, mem.ID, mem.Meta.RaftAddr); err != nil {
				return next, fmt.Errorf("add returning node %s to raft: %w", n.Name, err)
			}
			m.log.Info("a removed node is back: added to raft again", "node", n.Name)
		}
	}
	for _, n := range view.Nodes() {
		if n.Voter != voter[n.ID] {
			if cmd, err := state.SetNodeVoter(n.ID, voter[n.ID]); err == nil {
				if _, err := m.apply(ctx, cmd); err != nil {
					return next, err
				}
			}
		}
	}
	return next, nil
}

// memberLoop keeps the peers to rejoin through up to date, and rejoins
// gossip while this node sees no other member (after a restart, or when
// every peer it knew was down).
func (m *Manager) memberLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		m.chMu.Lock()
		changed := m.changed
		m.chMu.Unlock()
		m.savePeers()
		m.rejoinGossip(ctx)
		m.renewCert(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
	}
}

// rejoinGossip joins gossip through the known peers and the addresses in the
// state when this node is alone.
func (m *Manager) rejoinGossip(ctx context.Context) {
	m.mu.Lock()
	g, ms, fsm := m.gossip, m.ms, m.fsm
	m.mu.Unlock()
	if g == nil {
		return
	}
	self := g.LocalAddr().String()
	// Alone, or moved: the others still hold this node at its old address
	// and refuse its gossip until they see it dead; joining again (a full
	// state exchange) gets the new address accepted without waiting for the
	// periodic one.
	m.mu.Lock()
	moved := time.Now().Before(m.movedUntil)
	m.mu.Unlock()
	if g.NumMembers() > 1 && !moved {
		return
	}
	seen := map[string]bool{self: true}
	var peers []string
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			peers = append(peers, a)
		}
	}
	for _, p := range ms.Peers {
		add(p)
	}
	for _, n := range fsm.State().Nodes() {
		if n.ID != ms.NodeID && n.State != state.NodeLeft {
			add(n.Addr.Gossip)
		}
	}
	if len(peers) == 0 {
		return
	}
	jctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if n, err := g.Join(jctx, peers); err == nil {
		m.log.Info("gossip rejoined", "reached", n)
	}
}

// savePeers records the live members' gossip addresses for the next start.
func (m *Manager) savePeers() {
	peers := m.gossipPeers()
	m.mu.Lock()
	ms := m.ms
	m.mu.Unlock()
	if ms == nil || len(peers) == 0 {
		return
	}
	slices.Sort(peers)
	if slices.Equal(peers, ms.Peers) {
		return
	}
	c := *ms
	c.Peers = peers
	if err := m.saveMembership(&c); err != nil {
		m.log.Warn("save peers", "err", err)
		return
	}
	m.mu.Lock()
	m.ms = &c
	m.mu.Unlock()
}

// onVotersChange runs on every node when the voter set changes. A node that
// is no longer a voter wipes the CA key; the leader hands it to the voters.
func (m *Manager) onVotersChange(ctx context.Context, voters []string) {
	m.mu.Lock()
	ms, rn, ca := m.ms, m.raft, m.ca
	m.mu.Unlock()
	if ms == nil || rn == nil {
		return
	}
	self := slices.Contains(voters, ms.NodeID)
	if !self && ca != nil && len(voters) > 0 {
		m.mu.Lock()
		m.ca = nil
		m.mu.Unlock()
		if err := wipeFile(m.path(caKeyFile)); err != nil {
			m.log.Warn("wipe the CA key", "err", err)
		}
		m.log.Info("no longer a voter: CA key wiped")
		return
	}
	if !rn.IsLeader() || ca == nil {
		return
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return
	}
	for _, id := range voters {
		if id == ms.NodeID {
			continue
		}
		id := id
		m.goLoop(ctx, func(ctx context.Context) {
			for attempt := 0; attempt < 5 && ctx.Err() == nil; attempt++ {
				if err := m.sendCAKey(ctx, id, keyPEM); err == nil {
					return
				} else {
					m.log.Debug("hand the CA key to a voter", "node", id, "err", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		})
	}
}

func (m *Manager) sendCAKey(ctx context.Context, nodeID string, keyPEM []byte) error {
	addr := m.apiAddrOf(nodeID)
	if addr == "" {
		return fmt.Errorf("no address for node %s", nodeID)
	}
	m.mu.Lock()
	client := m.client
	m.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+pathCAKey, bytes.NewReader(keyPEM))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s: %s", addr, resp.Status)
	}
	return nil
}

// HandleCAKey receives the CA key from the leader when this node is a
// voter. callerID is the node id of the caller's certificate.
func (m *Manager) HandleCAKey(w http.ResponseWriter, r *http.Request, callerID string) {
	_, rn, _, err := m.member()
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if leader, _ := rn.Leader(); leader == "" || leader != callerID {
		http.Error(w, "only the leader hands out the CA key", http.StatusForbidden)
		return
	}
	keyPEM, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read key", http.StatusBadRequest)
		return
	}
	caPEM, err := readSmall(m.path(caCertFile))
	if err != nil {
		http.Error(w, "read CA", http.StatusInternalServerError)
		return
	}
	ca, err := pki.ParseCA(caPEM, keyPEM)
	if err != nil {
		http.Error(w, "the key does not match the cluster CA", http.StatusBadRequest)
		return
	}
	if err := writeFileAtomic(m.path(caKeyFile), keyPEM, 0o600); err != nil {
		http.Error(w, "store key", http.StatusInternalServerError)
		return
	}
	m.mu.Lock()
	m.ca = ca
	m.mu.Unlock()
	m.log.Info("received the CA key: this node is a voter")
	w.WriteHeader(http.StatusNoContent)
}

// wipeFile overwrites a file with zeros in place before removing it.
func wipeFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err == nil {
		_, _ = f.Write(make([]byte, fi.Size()))
		_ = f.Sync()
	}
	f.Close()
	return removeIfExists(path)
}

const pathRenew = "/v1/cluster/internal/renew"

// renewCert renews this node's certificate from two thirds of its life on:
// a new key, signed by the leader, which records the new serial.
func (m *Manager) renewCert(ctx context.Context) {
	m.mu.Lock()
	id, ms, rn := m.identity, m.ms, m.raft
	client := m.client
	m.mu.Unlock()
	if id == nil || !pki.NeedsRenewal(id.Cert(), time.Now()) {
		return
	}
	key, keyPEM, err := pki.NewKey()
	if err != nil {
		return
	}
	csr, err := pki.CreateCSR(key, pki.NodeIdentity{ID: ms.NodeID, Name: ms.NodeName})
	if err != nil {
		return
	}
	leaderID, _ := rn.Leader()
	addr := m.apiAddrOf(leaderID)
	if addr == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+pathRenew, bytes.NewReader(csr))
	if err != nil {
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		m.log.Warn("certificate renewal: leader unreachable", "err", err)
		return
	}
	defer resp.Body.Close()
	certPEM, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		m.log.Warn("certificate renewal refused", "status", resp.Status, "msg", string(bytes.TrimSpace(certPEM)))
		return
	}
	if err := id.Update(certPEM, keyPEM); err != nil {
		m.log.Warn("certificate renewal: bad certificate", "err", err)
		return
	}
	if err := errors.Join(writeFileAtomic(m.path(nodeKeyFile), keyPEM, 0o600), writeFileAtomic(m.path(nodeCertFile), certPEM, 0o600)); err != nil {
		m.log.Error("certificate renewal: store", "err", err)
		return
	}
	m.log.Info("node certificate renewed", "expires", id.Cert().NotAfter)
}

// HandleRenew signs a renewal for the calling node (leader only): the names
// come from the node's record, never from the request.
func (m *Manager) HandleRenew(w http.ResponseWriter, r *http.Request, callerID string) {
	_, rn, fsm, err := m.member()
	if err != nil {
		writeAPIError(w, err)
		return
	}
	m.mu.Lock()
	ca := m.ca
	m.mu.Unlock()
	if !rn.IsLeader() || ca == nil {
		http.Error(w, "renewals go to the leader", http.StatusMisdirectedRequest)
		return
	}
	n, ok := fsm.State().Node(callerID)
	if !ok {
		http.Error(w, "unknown node", http.StatusForbidden)
		return
	}
	csr, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read CSR", http.StatusBadRequest)
		return
	}
	ip, err := netip.ParseAddr(hostOf(n.Addr.API))
	if err != nil {
		http.Error(w, "node address", http.StatusInternalServerError)
		return
	}
	nid := pki.NodeIdentity{ID: n.ID, Name: n.Name, IPs: []net.IP{ip.AsSlice()}, DNSNames: []string{nodeServerName}}
	certPEM, serial, err := ca.SignNode(csr, nid, m.cfg.CertTTL, time.Now().UTC())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if cmd, err := state.SetNodeCert(n.ID, serial); err == nil {
		if _, err := m.apply(r.Context(), cmd); err != nil {
			writeAPIError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(certPEM)
}

const pathCAKeyFetch = "/v1/cluster/internal/ca-key-fetch"

// fetchCAKey gets the CA key from another voter, for a voter that became
// leader before the old leader handed it the key.
func (m *Manager) fetchCAKey(ctx context.Context) {
	m.mu.Lock()
	rn, ms, client, ca := m.raft, m.ms, m.client, m.ca
	m.mu.Unlock()
	if rn == nil || ca != nil {
		return
	}
	servers, err := rn.Servers()
	if err != nil {
		return
	}
	for _, s := range servers {
		if !s.Voter || s.ID == ms.NodeID {
			continue
		}
		addr := m.apiAddrOf(s.ID)
		if addr == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+pathCAKeyFetch, nil)
		if err != nil {
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		keyPEM, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		caPEM, err := readSmall(m.path(caCertFile))
		if err != nil {
			return
		}
		got, err := pki.ParseCA(caPEM, keyPEM)
		if err != nil {
			continue
		}
		if err := writeFileAtomic(m.path(caKeyFile), keyPEM, 0o600); err != nil {
			return
		}
		m.mu.Lock()
		m.ca = got
		m.mu.Unlock()
		m.log.Info("fetched the CA key from another voter", "from", s.ID)
		return
	}
}

// HandleCAKeyFetch gives the CA key to a caller that is a voter.
func (m *Manager) HandleCAKeyFetch(w http.ResponseWriter, r *http.Request, callerID string) {
	_, rn, _, err := m.member()
	if err != nil {
		writeAPIError(w, err)
		return
	}
	m.mu.Lock()
	ca := m.ca
	m.mu.Unlock()
	servers, err := rn.Servers()
	voter := false
	for _, s := range servers {
		voter = voter || (s.ID == callerID && s.Voter)
	}
	if err != nil || !voter {
		http.Error(w, "only voters hold the CA key", http.StatusForbidden)
		return
	}
	if ca == nil {
		http.Error(w, "this node does not hold the CA key", http.StatusNotFound)
		return
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		http.Error(w, "key", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(keyPEM)
}
