package consensus

import (
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// srv describes one server for the promoter tests: its Raft state, health,
// and how long it has had that health.
type srv struct {
	id      string
	state   autopilot.RaftState
	healthy bool
	since   time.Duration
}

func leader(id string) srv { return srv{id, autopilot.RaftLeader, true, time.Hour} }
func voter(id string) srv  { return srv{id, autopilot.RaftVoter, true, time.Hour} }
func ready(id string, since time.Duration) srv {
	return srv{id, autopilot.RaftNonVoter, true, since}
}
func deadVoter(id string, since time.Duration) srv {
	return srv{id, autopilot.RaftVoter, false, since}
}

func TestPromoter(t *testing.T) {
	const stab = 10 * time.Second
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	nonvoters := func(n int) []srv {
		var out []srv
		for i := range n {
			// n2 has been stable longest, so it is promoted first.
			out = append(out, ready("n"+string(rune('2'+i)), time.Hour-time.Duration(i)*time.Minute))
		}
		return out
	}
	tests := []struct {
		name      string
		max       int
		servers   []srv
		promote   []string
		demote    []string
		wantCount int // voters after the changes
	}{
		{name: "1 server → 1 voter", servers: []srv{leader("n1")}, wantCount: 1},
		{name: "2 servers → 1 voter", servers: append([]srv{leader("n1")}, nonvoters(1)...), wantCount: 1},
		{name: "3 servers → 3 voters", servers: append([]srv{leader("n1")}, nonvoters(2)...), promote: []string{"n2", "n3"}, wantCount: 3},
		{name: "4 servers → 3 voters", servers: append([]srv{leader("n1")}, nonvoters(3)...), promote: []string{"n2", "n3"}, wantCount: 3},
		{name: "5 servers → 5 voters", servers: append([]srv{leader("n1")}, nonvoters(4)...), promote: []string{"n2", "n3", "n4", "n5"}, wantCount: 5},
		{name: "6 servers → 5 voters", servers: append([]srv{leader("n1")}, nonvoters(5)...), promote: []string{"n2", "n3", "n4", "n5"}, wantCount: 5},
		{name: "4 servers with MaxVoters 1 → 1 voter", max: 1, servers: append([]srv{leader("n1")}, nonvoters(3)...), wantCount: 1},
		{name: "6 servers with MaxVoters 3 → 3 voters", max: 3, servers: append([]srv{leader("n1")}, nonvoters(5)...), promote: []string{"n2", "n3"}, wantCount: 3},
		{
			name:      "3 voters and a spare: nothing to do",
			servers:   []srv{leader("n1"), voter("n2"), voter("n3"), ready("n4", time.Hour)},
			wantCount: 3,
		},
		{
			name:    "dead voter replaced by a healthy non-voter",
			servers: []srv{leader("n1"), voter("n2"), deadVoter("n3", time.Minute), ready("n4", time.Hour)},
			promote: []string{"n4"}, demote: []string{"n3"}, wantCount: 3,
		},
		{
			name:      "dead voter without replacement keeps its seat",
			servers:   []srv{leader("n1"), voter("n2"), deadVoter("n3", time.Minute)},
			wantCount: 3,
		},
		{
			name:      "voter failed within the grace period keeps its seat",
			servers:   []srv{leader("n1"), voter("n2"), deadVoter("n3", time.Second), ready("n4", time.Hour)},
			wantCount: 3,
		},
		{
			name:    "5 voters, 2 dead, no spare → 3 healthy voters",
			servers: []srv{leader("n1"), voter("n2"), voter("n3"), deadVoter("n4", time.Minute), deadVoter("n5", time.Minute)},
			demote:  []string{"n4", "n5"}, wantCount: 3,
		},
		{
			name:      "5 voters, 1 dead, no spare: kept",
			servers:   []srv{leader("n1"), voter("n2"), voter("n3"), voter("n4"), deadVoter("n5", time.Minute)},
			wantCount: 5,
		},
		{
			name:    "5 voters, 1 dead, 1 spare: replaced",
			servers: []srv{leader("n1"), voter("n2"), voter("n3"), voter("n4"), deadVoter("n5", time.Minute), ready("n6", time.Hour)},
			promote: []string{"n6"}, demote: []string{"n5"}, wantCount: 5,
		},
		{
			name:      "non-voters not yet stable are not promoted",
			servers:   []srv{leader("n1"), ready("n2", time.Second), ready("n3", time.Second)},
			wantCount: 1,
		},
		{
			name:      "unhealthy non-voters are not promoted",
			servers:   []srv{leader("n1"), {"n2", autopilot.RaftNonVoter, false, time.Hour}, {"n3", autopilot.RaftNonVoter, false, time.Hour}},
			wantCount: 1,
		},
		{
			name:    "4 healthy voters → 3, the most recently stable demoted",
			servers: []srv{leader("n1"), voter("n2"), voter("n3"), {"n4", autopilot.RaftVoter, true, time.Minute}},
			demote:  []string{"n4"}, wantCount: 3,
		},
		{
			name:    "2 healthy voters → 1",
			servers: []srv{leader("n1"), voter("n2")},
			demote:  []string{"n2"}, wantCount: 1,
		},
		{
			name:    "the leader is never demoted, even reported unhealthy",
			servers: []srv{{"n1", autopilot.RaftLeader, false, time.Hour}, voter("n2"), voter("n3"), voter("n4")},
			demote:  []string{"n4"}, wantCount: 3,
		},
		{
			name:    "staging servers count as non-voters",
			servers: []srv{leader("n1"), {"n2", autopilot.RaftStaging, true, time.Hour}, ready("n3", time.Hour)},
			promote: []string{"n2", "n3"}, wantCount: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := &autopilot.State{Servers: map[raft.ServerID]*autopilot.ServerState{}}
			voters := 0
			for _, s := range tc.servers {
				state.Servers[raft.ServerID(s.id)] = &autopilot.ServerState{
					Server: autopilot.Server{ID: raft.ServerID(s.id)},
					State:  s.state,
					Health: autopilot.ServerHealth{Healthy: s.healthy, StableSince: now.Add(-s.since)},
				}
				if s.state == autopilot.RaftLeader || s.state == autopilot.RaftVoter {
					voters++
				}
				if s.state == autopilot.RaftLeader {
					state.Leader = raft.ServerID(s.id)
				}
			}
			max := tc.max
			if max == 0 {
				max = 5
			}
			p := &promoter{maxVoters: max, now: func() time.Time { return now }}
			changes := p.CalculatePromotionsAndDemotions(&autopilot.Config{ServerStabilizationTime: stab}, state)
			if got := ids(changes.Promotions); !slices.Equal(got, tc.promote) {
				t.Errorf("promotions %v, want %v", got, tc.promote)
			}
			if got := ids(changes.Demotions); !slices.Equal(got, tc.demote) {
				t.Errorf("demotions %v, want %v", got, tc.demote)
			}
			if got := voters + len(changes.Promotions) - len(changes.Demotions); got != tc.wantCount {
				t.Errorf("%d voters after the changes, want %d", got, tc.wantCount)
			}
			if changes.Leader != "" {
				t.Errorf("leadership transfer to %s proposed", changes.Leader)
			}
		})
	}
}

func TestVoterTarget(t *testing.T) {
	for _, tc := range []struct{ n, max, want int }{
		{0, 5, 1}, {1, 5, 1}, {2, 5, 1}, {3, 5, 3}, {4, 5, 3}, {5, 5, 5}, {6, 5, 5}, {9, 5, 5},
		{4, 3, 3}, {3, 1, 1},
	} {
		if got := voterTarget(tc.n, tc.max); got != tc.want {
			t.Errorf("voterTarget(%d, %d) = %d, want %d", tc.n, tc.max, got, tc.want)
		}
	}
}

func TestPromoterNodeTypes(t *testing.T) {
	p := newPromoter(5)
	state := &autopilot.State{Servers: map[raft.ServerID]*autopilot.ServerState{"a": {}, "b": {}}}
	types := p.GetNodeTypes(nil, state)
	if len(types) != 2 || !p.IsPotentialVoter(types["a"]) || !p.IsPotentialVoter(types["b"]) {
		t.Fatalf("node types %v", types)
	}
}

func ids(v []raft.ServerID) []string {
	var out []string
	for _, id := range v {
		out = append(out, string(id))
	}
	return out
}
