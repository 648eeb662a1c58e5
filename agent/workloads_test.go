package agent

import (
	"errors"
	"fmt"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"kedge/api"
	"kedge/internal/testimage"
)

const deploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:test
        command: ["sh", "-c", "echo $GREETING > /index.html && exec httpd -f -p 8080 -h /"]
        env:
        - name: GREETING
          valueFrom:
            configMapKeyRef: {name: web-config, key: greeting}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello-from-a-configmap
`

// pods lists the cluster's pods as a node sees them.
func pods(t *testing.T, n *testNode) []api.ClusterPod {
	t.Helper()
	raws, err := n.client.GetObjects(context.Background(), "pods", "", "")
	if err != nil {
		return nil
	}
	var out []api.ClusterPod
	for _, r := range raws {
		var p api.ClusterPod
		if json.Unmarshal(r, &p) == nil {
			out = append(out, p)
		}
	}
	return out
}

// runningOn counts, per node name, the ready pods.
// barePodYAML is a Pod of no workload, for the drain test.
const barePodYAML = `
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:test
    command: ["sleep", "3600"]
`

// soloPods keeps the bare pod's copies.
func soloPods(ps []api.ClusterPod) []api.ClusterPod {
	var out []api.ClusterPod
	for _, p := range ps {
		if p.Name == "solo" {
			out = append(out, p)
		}
	}
	return out
}

func readyByNode(ps []api.ClusterPod) map[string]int {
	out := map[string]int{}
	for _, p := range ps {
		if p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Ready {
			out[p.Status.NodeName]++
		}
	}
	return out
}

// A Deployment applied on any node runs its replicas spread over the
// nodes (which fetch its image from the node that has it), with its
// ConfigMap in their environment; when a node is lost its
// replica is replaced elsewhere; when the node comes back its stale copy
// stops, so no duplicate outlives the overlap.
func TestDeploymentSpreadsAndMovesOffALostNode(t *testing.T) {
	needRoot(t)
	nodes := []*testNode{startNode(t, "w1", "127.0.0.71", ""), startNode(t, "w2", "127.0.0.72", ""), startNode(t, "w3", "127.0.0.73", "")}
	// Only w1 has the image: the others fetch it from their peer (no
	// registry at an air-gapped site).
	testimage.BusyboxInto(t, nodes[0].agent.Engine().Images(), "busybox:test", nil)
	formCluster(t, nodes...)
	ctx := context.Background()
	res, err := nodes[1].client.ApplyManifests(ctx, []byte(deploymentYAML), "web.yaml")
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(res) != 2 || res[0].Action != "created" {
		t.Fatalf("apply results: %+v", res)
	}
	d1 := waitUntil(t, "three ready replicas, one per node", 60*time.Second, func() bool {
		by := readyByNode(pods(t, nodes[0]))
		return len(by) == 3 && by["w1"] == 1 && by["w2"] == 1 && by["w3"] == 1
	})
	t.Logf("apply until three replicas ready (two nodes fetching the image from w1): %v", d1)
	waitUntil(t, "the pods' addresses reported", 10*time.Second, func() bool {
		for _, p := range pods(t, nodes[0]) {
			if p.Status.PodIP == "" {
				return false
			}
		}
		return true
	})
	for _, n := range nodes[1:] {
		if _, err := n.agent.Engine().Images().Get("busybox:test"); err != nil {
			t.Fatalf("%s did not get the image from its peer: %v", n.name, err)
		}
	}
	waitUntil(t, "an image-fetch event per node that fetched", 10*time.Second, func() bool {
		evs, err := nodes[0].client.ClusterEvents(ctx, 0)
		if err != nil {
			return false
		}
		pulled := 0
		for _, e := range evs {
			if e.Kind == "pod.pulled" && strings.Contains(e.Message, "image busybox:test fetched from the peer at") {
				pulled++
			}
		}
		return pulled == 2
	})
	// The ConfigMap reached the container's environment.
	for _, c := range nodes[0].agent.Engine().List(false) {
		if c.Config.Labels[labelContainer] != "httpd" {
			continue
		}
		code, out := execIn(t, nodes[0], c.ID, "cat", "/index.html")
		if code != 0 || strings.TrimSpace(out) != "hello-from-a-configmap" {
			t.Fatalf("the pod's page: %d %q", code, out)
		}
	}
	// exec into each pod through w1, by pod name: served here or proxied to
	// the pod's node.
	for _, p := range pods(t, nodes[0]) {
		code, out := execIn(t, nodes[0], "pod:default:"+p.Name, "cat", "/index.html")
		if code != 0 || strings.TrimSpace(out) != "hello-from-a-configmap" {
			t.Fatalf("exec in pod %s on %s through w1: %d %q", p.Name, p.Status.NodeName, code, out)
		}
	}
	if _, err := nodes[0].client.Exec(ctx, "pod:default:nosuchpod", &api.ExecConfig{Cmd: []string{"true"}}); err == nil {
		t.Fatal("exec in a pod that does not exist worked")
	}
	// Applying the same file again changes nothing.
	if res, err := nodes[2].client.ApplyManifests(ctx, []byte(deploymentYAML), "web.yaml"); err != nil || res[0].Action != "unchanged" {
		t.Fatalf("re-apply: %+v %v", res, err)
	}

	// Lose w3: its agent stops (its container keeps running, cut off).
	lost := nodes[2]
	if leaderOf(t, nodes) == lost {
		lost = nodes[1]
	}
	lost.stop()
	var alive *testNode
	for _, n := range nodes {
		if n != lost {
			alive = n
			break
		}
	}
	d2 := waitUntil(t, "the lost node's replica replaced on the others", 30*time.Second, func() bool {
		by := readyByNode(pods(t, alive))
		total := 0
		for node, n := range by {
			if node == lost.name {
				return false
			}
			total += n
		}
		return total == 3
	})
	t.Logf("node lost until its replica runs elsewhere: %v", d2)
	lost.start()
	waitUntil(t, "the returning node to stop its stale copy", 30*time.Second, func() bool {
		for _, c := range lost.agent.Engine().List(false) {
			if c.Config.Labels[labelAlloc] != "" {
				return false
			}
		}
		return true
	})
	// Drain the node of a bare pod: its Deployment replica moves, and so
	// does the bare pod, whose copy elsewhere is ready before the drained
	// one stops; new pods avoid the node while it is cordoned.
	if _, err := nodes[0].client.ApplyManifests(ctx, []byte(barePodYAML), "solo.yaml"); err != nil {
		t.Fatalf("apply the bare pod: %v", err)
	}
	var drained, client *testNode
	waitUntil(t, "the bare pod ready", 30*time.Second, func() bool {
		for node, n := range readyByNode(soloPods(pods(t, nodes[0]))) {
			for _, tn := range nodes {
				if tn.name == node && n == 1 {
					drained = tn
				}
			}
		}
		return drained != nil
	})
	for _, n := range nodes {
		if n != drained {
			client = n
		}
	}
	waitUntil(t, "the bare pod seen ready from "+client.name, 10*time.Second, func() bool {
		return readyByNode(soloPods(pods(t, client)))[drained.name] == 1
	})
	fewest := make(chan int, 1)
	sampling, stopSampling := context.WithCancel(ctx)
	go func() { // ends when stopSampling is called, once the pods moved
		low := 1
		for sampling.Err() == nil {
			if ps := pods(t, client); ps != nil {
				ready := 0
				for _, n := range readyByNode(soloPods(ps)) {
					ready += n
				}
				if ready < low {
					for _, p := range soloPods(ps) {
						t.Logf("no ready copy: %s on %s phase %s ready %v", p.UID, p.Status.NodeName, p.Status.Phase, p.Status.ContainerStatuses)
					}
				}
				low = min(low, ready)
			}
			select {
			case <-sampling.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
		fewest <- low
	}()
	if err := client.client.NodeAction(ctx, drained.name, "drain"); err != nil {
		t.Fatalf("drain: %v", err)
	}
	waitUntil(t, "the drained node's replica and bare pod moved", 30*time.Second, func() bool {
		ps := pods(t, client)
		by, solo := readyByNode(ps), readyByNode(soloPods(ps))
		total := 0
		for _, n := range by {
			total += n
		}
		return by[drained.name] == 0 && solo[drained.name] == 0 && total == 4 && len(soloPods(ps)) == 1
	})
	stopSampling()
	if low := <-fewest; low < 1 {
		t.Errorf("the bare pod had no ready copy during the drain of %s", drained.name)
	}
	if err := client.client.NodeAction(ctx, drained.name, "uncordon"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].client.DeleteObject(ctx, "pod", "default", "solo"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].client.DeleteObject(ctx, "deployment", "default", "web"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every pod gone after the delete", 30*time.Second, func() bool {
		for _, n := range nodes {
			for _, c := range n.agent.Engine().List(true) {
				if c.Config.Labels[labelAlloc] != "" {
					return false
				}
			}
		}
		return len(pods(t, nodes[0])) == 0
	})
}

// execIn runs a command in a container through the engine.
func execIn(t *testing.T, n *testNode, id string, cmd ...string) (int, string) {
	t.Helper()
	st, err := n.client.Exec(context.Background(), id, &api.ExecConfig{Cmd: cmd})
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	defer st.Close()
	var out strings.Builder
	exit, err := st.Copy(&out, &out)
	if err != nil || exit == nil {
		t.Fatalf("exec: %v", err)
	}
	return exit.ExitCode, out.String()
}

const rollingYAML = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: roll}
spec:
  replicas: 3
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector: {matchLabels: {app: roll}}
  template:
    metadata: {labels: {app: roll}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox:test
        command: ["sh", "-c", "echo $VERSION > /v && exec sleep 3600"]
        env: [{name: VERSION, value: "VERSION_VALUE"}]
`

