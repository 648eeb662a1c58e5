package consensus

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestCluster grows a cluster from one node to four (three voters and a
// non-voter), kills the leader, measures the failover, watches autopilot
// replace the dead voter with the non-voter, and restarts the old leader
// from its data directory.
func TestCluster(t *testing.T) {
	h := newHarness(t)
	ctx := ctxTimeout(t, 60*time.Second)
	n1 := h.start("n1")
	if err := n1.node.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 to lead", n1.node.IsLeader)

	// Join n2 and n3 as non-voters; autopilot promotes both: 3 voters.
	for _, id := range []string{"n2", "n3"} {
		tn := h.start(id)
		if tn.node.HasState() {
			t.Fatalf("%s has state before joining", id)
		}
		if err := n1.node.AddNonvoter(ctx, id, tn.addr); err != nil {
			t.Fatalf("add %s: %v", id, err)
		}
	}
	// Adding again is a no-op.
	if err := n1.node.AddNonvoter(ctx, "n2", h.nodes["n2"].addr); err != nil {
		t.Fatalf("re-add n2: %v", err)
	}
	waitFor(t, 15*time.Second, "3 voters", func() bool {
		return slices.Equal(voterIDs(t, n1.node), []string{"n1", "n2", "n3"})
	})

	// A fourth server stays a non-voter: 4 healthy servers → 3 voters.
	n4 := h.start("n4")
	if err := n1.node.AddNonvoter(ctx, "n4", n4.addr); err != nil {
		t.Fatalf("add n4: %v", err)
	}
	for _, cmd := range []string{"a", "b", "c"} {
		if _, _, err := n1.node.Apply(ctx, []byte(cmd)); err != nil {
			t.Fatalf("apply %s: %v", cmd, err)
		}
	}
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		fsm := h.nodes[id].fsm
		waitFor(t, 10*time.Second, id+" to apply a b c", func() bool {
			return slices.Equal(fsm.commands(), []string{"a", "b", "c"})
		})
	}
	// Hold for longer than StabilizationTime plus a reconcile round: n4 must
	// not be promoted (an even voter count is never a target).
	hold := time.Now().Add(700 * time.Millisecond)
	waitFor(t, 5*time.Second, "n4 held as non-voter", func() bool {
		if v := voterIDs(t, n1.node); !slices.Equal(v, []string{"n1", "n2", "n3"}) {
			t.Fatalf("voters changed to %v", v)
		}
		return time.Now().After(hold)
	})
	waitFor(t, 5*time.Second, "OnVotersChange on n2", func() bool {
		return slices.Equal(h.nodes["n2"].voters(), []string{"n1", "n2", "n3"})
	})

	// Writes on a follower are refused with the leader's identity.
	_, _, err := h.nodes["n2"].node.Apply(ctx, []byte("x"))
	var nle *NotLeaderError
	if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nle) || nle.LeaderID != "n1" || nle.LeaderAddr != n1.addr {
		t.Fatalf("apply on follower: got %v, want NotLeaderError naming n1", err)
	}
	if err := h.nodes["n2"].node.AddNonvoter(ctx, "n9", "127.0.0.99:1"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("add on follower: got %v, want ErrNotLeader", err)
	}

	// Kill the leader; a new one is elected among n2 and n3 and accepts a
	// write. A kill -9 looks the same to the others: no goodbye is sent.
	h.stop("n1")
	start := time.Now()
	var newLeader *testNode
	waitFor(t, 10*time.Second, "a write after the leader died", func() bool {
		for _, id := range []string{"n2", "n3"} {
			tn := h.nodes[id]
			if !tn.node.IsLeader() {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if _, _, err := tn.node.Apply(wctx, []byte("d")); err == nil {
				newLeader = tn
				return true
			}
		}
		return false
	})
	t.Logf("failover: leader killed → write accepted by %s in %s", newLeader.id, time.Since(start).Round(time.Millisecond))

	// Autopilot on the new leader replaces the dead voter n1 with n4.
	waitFor(t, 15*time.Second, "n4 to replace n1", func() bool {
		v := voterIDs(t, newLeader.node)
		return len(v) == 3 && slices.Contains(v, "n4") && !slices.Contains(v, "n1")
	})
	if got := newLeader.node.Stats(); got.Servers != 4 || got.Voters != 3 {
		t.Fatalf("stats after replacement: %+v", got)
	}

	// Restart n1 from its data directory: it rejoins with its state by
	// itself and catches up with the write it missed.
	n1 = h.start("n1")
	if !n1.node.HasState() {
		t.Fatal("restarted n1 has no state")
	}
	waitFor(t, 10*time.Second, "n1 to catch up", func() bool {
		return slices.Equal(n1.fsm.commands(), []string{"a", "b", "c", "d"})
	})
	if id, _ := n1.node.Leader(); id != newLeader.id {
		t.Fatalf("restarted n1 follows %q, want %s", id, newLeader.id)
	}
	if got := n1.node.Stats().Metrics.LeaderChanges; got < 1 {
		t.Fatalf("restarted n1 counted %d leader changes", got)
	}

	// Leadership moves on request, and the cluster keeps accepting writes.
	if err := newLeader.node.TransferLeadership(ctx); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	waitFor(t, 10*time.Second, "another leader", func() bool {
		l := h.leader()
		return l != nil && l != newLeader
	})
	if _, _, err := h.leader().node.Apply(ctx, []byte("e")); err != nil {
		t.Fatalf("apply after transfer: %v", err)
	}

	// Removing a server shrinks the configuration.
	l := h.leader()
	if err := l.node.RemoveServer(ctx, "n1"); err != nil {
		t.Fatalf("remove n1: %v", err)
	}
	waitFor(t, 5*time.Second, "n1 gone", func() bool {
		servers, err := l.node.Servers()
		return err == nil && len(servers) == 3
	})
}
