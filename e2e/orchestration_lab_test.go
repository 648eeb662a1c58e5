package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/api"
	"kedge/internal/lab"
	"kedge/internal/testimage"
)

// webManifest is the Deployment the orchestration lab test drives: busybox
// httpd serving its VERSION, ready once its page answers, rolled one pod at
// a time (maxSurge 1, maxUnavailable 1). The node probes it over the pod's
// network (httpGet), so a pod that came up without its network (the attach
// race fixed in net/cni's plumb) would never be ready.
func webManifest(replicas int, version string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        env: [{name: VERSION, value: %s}]
        command: ["sh", "-c", "mkdir -p /www && echo $VERSION > /www/version && exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /version, port: 8080}
          periodSeconds: 1
`, replicas, version)
}

// orchLab is a lab cluster seen through the CLI, as a user sees it.
type orchLab struct {
	*labCluster
	// gone are hosts out of the cluster for now (killed, cut off, left):
	// the cluster's view is read elsewhere and their engines are not
	// counted.
	gone map[*lab.Host]bool
}

// kedge runs the CLI on a host (against its agent) and returns its output.
func (o *orchLab) kedge(h *lab.Host, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, kedgeBin, args...)
	return string(out), err
}

// must runs the CLI and fails the test on an error.
func (o *orchLab) must(h *lab.Host, args ...string) string {
	o.t.Helper()
	out, err := o.kedge(h, args...)
	if err != nil {
		o.t.Fatalf("kedge %s on %s: %v", strings.Join(args, " "), h.Name, err)
	}
	return out
}

// apply writes a manifest into the host's directory and applies it there.
func (o *orchLab) apply(h *lab.Host, manifest string) {
	o.t.Helper()
	path := filepath.Join(h.Dir, "web.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		o.t.Fatal(err)
	}
	o.must(h, "apply", "-f", path)
}

// viewer is a host in the cluster, to read the cluster's view from.
func (o *orchLab) viewer() *lab.Host {
	for _, h := range o.lab.Hosts {
		if !o.gone[h] {
			return h
		}
	}
	o.t.Fatal("no host left in the cluster")
	return nil
}

// webState is what a user sees of the web Deployment: `kedge get pods -o
// json` on a member, and `kedge ps -o json` on every host.
type webState struct {
	pods    []api.ClusterPod
	running map[string][]api.Container // host name -> running web containers
}

// read gathers webState; an error means a command failed (retried by the
// caller's wait).
func (o *orchLab) read() (webState, error) {
	st := webState{running: map[string][]api.Container{}}
	out, err := o.kedge(o.viewer(), "get", "pods", "-o", "json")
	if err != nil {
		return st, err
	}
	var pods []api.ClusterPod
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		return st, fmt.Errorf("get pods -o json: %w: %q", err, out)
	}
	for _, p := range pods {
		if p.Labels["app"] == "web" {
			st.pods = append(st.pods, p)
		}
	}
	for _, h := range o.lab.Hosts {
		if !h.Running() {
			continue
		}
		out, err := o.kedge(h, "ps", "-o", "json")
		if err != nil {
			return st, err
		}
		var list []api.Container
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return st, fmt.Errorf("ps -o json on %s: %w: %q", h.Name, err, out)
		}
		for _, c := range list {
			if strings.HasPrefix(c.Config.Labels["kedge.io/pod"], "default/web-") && c.State.Running {
				st.running[h.Name] = append(st.running[h.Name], c)
			}
		}
	}
	return st, nil
}

// ready counts the ready pods the cluster lists.
func (s webState) ready() int {
	n := 0
	for _, p := range s.pods {
		if p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready {
			n++
		}
	}
	return n
}

// onNode counts the pods the cluster places on each node.
func (s webState) onNode() map[string]int {
	out := map[string]int{}
	for _, p := range s.pods {
		out[p.Status.NodeName]++
	}
	return out
}