// A changed template rolls the pods (never fewer than the replicas ready
// with maxUnavailable 0), the history keeps both templates, undo goes
// back, and restart replaces the pods again.
func TestRollingUpdateHistoryUndoRestart(t *testing.T) {
	needRoot(t)
	n := startNode(t, "r1", "127.0.0.81", "")
	testimage.BusyboxInto(t, n.agent.Engine().Images(), "busybox:test", nil)
	formCluster(t, n)
	ctx := context.Background()
	apply := func(version string) {
		t.Helper()
		if _, err := n.client.ApplyManifests(ctx, []byte(strings.ReplaceAll(rollingYAML, "VERSION_VALUE", version)), "roll.yaml"); err != nil {
			t.Fatalf("apply %s: %v", version, err)
		}
	}
	// versions counts the ready pods by the version they serve; "ready"
	// counts every pod the cluster reports ready (a just-started pod may
	// not have written its version yet).
	versions := func() map[string]int {
		out := map[string]int{}
		for _, p := range pods(t, n) {
			if p.Status.Phase != api.PodRunning || !p.Status.ContainerStatuses[0].Ready {
				continue
			}
			out["ready"]++
			if v, ok := tryExec(n, "pod:default:"+p.Name, "cat", "/v"); ok {
				out[strings.TrimSpace(v)]++
			}
		}
		return out
	}
	apply("one")
	waitUntil(t, "three pods of version one", 30*time.Second, func() bool { return versions()["one"] == 3 })
	apply("two")
	minReady := 3
	waitUntil(t, "the rollout to version two", 60*time.Second, func() bool {
		v := versions()
		if v["ready"] < minReady {
			minReady = v["ready"]
		}
		return v["two"] == 3 && v["one"] == 0
	})
	if minReady < 3 {
		t.Fatalf("with maxUnavailable 0, only %d pods were ready at one point", minReady)
	}
	hist, err := n.client.RolloutHistory(ctx, "default", "roll")
	if err != nil || len(hist) != 2 || !hist[1].Current {
		t.Fatalf("history: %+v %v", hist, err)
	}
	if err := n.client.RolloutUndo(ctx, "default", "roll", 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the undo back to version one", 60*time.Second, func() bool { return versions()["one"] == 3 })
	// As kubectl's: the template undone to moves to the next number.
	if hist, err = n.client.RolloutHistory(ctx, "default", "roll"); err != nil || len(hist) != 2 || hist[0].Number != 2 || hist[1].Number != 3 || !hist[1].Current {
		t.Fatalf("history after the undo: %+v %v; want revisions 2 and 3, 3 current", hist, err)
	}
	before := map[string]bool{}
	for _, p := range pods(t, n) {
		before[p.Name] = true
	}
	if err := n.client.RolloutRestart(ctx, "default", "roll"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a restart to replace every pod", 60*time.Second, func() bool {
		ps := pods(t, n)
		if len(ps) != 3 || versions()["one"] != 3 {
			return false
		}
		for _, p := range ps {
			if before[p.Name] {
				return false
			}
		}
		return true
	})
}

