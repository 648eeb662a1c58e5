package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"kedge/api"
	"kedge/internal/lab"
)

// labCluster is a cluster of real agents on lab hosts.
type labCluster struct {
	t     *testing.T
	lab   *lab.Lab
	admin string
}

func startLabCluster(t *testing.T, hosts int) *labCluster {
	t.Helper()
	l := lab.NewTest(t, lab.Config{Hosts: hosts, Binary: kedgeBin})
	c := &labCluster{t: t, lab: l}
	for _, h := range l.Hosts {
		c.start(h)
	}
	ctx := context.Background()
	init, err := c.client(l.Hosts[0]).ClusterInit(ctx, api.InitRequest{})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	c.admin = init.AdminToken
	for _, h := range l.Hosts[1:] {
		if _, err := c.client(h).ClusterJoin(ctx, api.JoinRequest{Addr: l.Hosts[0].IP.String(), Token: init.Token}); err != nil {
			t.Fatalf("join %s: %v", h.Name, err)
		}
	}
	voters := 1
	switch {
	case hosts >= 5:
		voters = 5
	case hosts >= 3:
		voters = 3
	}
	for _, h := range l.Hosts {
		c.waitView(h, "the whole cluster ready", func(st *api.ClusterStatus, nodes []api.ClusterNode) bool {
			return st.Voters == voters && st.LeaderID != "" && len(nodes) == hosts && allReady(nodes)
		})
	}
	return c
}

func (c *labCluster) start(h *lab.Host) {
	c.t.Helper()
	if err := startHost(h); err != nil {
		c.t.Fatal(err)
	}
}

// startHost starts h's agent as the cluster tests run it and waits until
// its API answers; unlike start it may be called from any goroutine.
func startHost(h *lab.Host) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Start(ctx, "--advertise", h.IP.String(), "--stabilization-time", "1s"); err != nil {
		return fmt.Errorf("start %s: %w", h.Name, err)
	}
	if err := h.WaitReady(ctx); err != nil {
		return fmt.Errorf("start %s: %w", h.Name, err)
	}
	return nil
}