// problem says how the state differs from replicas ready pods of version,
// each running exactly once, on the host the cluster places it on ("" when
// it does not). The engines of the hosts in gone are not counted.
func (o *orchLab) problem(s webState, replicas int, version string) string {
	if len(s.pods) != replicas || s.ready() != replicas {
		var unready []string
		for _, p := range s.pods {
			if len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready {
				unready = append(unready, fmt.Sprintf("%s on %s: %s %s", p.Name, p.Status.NodeName, p.Status.Phase, p.Status.Message))
			}
		}
		return fmt.Sprintf("the cluster lists %d pods, %d ready, want %d (on %v; not ready: %s)", len(s.pods), s.ready(), replicas, s.onNode(), strings.Join(unready, "; "))
	}
	want := map[string]string{} // alloc id -> node
	for _, p := range s.pods {
		want[string(p.UID)] = p.Status.NodeName
	}
	seen := map[string]string{}
	for _, h := range o.lab.Hosts {
		if o.gone[h] {
			continue // cut off, its copies run on; killed or left, it runs none
		}
		for _, c := range s.running[h.Name] {
			alloc := c.Config.Labels["kedge.io/alloc"]
			if node, ok := want[alloc]; !ok || node != h.Name {
				return fmt.Sprintf("%s runs %s (alloc %s), which the cluster places on %q", h.Name, c.Name, alloc, node)
			}
			if other, dup := seen[alloc]; dup {
				return fmt.Sprintf("alloc %s runs twice (%s and %s)", alloc, other, h.Name)
			}
			seen[alloc] = h.Name
			if !slices.Contains(c.Config.Env, "VERSION="+version) {
				return fmt.Sprintf("%s on %s runs env %v, want VERSION=%s", c.Name, h.Name, c.Config.Env, version)
			}
		}
	}
	if len(seen) != replicas {
		return fmt.Sprintf("the engines run %d web containers, want %d (cluster: %v)", len(seen), replicas, s.onNode())
	}
	return ""
}

// converge waits until the web Deployment runs exactly replicas ready pods
// of version (see problem) and returns that state.
func (o *orchLab) converge(what string, replicas int, version string, within time.Duration) webState {
	o.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := o.read()
		why := fmt.Sprint(err)
		if err == nil {
			if why = o.problem(s, replicas, version); why == "" {
				return s
			}
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("%s: not there after %v: %s", what, within, why)
		}
		time.Sleep(100 * time.Millisecond) // polling: one check reads several commands' output
	}
}

// allocsOn returns the ids of the pods the cluster places on a host.
func (s webState) allocsOn(host string) map[string]bool {
	out := map[string]bool{}
	for _, p := range s.pods {
		if p.Status.NodeName == host {
			out[string(p.UID)] = true
		}
	}
	return out
}

// stale says what is left of the given pods: listed by the cluster, or
// still on the host's engine, running or not (`kedge ps -a`: a pod that
// moved away is removed, not just stopped). "" when nothing is.
func (o *orchLab) stale(s webState, h *lab.Host, allocs map[string]bool) string {
	for _, p := range s.pods {
		if allocs[string(p.UID)] {
			return fmt.Sprintf("the cluster still lists %s on %s", p.Name, p.Status.NodeName)
		}
	}
	out, err := o.kedge(h, "ps", "-a", "-o", "json")
	if err != nil {
		return err.Error()
	}
	var list []api.Container
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return fmt.Sprintf("ps -a -o json on %s: %v", h.Name, err)
	}
	for _, c := range list {
		if allocs[c.Config.Labels["kedge.io/alloc"]] {
			return fmt.Sprintf("%s still has %s (%s)", h.Name, c.Name, c.State.Status)
		}
	}
	return ""
}

// leaderHost is the host whose agent leads, among those in the cluster.
func (o *orchLab) leaderHost() *lab.Host {
	o.t.Helper()
	for _, h := range o.lab.Hosts {
		if o.gone[h] || !h.Running() {
			continue
		}
		if st, err := o.client(h).ClusterStatus(context.Background()); err == nil && st.RaftState == "Leader" {
			return h
		}
	}
	o.t.Fatal("no leader")
	return nil
}

// target picks the host a fault goes to: not h1 (where the test reads
// from), not the leader unless allowLeader, the one the cluster places the
// most web pods on (at least one).
func (o *orchLab) target(s webState, allowLeader bool) *lab.Host {
	o.t.Helper()
	lead := o.leaderHost()
	on := s.onNode()
	var best *lab.Host
	for _, h := range o.lab.Hosts[1:] {
		if o.gone[h] || (h == lead && !allowLeader) {
			continue
		}
		if best == nil || on[h.Name] > on[best.Name] {
			best = h
		}
	}
	if best == nil || on[best.Name] == 0 {
		o.t.Fatalf("no host to fault: pods on %v, leader %s", on, lead.Name)
	}
	return best
}

// spread scales web down to one pod and back up to replicas, so that the
// scheduler spreads them over every schedulable host again.
func (o *orchLab) spread(replicas int, version string) webState {
	o.t.Helper()
	o.must(o.lab.Hosts[0], "scale", "deployment", "web", "--replicas", "1")
	o.converge("scaled to 1 to spread again", 1, version, 30*time.Second)
	o.must(o.lab.Hosts[0], "scale", "deployment", "web", "--replicas", fmt.Sprint(replicas))
	return o.converge(fmt.Sprintf("scaled back to %d", replicas), replicas, version, 30*time.Second)
}

