package consensus

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Timing holds the timeouts of the Raft node and of autopilot. Use LAN or
// Slow; a zero field takes its value from LAN.
//
// How the numbers relate to failover: the leader heartbeats every follower
// about every HeartbeatTimeout/10. A follower's timer fires at a random time
// in [HeartbeatTimeout, 2×HeartbeatTimeout) and starts an election when the
// last contact with the leader is older than HeartbeatTimeout; a vote is only
// granted by servers whose own timer has also given up on the old leader. So
// after a leader dies, a new one is elected after HeartbeatTimeout to about
// 3×HeartbeatTimeout (plus ElectionTimeout when a vote splits), and the next
// write commits one round trip later.
//
// The trade-off: a smaller HeartbeatTimeout fails over faster but turns any
// stall longer than it (a GC pause, a starved CPU, a congested or lossy link;
// about ten heartbeats missed in a row) into a needless election, during
// which writes wait. LeaderLeaseTimeout is how long a leader that cannot
// reach a quorum keeps leading before it steps down; it must not exceed
// HeartbeatTimeout.
type Timing struct {
	// HeartbeatTimeout is how long a follower goes without hearing from the
	// leader before it starts an election.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for an election to
	// finish before it starts another one.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader keeps leading without contact
	// with a quorum.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how often an idle leader sends every follower an
	// AppendEntries, which tells it the commit index: it bounds how long a
	// follower's FSM lags the leader's after the last write (up to 2× with
	// raft's jitter). It does not delay writes, which replicate at once.
	CommitTimeout time.Duration
	// RPCTimeout bounds dialling a peer and each network read/write of the
	// transport (snapshots get proportionally longer).
	RPCTimeout time.Duration
	// LastContactThreshold: autopilot deems a server unhealthy when the
	// leader has not reached it for longer than this.
	LastContactThreshold time.Duration
	// AutopilotUpdate is how often the leader refreshes the health of every
	// server.
	AutopilotUpdate time.Duration
	// AutopilotReconcile is how often the leader promotes and demotes
	// voters towards the target.
	AutopilotReconcile time.Duration
	// VoterWatch is how often every node re-reads the Raft configuration to
	// report voter changes (Config.OnVotersChange); changes the node observes
	// directly are reported at once.
	VoterWatch time.Duration
}

// LAN returns the default timing, tuned for servers on one local network
// (round trips well under 10 ms):
//
//	HeartbeatTimeout 300 ms, ElectionTimeout 300 ms, LeaderLeaseTimeout 250 ms,
//	CommitTimeout 25 ms, RPCTimeout 5 s, LastContactThreshold 1 s,
//	autopilot update 500 ms / reconcile 1 s, voter watch 500 ms.
//
// Failover (leader killed until the next write commits) measured 0.36-0.89 s,
// median 0.65 s, over 30 runs of 3 voters on loopback (TestFailoverDistribution),
// under the 1.5 s goal; the price is that a server must not stall for more
// than ~300 ms.
// hashicorp/raft's defaults (1 s / 1 s / 500 ms / 50 ms) take 2-3 s.
//
// Idle cost: the leader heartbeats each follower every ~30 ms and sends it
// the commit index every 25-50 ms. Five idle servers in one process used 6%
// of a core in total (9% with a 10 ms CommitTimeout, which would only make
// followers' FSMs at most 20 ms fresher after the last write).
func LAN() Timing {
	return Timing{
		HeartbeatTimeout:     300 * time.Millisecond,
		ElectionTimeout:      300 * time.Millisecond,
		LeaderLeaseTimeout:   250 * time.Millisecond,
		CommitTimeout:        25 * time.Millisecond,
		RPCTimeout:           5 * time.Second,
		LastContactThreshold: time.Second,
		AutopilotUpdate:      500 * time.Millisecond,
		AutopilotReconcile:   time.Second,
		VoterWatch:           500 * time.Millisecond,
	}
}

// Slow returns a timing for servers joined by slow or lossy links (WAN,
// cellular, round trips of hundreds of milliseconds):
//
//	HeartbeatTimeout 2 s, ElectionTimeout 2 s, LeaderLeaseTimeout 1 s,
//	CommitTimeout 50 ms, RPCTimeout 15 s, LastContactThreshold 5 s,
//	autopilot update 2 s / reconcile 10 s, voter watch 2 s.
//
// Failover takes about 3-6 s, in exchange for riding out stalls of ~2 s.
func Slow() Timing {
	return Timing{
		HeartbeatTimeout:     2 * time.Second,
		ElectionTimeout:      2 * time.Second,
		LeaderLeaseTimeout:   time.Second,
		CommitTimeout:        50 * time.Millisecond,
		RPCTimeout:           15 * time.Second,
		LastContactThreshold: 5 * time.Second,
		AutopilotUpdate:      2 * time.Second,
		AutopilotReconcile:   10 * time.Second,
		VoterWatch:           2 * time.Second,
	}
}

// withDefaults fills the zero fields of t from LAN.
func (t Timing) withDefaults() Timing {
	d := LAN()
	fill := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&t.HeartbeatTimeout, d.HeartbeatTimeout)
	fill(&t.ElectionTimeout, d.ElectionTimeout)
	fill(&t.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	fill(&t.CommitTimeout, d.CommitTimeout)
	fill(&t.RPCTimeout, d.RPCTimeout)
	fill(&t.LastContactThreshold, d.LastContactThreshold)
	fill(&t.AutopilotUpdate, d.AutopilotUpdate)
	fill(&t.AutopilotReconcile, d.AutopilotReconcile)
	fill(&t.VoterWatch, d.VoterWatch)
	return t
}

// check rejects negative durations; raft.ValidateConfig checks the rest.
func (t Timing) check() error {
	for name, v := range map[string]time.Duration{
		"HeartbeatTimeout": t.HeartbeatTimeout, "ElectionTimeout": t.ElectionTimeout,
		"LeaderLeaseTimeout": t.LeaderLeaseTimeout, "CommitTimeout": t.CommitTimeout,
		"RPCTimeout": t.RPCTimeout, "LastContactThreshold": t.LastContactThreshold,
		"AutopilotUpdate": t.AutopilotUpdate, "AutopilotReconcile": t.AutopilotReconcile,
		"VoterWatch": t.VoterWatch,
	} {
		if v < 0 {
			return fmt.Errorf("timing: %s is negative (%s)", name, v)
		}
	}
	return nil
}

// raftConfig builds the hashicorp/raft configuration for a node.
func (t Timing) raftConfig(id string) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	c.HeartbeatTimeout = t.HeartbeatTimeout
	c.ElectionTimeout = t.ElectionTimeout
	c.LeaderLeaseTimeout = t.LeaderLeaseTimeout
	c.CommitTimeout = t.CommitTimeout
	// A server removed from the configuration shuts its Raft down rather
	// than lingering as a leaderless follower that could confuse operators.
	c.ShutdownOnRemove = true
	c.NoLegacyTelemetry = true
	return c
}
