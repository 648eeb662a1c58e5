package cluster

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"kedge/api"
	"kedge/cluster/consensus"
	"kedge/cluster/gossip"
	"kedge/cluster/state"
	"kedge/security/pki"
)

func (m *Manager) raftNode() *consensus.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.raft
}

// Status reports the control plane's health as this node sees it.
func (m *Manager) Status(ctx context.Context) (api.ClusterStatus, error) {
	ms, rn, fsm, err := m.member()
	if err != nil {
		if st, ok := m.expiredStatus(); ok {
			return st, nil
		}
		return api.ClusterStatus{Member: false, NodeName: m.cfg.NodeName}, nil
	}
	st := rn.Stats()
	view := fsm.State()
	out := api.ClusterStatus{
		Member: true, ClusterID: ms.ClusterID, NodeID: ms.NodeID, NodeName: ms.NodeName,
		RaftState: st.State, LeaderID: st.LeaderID, Term: st.Term, AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex,
		Voters: st.Voters, Members: len(view.Nodes()),
	}
	if n, ok := view.Node(st.LeaderID); ok {
		out.LeaderName = n.Name
	}
	alive := 0
	servers, _ := rn.Servers()
	for _, s := range servers {
		if s.Voter && m.alive(s.ID) {
			alive++
		}
	}
	quorum := out.Voters/2 + 1
	out.Healthy = st.LeaderID != "" && alive >= quorum
	out.FaultTolerance = max(0, alive-quorum)
	switch {
	case st.LeaderID == "":
		out.Warnings = append(out.Warnings, "no leader: the cluster cannot accept changes (a quorum of voters is needed; see kedge recover)")
	case alive < quorum:
		out.Warnings = append(out.Warnings, fmt.Sprintf("only %d of %d voters alive: quorum (%d) is lost", alive, out.Voters, quorum))
	case out.Voters < 3:
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d voter: no fault tolerance (three nodes give one)", out.Voters))
	case out.FaultTolerance == 0:
		out.Warnings = append(out.Warnings, "no fault tolerance: losing one more voter stops the cluster")
	}
	if warn := m.certWarning(); warn != "" {
		out.Warnings = append(out.Warnings, warn)
	}
	return out, nil
}

// alive reports whether gossip sees a node alive or suspect, that is not
// (yet) dead or gone (this node always is).
func (m *Manager) alive(id string) bool {
	m.mu.Lock()
	g, ms := m.gossip, m.ms
	m.mu.Unlock()
	if ms != nil && ms.NodeID == id {
		return true
	}
	if g == nil {
		return false
	}
	mem, ok := g.Member(id)
	return ok && (mem.State == gossip.StateAlive || mem.State == gossip.StateSuspect)
}