// minReady samples the cluster's ready web pods (through h's API) until
// stop is called, which returns the fewest seen.
func (o *orchLab) minReady(h *lab.Host) (stop func() int) {
	cl := o.client(h)
	done := make(chan struct{})
	var mu sync.Mutex
	fewest := -1
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // ends when stop closes done
		defer wg.Done()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			raws, err := cl.GetObjects(ctx, "pods", "default", "")
			cancel()
			if err == nil {
				n := 0
				for _, r := range raws {
					var p api.ClusterPod
					if json.Unmarshal(r, &p) == nil && p.Labels["app"] == "web" &&
						len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready {
						n++
					}
				}
				mu.Lock()
				if fewest < 0 || n < fewest {
					fewest = n
				}
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond): // sampling, not synchronising
			}
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return fewest
	}
}

// nodeInfo returns the cluster's record of a node, as `kedge nodes -o json`
// on h shows it.
func (o *orchLab) nodeInfo(h *lab.Host, name string) (api.ClusterNode, bool) {
	o.t.Helper()
	var nodes []api.ClusterNode
	if err := json.Unmarshal([]byte(o.must(h, "nodes", "-o", "json")), &nodes); err != nil {
		o.t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Name == name {
			return n, true
		}
	}
	return api.ClusterNode{}, false
}

