package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"kedge/api"
)

// freshManifest is a Deployment of no replicas (so no pods) whose spec
// differs by mark.
func freshManifest(mark string) []byte {
	return fmt.Appendf(nil, `apiVersion: apps/v1
kind: Deployment
metadata: {name: fresh, annotations: {mark: %q}}
spec:
  replicas: 0
  selector: {matchLabels: {app: fresh}}
  template:
    metadata: {labels: {app: fresh}}
    spec:
      containers:
      - {name: main, image: busybox, command: ["sleep", "3600"]}
`, mark)
}

// Writes that are decided on a read of the state (apply's "unchanged",
// scale's read-modify-write) read the cluster's state, not the node's own
// copy, which lags the leader's by a heartbeat: an apply through a
// follower right after a change through the leader is not answered
// "unchanged" from the old copy, a scale through a follower does not bring
// back a Deployment just deleted, and a node cut off from the quorum
// answers no apply from its copy.
func TestWritesReadTheClusterState(t *testing.T) {
	needRoot(t)
	nodes := []*testNode{startNode(t, "c1", "127.0.0.121", ""), startNode(t, "c2", "127.0.0.122", ""), startNode(t, "c3", "127.0.0.123", "")}
	formCluster(t, nodes...)
	ctx := context.Background()
	lead := leaderOf(t, nodes)
	var follower *testNode
	for _, n := range nodes {
		if n != lead {
			follower = n
			break
		}
	}
	apply := func(n *testNode, mark string) string {
		t.Helper()
		res, err := n.client.ApplyManifests(ctx, freshManifest(mark), "fresh")
		if err != nil || len(res) != 1 {
			t.Fatalf("apply %s through %s: %v %v", mark, n.name, res, err)
		}
		return res[0].Action
	}
	apply(lead, "a")
	for i := range 10 {
		// Each write undoes the one before, acknowledged through the
		// other node: none is unchanged.
		if got := apply(lead, "b"); got != "configured" {
			t.Fatalf("round %d: apply of b through the leader after a through %s: %s, want configured", i, follower.name, got)
		}
		if got := apply(follower, "a"); got != "configured" {
			t.Fatalf("round %d: apply of a through %s after b through the leader: %s, want configured", i, follower.name, got)
		}
	}
	for i := range 5 {
		if err := lead.client.DeleteObject(ctx, "deployments", "default", "fresh"); err != nil {
			t.Fatalf("round %d: delete through the leader: %v", i, err)
		}
		if err := follower.client.Scale(ctx, "default", "fresh", 0); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("round %d: scale through %s of the Deployment just deleted: %v, want not found", i, follower.name, err)
		}
		if got := apply(lead, "a"); got != "created" {
			t.Fatalf("round %d: apply through the leader after the delete: %s, want created", i, got)
		}
	}
	// Alone, the follower has no cluster state to decide on.
	for _, n := range nodes {
		if n != follower {
			n.stop()
		}
	}
	// It says so once its wait for a leader (10 s) is over, before the
	// client's own deadline.
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if res, err := follower.client.ApplyManifests(actx, freshManifest("a"), "fresh"); !errors.Is(err, api.ErrConflict) || actx.Err() != nil {
		t.Fatalf("apply through %s cut off from the quorum: %v %v, want a conflict that says no leader answered", follower.name, res, err)
	}
}