func (c *labCluster) client(h *lab.Host) *api.Client {
	c.t.Helper()
	cl, err := h.Client()
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

func allReady(nodes []api.ClusterNode) bool {
	for _, n := range nodes {
		if n.State != api.NodeReady {
			return false
		}
	}
	return true
}

// waitView waits until a host's view of the cluster satisfies cond.
func (c *labCluster) waitView(h *lab.Host, what string, cond func(*api.ClusterStatus, []api.ClusterNode) bool) {
	c.t.Helper()
	cl := c.client(h)
	waitFor(c.t, h.Name+": "+what, 30*time.Second, func() bool {
		st, err := cl.ClusterStatus(context.Background())
		if err != nil {
			return false
		}
		nodes, err := cl.ClusterNodes(context.Background())
		return err == nil && cond(st, nodes)
	})
}

func (c *labCluster) leader() *lab.Host {
	c.t.Helper()
	for _, h := range c.lab.Hosts {
		if !h.Running() {
			continue
		}
		if st, err := c.client(h).ClusterStatus(context.Background()); err == nil && st.RaftState == "Leader" {
			return h
		}
	}
	c.t.Fatal("no leader")
	return nil
}

// write makes a join token through h (a replicated write) and returns its id.
func (c *labCluster) write(h *lab.Host, what string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := c.client(h).CreateToken(ctx, api.TokenCreateRequest{Description: what})
	if err != nil {
		return "", err
	}
	return tok.ID, nil
}

func (c *labCluster) tokens(h *lab.Host) map[string]bool {
	c.t.Helper()
	list, err := c.client(h).Tokens(context.Background())
	if err != nil {
		c.t.Fatalf("tokens on %s: %v", h.Name, err)
	}
	out := map[string]bool{}
	for _, tk := range list {
		out[tk.ID] = true
	}
	return out
}

// On three lab hosts: kill -9 of the leader's agent elects a new leader
// that takes writes with nothing acknowledged lost; the killed node comes
// back by itself; a minority cut off by a partition takes no writes while
// the majority goes on, and all converge after healing; a full-cluster
// restart keeps the state.
func TestLabClusterFailoverPartitionRestart(t *testing.T) {
	c := startLabCluster(t, 3)
	hosts := c.lab.Hosts
	var acked []string
	for i, h := range hosts {
		id, err := c.write(h, fmt.Sprintf("before %d", i))
		if err != nil {
			t.Fatalf("write through %s: %v", h.Name, err)
		}
		acked = append(acked, id)
	}

	old := c.leader()
	killed := time.Now()
	if err := old.Kill9(); err != nil {
		t.Fatal(err)
	}
	var survivor *lab.Host
	for _, h := range hosts {
		if h != old {
			survivor = h
			break
		}
	}
	waitFor(t, "a write after the leader's kill -9", 20*time.Second, func() bool {
		id, err := c.write(survivor, "after failover")
		if err == nil {
			acked = append(acked, id)
		}
		return err == nil
	})
	t.Logf("kill -9 of the leader until a write was accepted: %v", time.Since(killed))
	c.start(old)
	for _, h := range hosts {
		c.waitView(h, "the restarted node ready again and every acknowledged write present", func(st *api.ClusterStatus, nodes []api.ClusterNode) bool {
			if len(nodes) != 3 || !allReady(nodes) {
				return false
			}
			have := c.tokens(h)
			for _, id := range acked {
				if !have[id] {
					return false
				}
			}
			return true
		})
	}

	// A minority partition: the leader alone on one side.
	lead := c.leader()
	var minority []int
	var majority []int
	for _, h := range hosts {
		if h == lead {
			minority = append(minority, h.N)
		} else {
			majority = append(majority, h.N)
		}
	}
	if err := c.lab.Partition(minority, majority); err != nil {
		t.Fatal(err)
	}
	majorityHost := hosts[majority[0]-1]
	waitFor(t, "the majority to elect a leader and take a write", 20*time.Second, func() bool {
		id, err := c.write(majorityHost, "during partition")
		if err == nil {
			acked = append(acked, id)
		}
		return err == nil
	})
	if _, err := c.write(lead, "in the minority"); err == nil {
		t.Fatal("the isolated old leader accepted a write")
	}
	if err := c.lab.HealPartition(); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		c.waitView(h, "convergence after healing", func(st *api.ClusterStatus, nodes []api.ClusterNode) bool {
			have := c.tokens(h)
			for _, id := range acked {
				if !have[id] {
					return false
				}
			}
			return st.LeaderID != "" && allReady(nodes)
		})
	}

	// Full-cluster restart.
	for _, h := range hosts {
		if err := h.Kill9(); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hosts {
		c.start(h)
	}
	for _, h := range hosts {
		c.waitView(h, "the state after a full restart", func(st *api.ClusterStatus, nodes []api.ClusterNode) bool {
			have := c.tokens(h)
			for _, id := range acked {
				if !have[id] {
					return false
				}
			}
			return st.LeaderID != "" && len(nodes) == 3 && allReady(nodes)
		})
	}
}

// Losing two of three voters loses the quorum: no writes. kedge recover on
// the survivor makes it a one-voter cluster with its state; the others are
// wiped and join again.
func TestLabClusterQuorumLossAndRecover(t *testing.T) {
	c := startLabCluster(t, 3)
	hosts := c.lab.Hosts
	kept, err := c.write(hosts[0], "before the loss")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts[1:] {
		if err := h.Kill9(); err != nil {
			t.Fatal(err)
		}
	}
	survivor := hosts[0]
	cl := c.client(survivor)
	waitFor(t, "the survivor to lose its leader", 20*time.Second, func() bool {
		st, err := cl.ClusterStatus(context.Background())
		return err == nil && st.LeaderID == ""
	})
	if _, err := c.write(survivor, "without quorum"); err == nil {
		t.Fatal("a write was accepted without a quorum")
	}
	if err := cl.ClusterRecover(context.Background(), ""); err != nil {
		t.Fatalf("recover: %v", err)
	}
	waitFor(t, "the recovered node to lead and take writes", 20*time.Second, func() bool {
		_, err := c.write(survivor, "after recover")
		return err == nil
	})
	if !c.tokens(survivor)[kept] {
		t.Fatal("recover lost the state")
	}
	st, err := cl.ClusterStatus(context.Background())
	if err != nil || st.Voters != 1 {
		t.Fatalf("after recover: %+v %v, want one voter", st, err)
	}
	// Leaving with the quorum gone is refused without --force.
	if err := c.client(survivor).ClusterLeave(context.Background(), false); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "only voter") {
		t.Fatalf("leave of the only voter: %v", err)
	}
}