// Orchestration on three lab hosts with real busybox containers, driven
// through the CLI: apply, scale, rolling update and undo; a host's kill -9
// and a cut link, each replaced elsewhere with no duplicate once it is back;
// drain and uncordon; leave, which drains first. After each step every
// host's engine runs exactly the pods the cluster places on it.
func TestLabOrchestration(t *testing.T) {
	o := &orchLab{labCluster: startLabCluster(t, 3), gone: map[*lab.Host]bool{}}
	h1 := o.lab.Hosts[0]
	start := time.Now()
	step := func(what string) {
		t.Logf("%6.1fs %s", time.Since(start).Seconds(), what)
	}
	archive := filepath.Join(o.lab.Dir, "busybox.tar")
	if err := os.WriteFile(archive, testimage.Busybox(t), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, h := range o.lab.Hosts {
		o.must(h, "image", "import", archive)
	}

	step("apply 4 replicas")
	o.apply(h1, webManifest(4, "v1"))
	s := o.converge("4 pods of v1 after apply", 4, "v1", 60*time.Second)
	if on := s.onNode(); len(on) != 3 {
		t.Fatalf("4 replicas on 3 hosts placed on %v, want all three used", on)
	}

	step("scale up and down")
	o.must(h1, "scale", "deployment", "web", "--replicas", "6")
	s = o.converge("6 pods after scaling up", 6, "v1", 30*time.Second)
	if on := s.onNode(); on["h1"] != 2 || on["h2"] != 2 || on["h3"] != 2 {
		t.Fatalf("6 replicas placed on %v, want 2 per host", on)
	}
	o.must(h1, "scale", "deployment", "web", "--replicas", "3")
	o.converge("3 pods after scaling down", 3, "v1", 30*time.Second)

	step("rolling update to v2")
	sample := o.minReady(h1)
	o.apply(h1, webManifest(3, "v2"))
	if out := o.must(h1, "rollout", "status", "deployment", "web", "--timeout", "60s"); !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status: %q", out)
	}
	o.converge("3 pods of v2 after the rolling update", 3, "v2", 30*time.Second)
	if fewest := sample(); fewest < 2 {
		t.Fatalf("the rolling update left %d pods ready, want at least 2 (maxUnavailable 1)", fewest)
	}
	step("rollout undo")
	if out := o.must(h1, "rollout", "history", "deployment", "web"); strings.Count(out, "busybox") != 2 {
		t.Fatalf("rollout history shows no two revisions:\n%s", out)
	}
	o.must(h1, "rollout", "undo", "deployment", "web")
	o.converge("3 pods of v1 after rollout undo", 3, "v1", 60*time.Second)

	step("kill -9 of a host")
	s = o.spread(5, "v1")
	victim := o.target(s, false)
	before := s.allocsOn(victim.Name)
	step(fmt.Sprintf("crash %s (pods on %v)", victim.Name, s.onNode()))
	if err := victim.Crash(); err != nil {
		t.Fatal(err)
	}
	o.gone[victim] = true
	o.converge("the killed host's pods replaced elsewhere", 5, "v1", 60*time.Second)
	o.start(victim)
	delete(o.gone, victim)
	o.waitView(h1, victim.Name+" ready again", func(_ *api.ClusterStatus, nodes []api.ClusterNode) bool { return allReady(nodes) })
	s = o.converge("no duplicate once the killed host is back", 5, "v1", 60*time.Second)
	waitFor(t, "the returned host to remove its dead copies", 30*time.Second, func() bool { return o.stale(s, victim, before) == "" })

	step("cut link")
	s = o.spread(5, "v1")
	cut := o.target(s, false)
	before = s.allocsOn(cut.Name)
	had := len(before)
	step(fmt.Sprintf("cut %s off (pods on %v)", cut.Name, s.onNode()))
	if err := cut.Cut(); err != nil {
		t.Fatal(err)
	}
	o.gone[cut] = true
	s = o.converge("the cut-off host's pods replaced elsewhere", 5, "v1", 60*time.Second)
	// Cut off, the host keeps its copies running (edge autonomy) ...
	if n := len(s.running[cut.Name]); n != had {
		t.Fatalf("the cut-off host runs %d web containers, want its %d kept", n, had)
	}
	if err := cut.Heal(); err != nil {
		t.Fatal(err)
	}
	delete(o.gone, cut)
	o.waitView(h1, cut.Name+" ready again", func(_ *api.ClusterStatus, nodes []api.ClusterNode) bool { return allReady(nodes) })
	// ... and stops them once it is back: exactly five remain.
	s = o.converge("the healed host's stale copies stopped", 5, "v1", 60*time.Second)
	waitFor(t, "the healed host to remove its stale copies", 30*time.Second, func() bool { return o.stale(s, cut, before) == "" })

	step("drain")
	s = o.spread(5, "v1")
	drained := o.target(s, true)
	step(fmt.Sprintf("drain %s (pods on %v)", drained.Name, s.onNode()))
	sample = o.minReady(h1)
	if out, err := o.kedge(h1, "drain", drained.Name); err != nil {
		t.Fatalf("drain %s: %v %s", drained.Name, err, out)
	}
	s = o.converge("the drained host's pods moved", 5, "v1", 30*time.Second)
	if fewest := sample(); fewest < 4 {
		t.Fatalf("the drain left %d pods ready, want at least 4 (maxUnavailable 1)", fewest)
	}
	if n := s.onNode()[drained.Name]; n != 0 {
		t.Fatalf("the drained host holds %d pods", n)
	}
	if n, _ := o.nodeInfo(h1, drained.Name); !n.Cordoned {
		t.Fatalf("the drained node is not cordoned: %+v", n)
	}
	o.must(h1, "uncordon", drained.Name)
	if n, _ := o.nodeInfo(h1, drained.Name); n.Cordoned {
		t.Fatalf("the node is still cordoned after uncordon: %+v", n)
	}

	step("leave")
	s = o.spread(5, "v1")
	leaver := o.target(s, false)
	had = s.onNode()[leaver.Name]
	sample = o.minReady(h1)
	out, err := o.kedge(leaver, "leave", "--timeout", "60s")
	if err != nil {
		t.Fatalf("leave on %s: %v %s", leaver.Name, err, out)
	}
	fewest := sample()
	t.Logf("kedge leave on %s (pods on %v; fewest ready meanwhile %d):\n%s", leaver.Name, s.onNode(), fewest, out)
	if !strings.Contains(out, fmt.Sprintf("Draining %s: %d pods", leaver.Name, had)) || !strings.Contains(out, "Left the cluster") {
		t.Fatalf("leave printed %q, want the drain's progress from %d pods and the leave", out, had)
	}
	o.gone[leaver] = true
	s = o.converge("exact replicas after the leave", 5, "v1", 30*time.Second)
	if fewest < 4 {
		t.Fatalf("the leave left %d pods ready, want at least 4: its pods were not replaced before it left", fewest)
	}
	if _, ok := o.nodeInfo(h1, leaver.Name); ok {
		t.Fatalf("%s is still listed after its leave", leaver.Name)
	}
	if n := len(s.running[leaver.Name]); n != 0 {
		t.Fatalf("%s runs %d web containers after its leave", leaver.Name, n)
	}
	names := make([]string, 0, 2)
	for n := range s.onNode() {
		names = append(names, n)
	}
	sort.Strings(names)
	step("done; pods on " + strings.Join(names, ", "))
}