// Nodes lists the cluster's nodes, with the roles Raft gives them.
func (m *Manager) Nodes(ctx context.Context) ([]api.ClusterNode, error) {
	_, rn, fsm, err := m.member()
	if err != nil {
		return nil, err
	}
	leaderID, _ := rn.Leader()
	servers, _ := rn.Servers()
	voter := map[string]bool{}
	for _, s := range servers {
		voter[s.ID] = s.Voter
	}
	var out []api.ClusterNode
	for _, n := range fsm.State().Nodes() {
		out = append(out, api.ClusterNode{
			ID: n.ID, Name: n.Name, Address: hostOf(n.Addr.API), APIAddr: n.Addr.API, RaftAddr: n.Addr.Raft, GossipAddr: n.Addr.Gossip,
			Voter: voter[n.ID], Leader: n.ID == leaderID, State: string(n.State), StateSince: n.StateSince, JoinedAt: n.JoinedAt,
			Version: n.Version, Labels: n.Labels, Cordoned: n.Cordoned, Taints: taintStrings(n.Taints),
			Capacity: api.NodeResources{CPUMillis: n.Capacity.CPUMillis, MemoryBytes: n.Capacity.MemoryBytes},
			Reserve:  api.NodeResources{CPUMillis: n.Reserved.CPUMillis, MemoryBytes: n.Reserved.MemoryBytes},
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Events returns the cluster events after sinceIndex, oldest first.
func (m *Manager) Events(ctx context.Context, sinceIndex uint64) ([]api.ClusterEvent, error) {
	_, _, fsm, err := m.member()
	if err != nil {
		return nil, err
	}
	var out []api.ClusterEvent
	for _, e := range fsm.State().Events(sinceIndex) {
		out = append(out, api.ClusterEvent{Index: e.Index, Time: e.Time, Kind: e.Kind, Object: e.Object, Message: e.Message})
	}
	return out, nil
}

// StateIndex returns the Raft index of the replicated state this node's
// reads see now, with a channel closed once a later entry is applied, for
// blocking queries; 0 and a nil channel on a standalone engine.
func (m *Manager) StateIndex() (uint64, <-chan struct{}) {
	m.mu.Lock()
	fsm := m.fsm
	m.mu.Unlock()
	if fsm == nil {
		return 0, nil
	}
	view := fsm.State()
	return view.Index(), view.Changed()
}

// Changed returns a channel closed at the next change of the replicated
// state or of gossip.
func (m *Manager) Changed() <-chan struct{} {
	m.chMu.Lock()
	ch := m.changed
	m.chMu.Unlock()
	m.mu.Lock()
	fsm := m.fsm
	m.mu.Unlock()
	if fsm == nil {
		return ch
	}
	stateCh := fsm.State().Changed()
	out := make(chan struct{})
	go func() { // ends at the first of the two; both always fire eventually
		select {
		case <-ch:
		case <-stateCh:
		}
		close(out)
	}()
	return out
}

// CreateToken makes a join token; its secret is shown once.
func (m *Manager) CreateToken(ctx context.Context, req api.TokenCreateRequest) (*api.JoinToken, error) {
	_, _, fsm, err := m.member()
	if err != nil {
		return nil, err
	}
	ttl := defaultTokenTTL
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl < 0 {
			return nil, fmt.Errorf("--ttl %q: want a duration such as 24h, or 0 for none: %w", req.TTL, api.ErrInvalid)
		}
	}
	if req.Uses < 0 {
		return nil, fmt.Errorf("--uses %d: want 0 (unlimited) or more: %w", req.Uses, api.ErrInvalid)
	}
	cl, ok := fsm.State().Cluster()
	if !ok {
		return nil, fmt.Errorf("the cluster record is not replicated here yet: %w", api.ErrConflict)
	}
	caCert, err := pki.ParseCertPEM([]byte(cl.CACertPEM))
	if err != nil {
		return nil, err
	}
	tok, err := pki.NewToken(pki.SPKIHash(caCert))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	jt := state.JoinToken{ID: tok.ID, SecretHash: pki.HashSecret(tok.Secret), Description: req.Description, Role: "node", CreatedAt: now, UsesLeft: state.Unlimited}
	if ttl > 0 {
		jt.ExpiresAt = now.Add(ttl)
	}
	if req.Uses > 0 {
		jt.UsesLeft = int64(req.Uses)
	}
	cmd, err := state.CreateJoinToken(jt)
	if err != nil {
		return nil, fmt.Errorf("token: %v: %w", err, api.ErrInvalid)
	}
	if _, err := m.apply(ctx, cmd); err != nil {
		return nil, err
	}
	out := tokenAPI(jt)
	out.Token = tok.String()
	return &out, nil
}

func tokenAPI(t state.JoinToken) api.JoinToken {
	return api.JoinToken{ID: t.ID, Description: t.Description, Created: t.CreatedAt, Expires: t.ExpiresAt, UsesLeft: int(t.UsesLeft), Revoked: t.Revoked}
}

// Tokens lists the join tokens (never their secrets).
func (m *Manager) Tokens(ctx context.Context) ([]api.JoinToken, error) {
	_, _, fsm, err := m.member()
	if err != nil {
		return nil, err
	}
	out := []api.JoinToken{}
	for _, t := range fsm.State().Tokens() {
		out = append(out, tokenAPI(t))
	}
	return out, nil
}

// RevokeToken stops a join token from admitting machines.
func (m *Manager) RevokeToken(ctx context.Context, id string) error {
	if _, _, _, err := m.member(); err != nil {
		return err
	}
	// No local check first: this node's copy may lag the leader's.
	cmd, err := state.RevokeJoinToken(id, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("revoke: %v: %w", err, api.ErrInvalid)
	}
	_, err = m.apply(ctx, cmd)
	return err
}

// CheckToken authenticates a bearer token against the replicated API tokens.
func (m *Manager) CheckToken(secret string) (subject, role string, ok bool) {
	m.mu.Lock()
	fsm := m.fsm
	m.mu.Unlock()
	if fsm == nil || secret == "" {
		return "", "", false
	}
	t, ok := fsm.State().APITokenByHash(pki.HashSecret(secret))
	if !ok {
		return "", "", false
	}
	return t.Name, t.Role, true
}

// readSmall reads a small file; a missing one is empty.
func readSmall(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	return b, err
}

func hostOf(hostport string) string {
	for i := len(hostport) - 1; i >= 0; i-- {
		if hostport[i] == ':' {
			h := hostport[:i]
			if len(h) > 1 && h[0] == '[' {
				h = h[1 : len(h)-1]
			}
			return h
		}
	}
	return hostport
}

// Metrics is a point-in-time view of this member for /metrics.
type Metrics struct {
	// Member is false on a standalone engine; the rest is then zero.
	Member bool
	Raft   consensus.Stats
	// Gossip counts the members gossip knows, by state (alive, suspect,
	// dead, left).
	Gossip map[string]int
}

// Metrics returns the member's Raft and gossip figures.
func (m *Manager) Metrics() Metrics {
	m.mu.Lock()
	rn, g := m.raft, m.gossip
	m.mu.Unlock()
	if rn == nil || g == nil {
		return Metrics{}
	}
	out := Metrics{Member: true, Raft: rn.Stats(), Gossip: map[string]int{"alive": 0, "suspect": 0, "dead": 0, "left": 0}}
	for _, mem := range g.Members() {
		out.Gossip[mem.State.String()]++
	}
	return out
}

// BackupCA returns the cluster CA (certificate and key) encrypted with the
// passphrase, for disaster recovery. Only voters hold the key.
func (m *Manager) BackupCA(ctx context.Context, passphrase []byte) ([]byte, error) {
	if _, _, _, err := m.member(); err != nil {
		return nil, err
	}
	if len(passphrase) < 12 {
		return nil, fmt.Errorf("the passphrase must have at least 12 characters: %w", api.ErrInvalid)
	}
	m.mu.Lock()
	ca := m.ca
	m.mu.Unlock()
	if ca == nil {
		return nil, fmt.Errorf("this node is not a voter and does not hold the CA key: run it on a voter (kedge nodes shows them): %w", api.ErrConflict)
	}
	return pki.EncryptCA(ca, passphrase)
}

func taintStrings(ts []state.Taint) []string {
	var out []string
	for _, t := range ts {
		kv := t.Key
		if t.Value != "" {
			kv += "=" + t.Value
		}
		out = append(out, kv+":"+t.Effect)
	}
	return out
}
