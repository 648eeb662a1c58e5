package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"kedge/api"
	"kedge/internal/lab"
	"kedge/internal/testimage"
)

const autonomyYAML = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: edge
spec:
  replicas: 3
  selector:
    matchLabels: {app: edge}
  template:
    metadata:
      labels: {app: edge}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["sleep", "3600"]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pinned
spec:
  replicas: 3
  selector:
    matchLabels: {app: pinned}
  template:
    metadata:
      labels: {app: pinned}
      annotations: {kedge.io/disconnect-replace: "false"}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["sleep", "3600"]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: strict
spec:
  replicas: 3
  selector:
    matchLabels: {app: strict}
  template:
    metadata:
      labels: {app: strict}
      annotations: {kedge.io/stop-after: 3s}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["sleep", "3600"]
`

// localRunning counts the running containers of a host's engine by the
// app label of their pod (its manifest labels are not on the container:
// the pod name starts with the app's name).
func localRunning(t *testing.T, cl *api.Client) map[string]int {
	t.Helper()
	list, err := cl.ListContainers(context.Background(), false)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, c := range list {
		if p := c.Config.Labels["kedge.io/pod"]; p != "" {
			switch {
			case bytes.HasPrefix([]byte(p), []byte("default/edge-")):
				out["edge"]++
			case bytes.HasPrefix([]byte(p), []byte("default/strict-")):
				out["strict"]++
			case bytes.HasPrefix([]byte(p), []byte("default/pinned-")):
				out["pinned"]++
			}
		}
	}
	return out
}

// Edge autonomy on lab hosts: a host cut off from the others keeps its
// pods (and stops those whose kedge.io/stop-after passed) while the others
// replace them; rebooted while still cut off, it starts its pods again from
// its saved desired state; when the link comes back its stale copies stop.
func TestLabEdgeAutonomy(t *testing.T) {
	c := startLabCluster(t, 3)
	ctx := context.Background()
	for _, h := range c.lab.Hosts {
		if _, err := c.client(h).ImportImage(ctx, bytes.NewReader(testimage.Busybox(t))); err != nil {
			t.Fatalf("import on %s: %v", h.Name, err)
		}
	}
	if _, err := c.client(c.lab.Hosts[0]).ApplyManifests(ctx, []byte(autonomyYAML), "edge.yaml"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	var cut *lab.Host
	for _, h := range c.lab.Hosts {
		if h != c.leader() {
			cut = h
		}
	}
	local := c.client(cut)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		var seen []map[string]int
		for _, h := range c.lab.Hosts {
			n := localRunning(t, c.client(h))
			seen = append(seen, n)
			ok = ok && n["edge"] == 1 && n["strict"] == 1 && n["pinned"] == 1
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			raws, _ := c.client(c.lab.Hosts[0]).GetObjects(ctx, "pods", "default", "")
			t.Fatalf("one pod of each deployment on every host: engines run %v; the cluster lists %d pods: %s", seen, len(raws), raws)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cut.Cut(); err != nil {
		t.Fatal(err)
	}
	other := c.lab.Hosts[0]
	if other == cut {
		other = c.lab.Hosts[1]
	}
	waitFor(t, "the others to replace the cut-off host's pods", 30*time.Second, func() bool {
		n := 0
		for _, h := range c.lab.Hosts {
			if h != cut {
				n += localRunning(t, c.client(h))["edge"]
			}
		}
		return n == 3
	})
	waitFor(t, "the cut-off host to stop its stop-after pod and keep the others", 30*time.Second, func() bool {
		n := localRunning(t, local)
		return n["edge"] == 1 && n["strict"] == 0 && n["pinned"] == 1
	})
	// The pinned workload waits for its node: no replacement elsewhere.
	pinnedElsewhere := 0
	for _, h := range c.lab.Hosts {
		if h != cut {
			pinnedElsewhere += localRunning(t, c.client(h))["pinned"]
		}
	}
	if pinnedElsewhere != 2 {
		t.Fatalf("the pinned deployment runs %d pods on the connected hosts, want 2 (its cut-off pod not replaced)", pinnedElsewhere)
	}
	// A reboot while cut off: everything on the host dies, then the agent
	// starts again with no control plane in reach.
	if err := cut.Crash(); err != nil {
		t.Fatal(err)
	}
	c.start(cut)
	local = c.client(cut)
	waitFor(t, "the rebooted, cut-off host to restart its pod from its saved state", 30*time.Second, func() bool {
		return localRunning(t, local)["edge"] == 1
	})
	if err := cut.Heal(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the healed host to stop its stale copies and keep its pinned pod", 30*time.Second, func() bool {
		n := localRunning(t, local)
		return n["edge"] == 0 && n["strict"] == 0 && n["pinned"] == 1
	})
	// Exactly the replicas asked for, cluster-wide.
	raws, err := c.client(other).GetObjects(ctx, "pods", "default", "")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range raws {
		var p api.ClusterPod
		if json.Unmarshal(r, &p) == nil {
			count[p.Labels["app"]]++
		}
	}
	if count["edge"] != 3 || count["strict"] != 3 || count["pinned"] != 3 {
		t.Fatalf("pods after healing: %v, want 3 of each", count)
	}
}

// The CLI on a one-node cluster: apply, get, describe (a Deployment that
// cannot fit says why, per node), scale, rollout status and delete.
func TestWorkloadCommands(t *testing.T) {
	a := startAgent(t)
	a.stop(9)
	a.extra = []string{"--advertise", "127.0.0.91", "--bind", "127.0.0.91", "--capacity", "cpu=2,memory=1G"}
	a.start()
	a.importBusybox()
	if _, errOut, err := a.kedgeIn(nil, "init"); err != nil {
		t.Fatalf("init: %v %s", err, errOut)
	}
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: big}
spec:
  replicas: 1
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      containers:
      - name: main
        image: busybox
        command: ["sleep", "3600"]
        resources: {requests: {memory: 4Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: small}
spec:
  replicas: 2
  selector: {matchLabels: {app: small}}
  template:
    metadata: {labels: {app: small}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["sleep", "3600"]
`
	out, errOut, err := a.kedgeIn([]byte(manifest), "apply", "-f", "-")
	if err != nil || !strings.Contains(out, "deployment/big created") || !strings.Contains(out, "deployment/small created") {
		t.Fatalf("apply: %v %q %q", err, out, errOut)
	}
	if out, errOut, err := a.kedge("rollout", "status", "deployment", "small", "--timeout", "60s"); err != nil || !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status: %v %q %q", err, out, errOut)
	}
	waitFor(t, "describe to say why big cannot be placed", 20*time.Second, func() bool {
		out, _, _ := a.kedge("describe", "deployment", "big")
		return strings.Contains(out, "Insufficient memory")
	})
	if out, _, err := a.kedge("get", "deployments"); err != nil || !strings.Contains(out, "small") || !strings.Contains(out, "2/2") {
		t.Fatalf("get deployments: %v\n%s", err, out)
	}
	if _, errOut, err := a.kedge("scale", "deployment", "small", "--replicas", "3"); err != nil {
		t.Fatalf("scale: %v %s", err, errOut)
	}
	waitFor(t, "three pods of small", 30*time.Second, func() bool {
		out, _, _ := a.kedge("get", "pods")
		return strings.Count(out, "small-") == 3 && strings.Count(out, "1/1") == 3
	})
	if out, errOut, err := a.kedgeIn([]byte(manifest), "apply", "-f", "-"); err != nil || !strings.Contains(out, "deployment/small configured") {
		t.Fatalf("re-apply after scale: %v %q %q", err, out, errOut)
	}
	bad := strings.Replace(manifest, "replicas: 2", "replicas: 2\n  paused: yes\n  colour: blue", 1)
	if _, errOut, err := a.kedgeIn([]byte(bad), "apply", "-f", "-"); err == nil || !strings.Contains(errOut, "colour") {
		t.Fatalf("a manifest with an unknown field: %v %q", err, errOut)
	}
	for _, d := range []string{"big", "small"} {
		if _, errOut, err := a.kedge("delete", "deployment", d); err != nil {
			t.Fatalf("delete %s: %v %s", d, err, errOut)
		}
	}
	waitFor(t, "no pod left", 30*time.Second, func() bool {
		out, _, _ := a.kedge("ps", "-q")
		return strings.TrimSpace(out) == ""
	})
}