// A node that comes back with a new IP keeps its place: the others record
// its new address and Raft reaches it there.
func TestLabNodeComesBackWithNewIP(t *testing.T) {
	c := startLabCluster(t, 3)
	h := c.lab.Hosts[2]
	if h == c.leader() {
		h = c.lab.Hosts[1]
	}
	if err := h.Kill9(); err != nil {
		t.Fatal(err)
	}
	// The next address of the lab's subnet after the hosts'.
	newIP := h.IP.Next().Next().Next().Next().Next()
	ctx := context.Background()
	if out, err := h.Exec(ctx, "ip", "addr", "flush", "dev", "eth0"); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	bits := c.lab.Subnet.Bits()
	if out, err := h.Exec(ctx, "ip", "addr", "add", fmt.Sprintf("%s/%d", newIP, bits), "dev", "eth0"); err != nil {
		t.Fatalf("new address: %v %s", err, out)
	}
	if out, err := h.Exec(ctx, "ip", "route", "add", "default", "via", c.lab.Gateway.String()); err != nil {
		t.Fatalf("route: %v %s", err, out)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := h.Start(sctx, "--advertise", newIP.String(), "--stabilization-time", "1s"); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitReady(sctx); err != nil {
		t.Fatal(err)
	}
	id, err := c.write(c.lab.Hosts[0], "after the move")
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	for _, o := range c.lab.Hosts {
		c.waitView(o, "the moved node at its new address", func(st *api.ClusterStatus, nodes []api.ClusterNode) bool {
			for _, n := range nodes {
				if n.Name == h.Name && (n.Address != newIP.String() || n.State != api.NodeReady) {
					return false
				}
			}
			return allReady(nodes) && c.tokens(o)[id]
		})
	}
}

// Five hosts make five voters; losing two keeps the quorum and writes go
// on; they come back by themselves.
func TestLabFiveVotersSurviveTwoLosses(t *testing.T) {
	c := startLabCluster(t, 5)
	lead := c.leader()
	var lost []*lab.Host
	for _, h := range c.lab.Hosts {
		if h != lead && len(lost) < 2 {
			lost = append(lost, h)
		}
	}
	for _, h := range lost {
		if err := h.Kill9(); err != nil {
			t.Fatal(err)
		}
	}
	id, err := c.write(lead, "with two voters down")
	if err != nil {
		t.Fatalf("write with 3 of 5 voters: %v", err)
	}
	c.waitView(lead, "the two lost nodes seen down", func(st *api.ClusterStatus, nodes []api.ClusterNode) bool {
		down := 0
		for _, n := range nodes {
			if n.State == api.NodeDown {
				down++
			}
		}
		return down == 2 && st.Healthy
	})
	// Autopilot drops the dead voters (three voters remain); the nodes must
	// still find their way back.
	c.waitView(lead, "the voters down to three", func(st *api.ClusterStatus, nodes []api.ClusterNode) bool {
		return st.Voters == 3
	})
	for _, h := range lost {
		c.start(h)
	}
	for _, h := range c.lab.Hosts {
		c.waitView(h, "all five back", func(st *api.ClusterStatus, nodes []api.ClusterNode) bool {
			return st.Voters == 5 && len(nodes) == 5 && allReady(nodes) && c.tokens(h)[id]
		})
	}
}

// A host cut off long enough for everyone to hold everyone else dead, then
// healed: only that host is ever recorded down. (Healing makes it spread
// its belief that the others are dead; they refute it at once, and the
// leader waits a grace before recording a death, so their pods stay.)
func TestLabHealedCutMarksNoHealthyNodeDown(t *testing.T) {
	c := startLabCluster(t, 3)
	lead := c.leader()
	var cut *lab.Host
	for _, h := range c.lab.Hosts {
		if h != lead {
			cut = h
		}
	}
	for round := 1; round <= 4; round++ {
		if err := cut.Cut(); err != nil {
			t.Fatal(err)
		}
		c.waitView(lead, cut.Name+" recorded down", func(_ *api.ClusterStatus, nodes []api.ClusterNode) bool {
			for _, n := range nodes {
				if n.Name == cut.Name {
					return n.State == api.NodeDown
				}
			}
			return false
		})
		// The cut host's own detector needs as long to give the others up.
		c.waitView(cut, "the others unreachable from "+cut.Name, func(st *api.ClusterStatus, _ []api.ClusterNode) bool {
			return st.LeaderID == ""
		})
		// And its gossip declares them dead a little later (the suspicion
		// timeout): the cut's length is the test's input, not a wait.
		time.Sleep(2 * time.Second)
		if err := cut.Heal(); err != nil {
			t.Fatal(err)
		}
		c.waitView(lead, "all ready after healing", func(_ *api.ClusterStatus, nodes []api.ClusterNode) bool { return allReady(nodes) })
	}
	evs, err := c.client(lead).ClusterEvents(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.HasSuffix(e.Message, "-> down") && !strings.HasPrefix(e.Message, "node "+cut.Name+":") {
			t.Errorf("a healthy node was recorded down: %s %s", e.Time.Format(time.RFC3339Nano), e.Message)
		}
	}
}
