package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"kedge/api"
)

// restartWith stops a node, changes its configuration and starts it again.
func (n *testNode) restartWith(change func(*Config)) {
	n.t.Helper()
	n.stop()
	change(n.cfg)
	n.start()
}

// A rolling upgrade: while one node runs an older protocol level (it poses
// as the previous release and its state machine refuses newer commands),
// a write that needs a newer command (the record of a tainted node) is
// refused with the command, the level and the node to upgrade; writes of
// older commands, forwarded through the old node too, go through and the
// old node applies them. Once the node is upgraded the write goes through.
func TestMixedVersionClusterGatesNewerCommands(t *testing.T) {
	needRoot(t)
	n1, n2, n3 := startNode(t, "u1", "127.0.0.101", ""), startNode(t, "u2", "127.0.0.102", ""), startNode(t, "u3", "127.0.0.103", "")
	n2.restartWith(func(c *Config) { c.Cluster.ProtocolLevel = 1 })
	n3.restartWith(func(c *Config) { c.Cluster.Taints = []string{"gpu=true:NoSchedule"} })
	ctx := context.Background()
	// Untainted nodes' records are node.upsert v1: the old node joins and
	// applies the whole log.
	init := formCluster(t, n1, n2)

	_, err := n3.client.ClusterJoin(ctx, api.JoinRequest{Addr: n1.ip, Token: init.Token})
	if err == nil {
		t.Fatal("a tainted node joined while u2 runs protocol level 1")
	}
	for _, want := range []string{"node.upsert v2 needs protocol level 2", "taints", "u2 (", "is at level 1", "upgrade u2 first"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "u1 (") {
		t.Errorf("refusal %q names an upgraded node", err)
	}
	if st, _ := n3.client.ClusterStatus(ctx); st.Member {
		t.Fatal("the refused node is a member")
	}
	// Older commands go through, from the old node as well.
	for _, n := range []*testNode{n1, n2} {
		if _, err := n.client.CreateToken(ctx, api.TokenCreateRequest{Description: "from " + n.name}); err != nil {
			t.Fatalf("a level-1 write through %s: %v", n.name, err)
		}
	}
	waitUntil(t, "the old node to apply both writes", 10*time.Second, func() bool {
		toks, err := n2.client.Tokens(ctx)
		return err == nil && len(toks) == 3
	})

	// Upgrade u2; once the others know its level, the tainted node joins.
	n2.restartWith(func(c *Config) { c.Cluster.ProtocolLevel = 0 })
	waitUntil(t, "the tainted node to join after the upgrade", 30*time.Second, func() bool {
		_, err := n3.client.ClusterJoin(ctx, api.JoinRequest{Addr: n1.ip, Token: init.Token})
		if err != nil && !strings.Contains(err.Error(), "needs protocol level") {
			t.Logf("join: %v", err)
		}
		return err == nil
	})
	for _, n := range []*testNode{n1, n2, n3} {
		waitUntil(t, n.name+" to see u3's taint", 20*time.Second, func() bool {
			list, err := n.client.ClusterNodes(ctx)
			if err != nil {
				return false
			}
			for _, nd := range list {
				if nd.Name == "u3" {
					return len(nd.Taints) == 1 && nd.Taints[0] == "gpu=true:NoSchedule"
				}
			}
			return false
		})
	}
}
