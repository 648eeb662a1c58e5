package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"kedge/api"
	"kedge/cluster/consensus"
	"kedge/cluster/state"
)

const pathRemoveServer = "/v1/cluster/internal/remove-server"

// DefaultLeaveDrainTimeout bounds how long Leave waits for the node's pods
// to be replaced elsewhere when the request names no timeout.
const DefaultLeaveDrainTimeout = 60 * time.Second

// Leave takes this node out of the cluster: it drains the node first (see
// Drain: cordoned, its Deployments' pods replaced elsewhere within their
// rollout bounds, its bare pods started elsewhere before they stop; a
// DaemonSet's pod stops with the leave), waiting up to req.DrainTimeout, then hands over leadership if it
// leads, leaves the Raft configuration, then gossip, and becomes a
// standalone engine again. It refuses when that would lose the quorum (or
// end a one-voter cluster), and fails when the drain does not finish in
// time (the node stays cordoned), unless req.Force, which also skips the
// drain: the node's pods are then replaced once it is gone.
func (m *Manager) Leave(ctx context.Context, req api.LeaveRequest) error {
	force := req.Force
	ms, rn, _, err := m.member()
	if err != nil {
		return err
	}
	servers, err := rn.Servers()
	if err != nil {
		return err
	}
	voters, aliveOthers, isVoter := 0, 0, false
	for _, s := range servers {
		if !s.Voter {
			continue
		}
		voters++
		if s.ID == ms.NodeID {
			isVoter = true
		} else if m.alive(s.ID) {
			aliveOthers++
		}
	}
	if isVoter && !force {
		if voters == 1 {
			return fmt.Errorf("this node is the cluster's only voter: leaving ends the cluster (use --force to do it anyway): %w", api.ErrConflict)
		}
		if need := (voters-1)/2 + 1; aliveOthers < need {
			return fmt.Errorf("leaving would lose the quorum: %d other voters alive, %d needed (use --force to leave anyway): %w", aliveOthers, need, api.ErrConflict)
		}
	}
	if !force && (voters > 1 || !isVoter) {
		if err := m.drainForLeave(ctx, ms.NodeID, req.DrainTimeout); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	if voters > 1 || !isVoter {
		if cmd, err := state.SetNodeState(ms.NodeID, state.NodeLeft, now); err == nil {
			if _, err := m.apply(ctx, cmd); err != nil && !force {
				return fmt.Errorf("record the leave: %w", err)
			}
		}
		if rn.IsLeader() {
			if err := rn.TransferLeadership(ctx); err != nil && !force {
				return fmt.Errorf("hand over leadership: %w", err)
			}
		}
		if err := m.removeServer(ctx, ms.NodeID); err != nil && !force {
			return fmt.Errorf("leave the raft configuration: %w", err)
		}
		// Its record goes (the event log keeps the leave) and its
		// certificate is revoked: coming back takes a new join.
		if cmd, err := state.DeleteNode(ms.NodeID, time.Now().UTC()); err == nil {
			if _, err := m.apply(ctx, cmd); err != nil {
				m.log.Warn("remove this node's record", "err", err)
			}
		}
		// The drain mark goes too: a node that joins again under its
		// previous id must not be drained at once.
		if _, _, fsm, err := m.member(); err == nil {
			if _, marked := fsm.State().Object(drainKey(ms.NodeID)); marked {
				if cmd, err := state.DeleteObject(drainKey(ms.NodeID), time.Now().UTC()); err == nil {
					if _, err := m.apply(ctx, cmd); err != nil {
						m.log.Warn("remove this node's drain mark", "err", err)
					}
				}
			}
		}
	}
	m.mu.Lock()
	g := m.gossip
	m.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := g.Leave(lctx); err != nil {
		m.log.Warn("gossip leave", "err", err)
	}
	cancel()
	if err := m.Close(); err != nil {
		m.log.Warn("stop cluster parts", "err", err)
	}
	_ = wipeFile(m.path(caKeyFile))
	m.wipeMemberFiles()
	_ = writeFileAtomic(m.path("previous_id"), []byte(ms.NodeID+"\n"), 0o600)
	m.mu.Lock()
	m.ms, m.identity, m.fsm, m.ca, m.client = nil, nil, nil, nil, nil
	m.mu.Unlock()
	m.notify()
	m.log.Info("left the cluster", "cluster", ms.ClusterID)
	return nil
}

// drainForLeave drains this node before it leaves, waiting up to timeout
// (DefaultLeaveDrainTimeout when 0) for its pods to be replaced elsewhere.
func (m *Manager) drainForLeave(ctx context.Context, nodeID string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultLeaveDrainTimeout
	}
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A node that has just joined may not have applied its own record yet:
	// catch up with the leader before deciding there is nothing to drain.
	if err := m.ConsistentRead(dctx); err != nil {
		m.log.Warn("catch up before the drain", "err", err)
	}
	_, _, fsm, err := m.member()
	if err != nil {
		return err
	}
	if _, known := fsm.State().Node(nodeID); !known {
		m.log.Info("nothing to drain: this node has no record yet")
		return nil
	}
	m.log.Info("draining before the leave", "timeout", timeout)
	if err := m.Drain(dctx, nodeID); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("drain before leaving: %w", err)
		}
		return fmt.Errorf("drain before leaving, within %s: %w (the node stays cordoned: kedge uncordon undoes it; "+
			"kedge leave --force leaves without waiting, its pods replaced once it is gone): %w", timeout, err, api.ErrConflict)
	}
	m.log.Info("drained: leaving", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// removeServer removes a server from the Raft configuration through the
// leader.
func (m *Manager) removeServer(ctx context.Context, id string) error {
	rn := m.raftNode()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := rn.RemoveServer(ctx, id)
		var nl *consensus.NotLeaderError
		if !errors.As(err, &nl) {
			return err
		}
		if addr := m.apiAddrOf(nl.LeaderID); addr != "" {
			body, _ := json.Marshal(map[string]string{"id": id})
			m.mu.Lock()
			client := m.client
			m.mu.Unlock()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+pathRemoveServer, bytes.NewReader(body))
			if resp, err := client.Do(req); err == nil {
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					return nil
				}
				if resp.StatusCode != http.StatusMisdirectedRequest {
					return fmt.Errorf("leader %s: %s", addr, bytes.TrimSpace(msg))
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove %s from raft: no leader reachable: %w", id, api.ErrConflict)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HandleRemoveServer is the leader's end of removeServer (node callers only).
func (m *Manager) HandleRemoveServer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.ID == "" {
		http.Error(w, "want {\"id\": ...}", http.StatusBadRequest)
		return
	}
	_, rn, _, err := m.member()
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if err := rn.RemoveServer(r.Context(), req.ID); err != nil {
		if errors.Is(err, consensus.ErrNotLeader) {
			http.Error(w, err.Error(), http.StatusMisdirectedRequest)
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RemoveNode removes a node that is gone for good, from any node: it leaves
// the Raft configuration, its record goes and its certificate is revoked.
func (m *Manager) RemoveNode(ctx context.Context, ref string) error {
	ms, _, fsm, err := m.member()
	if err != nil {
		return err
	}
	view := fsm.State()
	n, ok := view.Node(ref)
	if !ok {
		byName := view.NodesByName(ref)
		if len(byName) > 1 {
			return fmt.Errorf("%d nodes are named %s: give the node id: %w", len(byName), ref, api.ErrInvalid)
		}
		if len(byName) == 0 {
			return fmt.Errorf("no such node: %s: %w", ref, api.ErrNotFound)
		}
		n = byName[0]
	}
	if n.ID == ms.NodeID {
		return fmt.Errorf("this is the local node: use kedge leave: %w", api.ErrInvalid)
	}
	if m.alive(n.ID) {
		return fmt.Errorf("node %s is alive: run kedge leave on it (or stop it first): %w", n.Name, api.ErrConflict)
	}
	if err := m.removeServer(ctx, n.ID); err != nil {
		return err
	}
	cmd, err := state.DeleteNode(n.ID, time.Now().UTC())
	if err != nil {
		return err
	}
	_, err = m.apply(ctx, cmd)
	return err
}

// SaveSnapshot writes a consistent snapshot of the cluster state to w.
func (m *Manager) SaveSnapshot(ctx context.Context, w io.Writer) error {
	_, rn, _, err := m.member()
	if err != nil {
		return err
	}
	return rn.SaveSnapshot(ctx, w)
}

// RestoreSnapshot replaces the cluster state with a snapshot; it runs on
// the leader.
func (m *Manager) RestoreSnapshot(ctx context.Context, r io.Reader) error {
	_, rn, _, err := m.member()
	if err != nil {
		return err
	}
	if !rn.IsLeader() {
		id, _ := rn.Leader()
		return fmt.Errorf("restore runs on the leader: run it on node %s (kedge status shows it): %w", id, api.ErrConflict)
	}
	if err := rn.RestoreSnapshot(ctx, r); err != nil {
		if errors.Is(err, consensus.ErrBadSnapshot) {
			return fmt.Errorf("%w: %w", err, api.ErrInvalid)
		}
		return err
	}
	return nil
}

// Recover makes this node, a surviving voter of a cluster that lost its
// quorum, a one-voter cluster with the state it has, at its current
// address. The other old members must be wiped and join again.
func (m *Manager) Recover(ctx context.Context, advertise string) error {
	ms, _, _, err := m.member()
	if err != nil {
		return err
	}
	if advertise != "" {
		ip, err := advertiseIP(advertise)
		if err != nil {
			return err
		}
		ms.Advertise = ip.String()
	}
	if err := m.Close(); err != nil {
		m.log.Warn("stop before recovery", "err", err)
	}
	if err := consensus.Recover(consensus.Config{
		ID: ms.NodeID, DataDir: m.cfg.DataDir, FSM: state.New(), Timing: m.cfg.raftTiming(),
		BindAddr: hostPort(m.cfg.BindAddr, m.cfg.RaftPort), AdvertiseAddr: hostPort(ms.Advertise, m.cfg.RaftPort),
		Logger: m.log,
	}); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	ms.Peers = nil
	if err := m.saveMembership(ms); err != nil {
		return err
	}
	return m.startMember(ctx, ms, false)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