// tryExec runs a command in a container that may be going away.
func tryExec(n *testNode, ref string, cmd ...string) (string, bool) {
	st, err := n.client.Exec(context.Background(), ref, &api.ExecConfig{Cmd: cmd})
	if err != nil {
		return "", false
	}
	defer st.Close()
	var out strings.Builder
	exit, err := st.Copy(&out, &out)
	return out.String(), err == nil && exit != nil && exit.ExitCode == 0
}

// Image garbage collection on a full disk removes the images nobody needs
// and keeps those a container uses or a pod placed on the node needs.
func TestImageGarbageCollectionKeepsNeededImages(t *testing.T) {
	needRoot(t)
	n := startNode(t, "gc1", "127.0.0.85", "")
	imgs := n.agent.Engine().Images()
	variant := func(ref, env string) {
		testimage.BusyboxInto(t, imgs, ref, func(c *ocispec.ImageConfig) { c.Env = append(c.Env, env) })
	}
	variant("needed:1", "V=needed")
	variant("inuse:1", "V=inuse")
	variant("unused:1", "V=unused")
	variant("multi:1", "V=multi") // one image by two names: both go
	variant("multi:2", "V=multi")
	variant("pinned:1", "V=pinned") // named by a pod by its ID: it stays
	pinned, err := imgs.Get("pinned:1")
	if err != nil {
		t.Fatal(err)
	}
	formCluster(t, n)
	ctx := context.Background()
	manifest := strings.ReplaceAll(strings.ReplaceAll(rollingYAML, "VERSION_VALUE", "x"), "busybox:test", "needed:1")
	manifest = strings.Replace(manifest, "replicas: 3", "replicas: 0", 1) // placed nowhere running, still needed
	if _, err := n.client.ApplyManifests(ctx, []byte(manifest), "gc.yaml"); err != nil {
		t.Fatal(err)
	}
	if err := n.client.Scale(ctx, "default", "roll", 1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deployment's pod placed", 30*time.Second, func() bool { return len(pods(t, n)) == 1 })
	created, err := n.agent.Engine().Create(ctx, &api.ContainerConfig{Image: "inuse:1", Cmd: []string{"sleep", "60"}, NetworkMode: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.agent.Engine().Remove(context.Background(), created.ID, true, true) })
	needed := n.agent.cluster.NeededImages()
	if !needed["needed:1"] {
		t.Fatalf("the images the node's pods need: %v, want needed:1 among them", needed)
	}
	needed[pinned.ID] = true
	// A 0% high mark: the disk always counts as full.
	removed := collectImages(ctx, n.agent.Engine(), n.cfg.DataDir, 0, 0, needed)
	if len(removed) == 0 {
		t.Fatal("nothing removed from a full disk")
	}
	for ref, want := range map[string]bool{"needed:1": true, "inuse:1": true, "unused:1": false, "multi:1": false, "multi:2": false, "pinned:1": true} {
		if _, err := imgs.Get(ref); (err == nil) != want {
			t.Errorf("%s present: %v, want %v", ref, err == nil, want)
		}
	}
}

// A ResourceQuota caps what a namespace's workloads may ask for: a change
// past it is refused with the quota named, and nothing of it is applied.
func TestResourceQuotaRefusesOverage(t *testing.T) {
	needRoot(t)
	n := startNode(t, "q1", "127.0.0.87", "")
	formCluster(t, n)
	ctx := context.Background()
	quota := `
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: small, namespace: team}
spec:
  hard: {pods: "2", requests.memory: 256Mi}
`
	if _, err := n.client.ApplyManifests(ctx, []byte(quota), "quota.yaml"); err != nil {
		t.Fatal(err)
	}
	deploy := func(replicas int, mem string) string {
		return strings.NewReplacer("REPLICAS", fmt.Sprint(replicas), "MEM", mem).Replace(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: team}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - {name: main, image: busybox:test, resources: {requests: {memory: MEM}}}
`)
	}
	_, err := n.client.ApplyManifests(ctx, []byte(deploy(3, "64Mi")), "app.yaml")
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "pods would be 3") || !strings.Contains(err.Error(), "quota small") {
		t.Fatalf("3 pods under a 2-pod quota: %v", err)
	}
	if _, err := n.client.ApplyManifests(ctx, []byte(deploy(2, "200Mi")), "app.yaml"); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "requests.memory") {
		t.Fatalf("400Mi under a 256Mi quota: %v", err)
	}
	if raws, _ := n.client.GetObjects(ctx, "deployments", "team", ""); len(raws) != 0 {
		t.Fatal("a refused deployment was stored")
	}
	if _, err := n.client.ApplyManifests(ctx, []byte(deploy(2, "64Mi")), "app.yaml"); err != nil {
		t.Fatalf("within the quota: %v", err)
	}
	if err := n.client.Scale(ctx, "team", "app", 3); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("scaling past the quota: %v", err)
	}
}

// A DaemonSet runs one pod on every node its selector matches, and on a
// matching node that joins later.
func TestDaemonSetOnMatchingNodes(t *testing.T) {
	needRoot(t)
	nodes := []*testNode{startNode(t, "ds1", "127.0.0.91", ""), startNode(t, "ds2", "127.0.0.92", ""), startNode(t, "ds3", "127.0.0.93", "")}
	for i, n := range nodes {
		n.stop()
		n.cfg.Cluster.Labels = map[string]string{"role": map[bool]string{true: "edge", false: "core"}[i != 1]}
		n.start()
		testimage.BusyboxInto(t, n.agent.Engine().Images(), "busybox:test", nil)
	}
	formCluster(t, nodes[0], nodes[1])
	ctx := context.Background()
	ds := `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {role: edge}
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox:test, command: ["sleep", "3600"]}
`
	if _, err := nodes[0].client.ApplyManifests(ctx, []byte(ds), "ds.yaml"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "one pod on the matching node only", 30*time.Second, func() bool {
		by := readyByNode(pods(t, nodes[0]))
		return len(by) == 1 && by["ds1"] == 1
	})
	tok, err := nodes[0].client.CreateToken(ctx, api.TokenCreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[2].client.ClusterJoin(ctx, api.JoinRequest{Addr: nodes[0].ip, Token: tok.Token}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a pod on the matching node that joined", 30*time.Second, func() bool {
		by := readyByNode(pods(t, nodes[0]))
		return len(by) == 2 && by["ds1"] == 1 && by["ds3"] == 1
	})
}

// Probes: a pod is ready only once its readiness probe passes (HTTP), and
// a container whose liveness probe fails (exec) is restarted.
func TestProbesGateReadinessAndRestart(t *testing.T) {
	needRoot(t)
	n := startNode(t, "p1", "127.0.0.89", "")
	testimage.BusyboxInto(t, n.agent.Engine().Images(), "busybox:test", nil)
	formCluster(t, n)
	ctx := context.Background()
	manifest := `
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:test
    command: ["sh", "-c", "mkdir -p /www; touch /alive; (sleep 2; echo ok > /www/ready) & exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /ready, port: 8080}
      periodSeconds: 1
    livenessProbe:
      exec: {command: ["test", "-e", "/alive"]}
      periodSeconds: 1
      failureThreshold: 2
`
	if _, err := n.client.ApplyManifests(ctx, []byte(manifest), "probed.yaml"); err != nil {
		t.Fatal(err)
	}
	status := func() (phase string, ready bool, restarts int32) {
		for _, p := range pods(t, n) {
			if p.Name == "probed" && len(p.Status.ContainerStatuses) == 1 {
				return p.Status.Phase, p.Status.ContainerStatuses[0].Ready, p.Status.ContainerStatuses[0].RestartCount
			}
		}
		return "", false, 0
	}
	waitUntil(t, "the pod running but not ready (its page is not there yet)", 20*time.Second, func() bool {
		phase, ready, _ := status()
		return phase == api.PodRunning && !ready
	})
	waitUntil(t, "the pod ready once its readiness probe passes", 20*time.Second, func() bool {
		_, ready, _ := status()
		return ready
	})
	// Break liveness: the container is killed and restarted.
	if code, out := execIn(t, n, "pod:default:probed", "rm", "/alive"); code != 0 {
		t.Fatalf("rm: %d %s", code, out)
	}
	waitUntil(t, "a restart after the liveness probe failed", 40*time.Second, func() bool {
		_, _, restarts := status()
		return restarts >= 1
	})
}

// A tainted node takes only the pods that tolerate its taint.
func TestTaintsKeepPodsOff(t *testing.T) {
	needRoot(t)
	t1, t2 := startNode(t, "t1", "127.0.0.95", ""), startNode(t, "t2", "127.0.0.96", "")
	t1.stop()
	t1.cfg.Cluster.Taints = []string{"dedicated=gpu:NoSchedule"}
	t1.start()
	for _, n := range []*testNode{t1, t2} {
		testimage.BusyboxInto(t, n.agent.Engine().Images(), "busybox:test", nil)
	}
	formCluster(t, t1, t2)
	ctx := context.Background()
	app := func(name, tolerations string) string {
		return strings.NewReplacer("NAME", name, "TOL", tolerations).Replace(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: 2
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      terminationGracePeriodSeconds: 1TOL
      containers:
      - {name: main, image: busybox:test, command: ["sleep", "3600"]}
`)
	}
	if _, err := t1.client.ApplyManifests(ctx, []byte(app("plain", "")), "plain.yaml"); err != nil {
		t.Fatal(err)
	}
	tol := "\n      tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]"
	if _, err := t1.client.ApplyManifests(ctx, []byte(app("gpu", tol)), "gpu.yaml"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "plain pods only on t2, tolerating pods on both", 30*time.Second, func() bool {
		plain, gpu := map[string]int{}, map[string]int{}
		for _, p := range pods(t, t1) {
			if p.Status.Phase != api.PodRunning {
				return false
			}
			if p.Labels["app"] == "plain" {
				plain[p.Status.NodeName]++
			} else {
				gpu[p.Status.NodeName]++
			}
		}
		return plain["t2"] == 2 && plain["t1"] == 0 && gpu["t1"] == 1 && gpu["t2"] == 1
	})
	nodes, _ := t2.client.ClusterNodes(ctx)
	for _, n := range nodes {
		if n.Name == "t1" && (len(n.Taints) != 1 || n.Taints[0] != "dedicated=gpu:NoSchedule") {
			t.Fatalf("t1's taints: %v", n.Taints)
		}
	}
}
