package consensus

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Metrics counts what the node has seen since it was opened. The agent
// exports it (Stats().Metrics); Config.OnApply gives every latency, for a
// histogram.
type Metrics struct {
	// LeaderChanges counts the times this node learned of a new leader
	// (including re-elections of the same server in a new term).
	LeaderChanges uint64
	// Applies counts successful Apply calls, ApplyErrors failed ones
	// (NotLeader included).
	Applies     uint64
	ApplyErrors uint64
	// ApplyLatencyTotal, ApplyLatencyMax and ApplyLatencyLast measure the
	// successful Applies, from the call until the leader's FSM applied the
	// command (commit latency plus the FSM's own time).
	ApplyLatencyTotal time.Duration
	ApplyLatencyMax   time.Duration
	ApplyLatencyLast  time.Duration
}

type metrics struct {
	mu sync.Mutex
	m  Metrics
}

func (m *metrics) observeApply(d time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.m.ApplyErrors++
		return
	}
	m.m.Applies++
	m.m.ApplyLatencyTotal += d
	m.m.ApplyLatencyLast = d
	m.m.ApplyLatencyMax = max(m.m.ApplyLatencyMax, d)
}

func (m *metrics) leaderChanged() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m.LeaderChanges++
}

func (m *metrics) snapshot() Metrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m
}

// leadershipLoop follows raft's leadership notifications: it runs autopilot
// while this node leads and forwards the state to LeaderCh. Raft blocks on
// these notifications, so the loop does nothing slow.
func (n *Node) leadershipLoop() {
	defer n.loops.Done()
	for {
		select {
		case <-n.stop:
			return
		case leader := <-n.notifyCh:
			if leader {
				n.log.Info("raft: this node is now the leader")
				n.pilot.Start(n.ctx)
			} else {
				n.log.Info("raft: this node is no longer the leader")
				n.pilot.Stop() // returns at once; Shutdown waits for it
			}
			select {
			case <-n.leaderCh: // drop the value nobody read yet
			default:
			}
			n.leaderCh <- leader // the only sender, and the buffer is now empty
		}
	}
}

// observeLoop consumes raft observations: leader changes (metrics,
// OnStateChange), heartbeat failures (autopilot's default health) and
// configuration changes (OnVotersChange, also polled every
// Timing.VoterWatch since followers observe no configuration events).
func (n *Node) observeLoop() {
	defer n.loops.Done()
	tick := time.NewTicker(n.cfg.Timing.VoterWatch)
	defer tick.Stop()
	var (
		leaderID raft.ServerID
		voters   []string
		known    bool // voters has been read once
	)
	checkVoters := func() {
		if n.cfg.OnVotersChange == nil {
			return
		}
		f := n.raft.GetConfiguration()
		if f.Error() != nil {
			return
		}
		var now []string
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				now = append(now, string(s.ID))
			}
		}
		sort.Strings(now)
		if known && slices.Equal(now, voters) {
			return
		}
		voters, known = now, true
		n.cfg.OnVotersChange(slices.Clone(now))
	}
	stateChanged := func() {
		if n.cfg.OnStateChange == nil {
			return
		}
		id, addr := n.Leader()
		n.cfg.OnStateChange(StateChange{State: n.raft.State(), LeaderID: id, LeaderAddr: addr})
	}
	checkVoters()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
			checkVoters()
		case o := <-n.obsCh:
			switch d := o.Data.(type) {
			case raft.LeaderObservation:
				if d.LeaderID != leaderID && d.LeaderID != "" {
					n.metrics.leaderChanged()
					n.log.Info("raft leader elected", "leader", string(d.LeaderID), "leader_addr", string(d.LeaderAddr), "term", n.raft.CurrentTerm())
				}
				leaderID = d.LeaderID
				n.peers.reset() // heartbeat failures belong to one leadership
				stateChanged()
				checkVoters()
			case raft.RaftState:
				stateChanged()
			case raft.PeerObservation:
				if d.Removed {
					n.peers.resumed(d.Peer.ID)
				}
				checkVoters()
			case raft.FailedHeartbeatObservation:
				n.peers.failed(d.PeerID, d.LastContact, time.Now())
			case raft.ResumedHeartbeatObservation:
				n.peers.resumed(d.PeerID)
			}
		}
	}
}
