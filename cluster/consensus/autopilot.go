package consensus

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// delegate is the autopilot.ApplicationIntegration of a Node. Autopilot runs
// only on the leader, so every method here runs there.
type delegate struct {
	n *Node
}

var _ autopilot.ApplicationIntegration = (*delegate)(nil)

// AutopilotConfig returns the autopilot settings derived from the node's
// Config.
func (d *delegate) AutopilotConfig() *autopilot.Config {
	return &autopilot.Config{
		CleanupDeadServers:      true,
		LastContactThreshold:    d.n.cfg.Timing.LastContactThreshold,
		MaxTrailingLogs:         maxTrailingLogs,
		ServerStabilizationTime: d.n.cfg.StabilizationTime,
	}
}

// maxTrailingLogs is how many entries a server may lag the leader and still
// be healthy (only meaningful with a FetchStats that reports real indexes).
const maxTrailingLogs = 1024

// NotifyState records autopilot's latest view for Stats.
func (d *delegate) NotifyState(s *autopilot.State) {
	d.n.pilotMu.Lock()
	d.n.pilotState = s
	d.n.pilotMu.Unlock()
}

// FetchServerStats returns the statistics of servers.
func (d *delegate) FetchServerStats(ctx context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	if f := d.n.cfg.FetchStats; f != nil {
		return f(ctx, servers)
	}
	return d.n.DefaultFetchStats(ctx, servers)
}

// KnownServers returns the servers the application knows of.
func (d *delegate) KnownServers() map[raft.ServerID]*autopilot.Server {
	if f := d.n.cfg.KnownServers; f != nil {
		return f()
	}
	return d.n.defaultKnownServers()
}

// RemoveFailedServer removes a failed server, without blocking autopilot.
func (d *delegate) RemoveFailedServer(srv *autopilot.Server) {
	if f := d.n.cfg.RemoveFailedServer; f != nil {
		f(srv)
		return
	}
	n, id := d.n, srv.ID
	n.goTracked(func() {
		n.log.Info("removing failed raft server", "server", string(id))
		if err := n.raft.RemoveServer(id, 0, n.cfg.Timing.RPCTimeout).Error(); err != nil {
			n.log.Warn("remove failed raft server", "server", string(id), "error", err)
		}
	})
}

// defaultKnownServers reports every server in the Raft configuration as
// alive.
func (n *Node) defaultKnownServers() map[raft.ServerID]*autopilot.Server {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		n.log.Debug("read raft configuration for autopilot", "error", err)
		return nil
	}
	_, leaderID := n.raft.LeaderWithID()
	out := make(map[raft.ServerID]*autopilot.Server)
	for _, s := range f.Configuration().Servers {
		out[s.ID] = &autopilot.Server{
			ID:          s.ID,
			Name:        string(s.ID),
			Address:     s.Address,
			NodeStatus:  autopilot.NodeAlive,
			RaftVersion: int(raft.ProtocolVersionMax),
			IsLeader:    s.ID == leaderID,
		}
	}
	return out
}

// DefaultFetchStats is the statistics used when Config.FetchStats is nil,
// computed by the leader without asking anyone:
//
//   - for itself, its own last log term and index;
//   - for a server the leader's heartbeats currently fail to reach, a
//     LastContact of how long ago it was last reached (never: an hour), so
//     it turns unhealthy after Timing.LastContactThreshold;
//   - for every other server, LastContact 0 and the leader's own term and
//     index.
//
// The simplification: a reachable server is deemed caught up, so a
// non-voter still receiving a large snapshot may be promoted before it holds
// the whole log (Raft stays correct; the new voter just cannot help commit
// until it has caught up). A FetchStats that asks every server for its
// raft.Stats over the cluster API removes it.
//
// A peer counts as failing from a failed heartbeat until raft reports the
// heartbeats resumed, or until no failure has been reported for
// 2×(RPCTimeout+HeartbeatTimeout), should that report have been dropped.
func (n *Node) DefaultFetchStats(_ context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	term, _ := strconv.ParseUint(n.raft.Stats()["last_log_term"], 10, 64)
	index := n.raft.LastIndex()
	now := time.Now()
	out := make(map[raft.ServerID]*autopilot.ServerStats, len(servers))
	for id := range servers {
		st := &autopilot.ServerStats{LastTerm: term, LastIndex: index}
		if since, failing := n.peers.failingSince(id, now); failing {
			st.LastContact = time.Hour
			if !since.IsZero() {
				st.LastContact = now.Sub(since)
			}
		}
		out[id] = st
	}
	return out
}

// peerHealth remembers, on the leader, which peers its heartbeats fail to
// reach (from raft's heartbeat observations). It is reset on every leader
// change.
type peerHealth struct {
	expiry  time.Duration
	mu      sync.Mutex
	failing map[raft.ServerID]peerFailure
}

type peerFailure struct {
	lastContact time.Time // last successful contact (zero: never)
	reported    time.Time // last failed heartbeat
}

// newPeerHealth: a failing peer is reported at least every RPC timeout
// (a hanging dial) plus the heartbeat backoff, so two of those without a
// report mean the failure is over.
func newPeerHealth(t Timing) *peerHealth {
	return &peerHealth{expiry: 2 * (t.RPCTimeout + t.HeartbeatTimeout), failing: map[raft.ServerID]peerFailure{}}
}

func (p *peerHealth) failed(id raft.ServerID, lastContact, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing[id] = peerFailure{lastContact: lastContact, reported: now}
}

func (p *peerHealth) resumed(id raft.ServerID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.failing, id)
}

func (p *peerHealth) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.failing)
}

// failingSince returns the last successful contact with a failing peer.
func (p *peerHealth) failingSince(id raft.ServerID, now time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.failing[id]
	if !ok || now.Sub(f.reported) > p.expiry {
		return time.Time{}, false
	}
	return f.lastContact, true
}
