package consensus

import (
	"sort"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// promoter is Kedge's autopilot.Promoter: it keeps the voter count at the
// target (1, 3 or 5) and replaces failed voters with healthy non-voters.
//
// The policy, given autopilot's view of every server:
//
//  1. Seated voters are the leader, the healthy voters and the voters that
//     failed less than StabilizationTime ago (a short failure does not cost
//     a seat). Ready non-voters are healthy for StabilizationTime.
//  2. target = the largest odd number ≤ min(MaxVoters, seated + ready), ≥ 1.
//  3. If target ≥ seated: all seated voters stay, the longest-stable ready
//     non-voters fill the remaining seats, and every failed voter (past its
//     grace) is demoted, since its seat has been refilled or the smaller
//     odd set is the better quorum (5 voters, 2 dead → 3 healthy voters).
//  4. If target < seated (more healthy voters than an odd target, e.g. two):
//     with failed voters around, nothing changes: a failed voter holds its
//     seat until a replacement is ready, rather than demoting healthy voters
//     and promoting them back when it returns. Otherwise the lowest-ranked
//     voters are demoted down to target. The leader is never demoted.
//
// Autopilot applies the changes one server at a time (a failed voter is
// demoted first while the count is odd), so an even count exists only in
// passing.
type promoter struct {
	maxVoters int
	now       func() time.Time
}

var _ autopilot.Promoter = (*promoter)(nil)

func newPromoter(maxVoters int) *promoter {
	return &promoter{maxVoters: maxVoters, now: time.Now}
}

// GetServerExt returns nil: the promoter keeps no per-server state.
func (p *promoter) GetServerExt(*autopilot.Config, *autopilot.ServerState) any { return nil }

// GetStateExt returns nil: the promoter keeps no cluster state.
func (p *promoter) GetStateExt(*autopilot.Config, *autopilot.State) any { return nil }

// GetNodeTypes marks every server as a potential voter.
func (p *promoter) GetNodeTypes(_ *autopilot.Config, s *autopilot.State) map[raft.ServerID]autopilot.NodeType {
	types := make(map[raft.ServerID]autopilot.NodeType, len(s.Servers))
	for id := range s.Servers {
		types[id] = autopilot.NodeVoter
	}
	return types
}

// FilterFailedServerRemovals allows every removal autopilot proposes;
// autopilot itself never removes a majority of the voters.
func (p *promoter) FilterFailedServerRemovals(_ *autopilot.Config, _ *autopilot.State, failed *autopilot.FailedServers) *autopilot.FailedServers {
	return failed
}

// IsPotentialVoter reports whether servers of type t may vote.
func (p *promoter) IsPotentialVoter(t autopilot.NodeType) bool { return t == autopilot.NodeVoter }

// CalculatePromotionsAndDemotions applies the policy above.
func (p *promoter) CalculatePromotionsAndDemotions(c *autopilot.Config, s *autopilot.State) autopilot.RaftChanges {
	now := p.now()
	// Autopilot shortens the stabilization time right after it starts on a
	// new leader, which has not watched anyone long enough; promotions use
	// its value. The grace of failed voters uses the configured one, so a
	// failover does not instantly reshuffle the voters.
	readyAfter := s.ServerStabilizationTime(c)
	grace := c.ServerStabilizationTime

	var seated, failed, ready []*autopilot.ServerState
	for _, srv := range s.Servers {
		switch srv.State {
		case autopilot.RaftLeader:
			seated = append(seated, srv)
		case autopilot.RaftVoter:
			if srv.Health.Healthy || now.Sub(srv.Health.StableSince) < grace {
				seated = append(seated, srv)
			} else {
				failed = append(failed, srv)
			}
		case autopilot.RaftNonVoter, autopilot.RaftStaging:
			if srv.Health.IsStable(now, readyAfter) {
				ready = append(ready, srv)
			}
		}
	}
	sortSeated(seated)
	sortByStability(ready)

	target := voterTarget(len(seated)+len(ready), p.maxVoters)
	var changes autopilot.RaftChanges
	if target >= len(seated) {
		for _, srv := range ready[:target-len(seated)] {
			changes.Promotions = append(changes.Promotions, srv.Server.ID)
		}
		for _, srv := range failed {
			changes.Demotions = append(changes.Demotions, srv.Server.ID)
		}
	} else if len(failed) == 0 {
		for _, srv := range seated[target:] {
			changes.Demotions = append(changes.Demotions, srv.Server.ID)
		}
	}
	sortIDs(changes.Promotions)
	sortIDs(changes.Demotions)
	return changes
}

// voterTarget is the largest odd number ≤ min(n, max), at least 1.
func voterTarget(n, max int) int {
	if n > max {
		n = max
	}
	if n%2 == 0 {
		n--
	}
	if n < 1 {
		n = 1
	}
	return n
}

// sortSeated orders voters by how much we want to keep them: the leader,
// then healthy voters, then voters in their grace period; within each, the
// longest stable first, then by id.
func sortSeated(v []*autopilot.ServerState) {
	rank := func(s *autopilot.ServerState) int {
		switch {
		case s.State == autopilot.RaftLeader:
			return 0
		case s.Health.Healthy:
			return 1
		default:
			return 2
		}
	}
	sort.SliceStable(v, func(i, j int) bool {
		if ri, rj := rank(v[i]), rank(v[j]); ri != rj {
			return ri < rj
		}
		return stableLess(v[i], v[j])
	})
}

func sortByStability(v []*autopilot.ServerState) {
	sort.SliceStable(v, func(i, j int) bool { return stableLess(v[i], v[j]) })
}

func stableLess(a, b *autopilot.ServerState) bool {
	if !a.Health.StableSince.Equal(b.Health.StableSince) {
		return a.Health.StableSince.Before(b.Health.StableSince)
	}
	return a.Server.ID < b.Server.ID
}

func sortIDs(ids []raft.ServerID) {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
}
