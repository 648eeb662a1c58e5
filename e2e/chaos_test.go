package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/api"
	"kedge/internal/lab"
	"kedge/internal/testimage"
)

// chaosNames are the Deployments the chaos test applies, scales and deletes.
func chaosNames() []string { return []string{"d0", "d1", "d2", "d3"} }

// chaosGone stands for "no such Deployment" in the chaos test's model.
const chaosGone = -1

// chaosDeployment is a small Deployment named name with replicas pods.
func chaosDeployment(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s}
spec:
  replicas: %d
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox, command: ["sleep", "3600"]}
`, name, replicas, name, name)
}

// While leaders are killed, hosts cut off, partitioned and crashed at
// random, Deployments are applied, scaled and deleted through random hosts.
// Afterwards every acknowledged change is there, every Deployment runs
// exactly its replicas in every host's view of the cluster and on the
// hosts themselves (no host runs a copy too many, none is missing), and a
// deleted Deployment runs nowhere. A change whose answer was lost may or
// may not have applied.
//
// KEDGE_CHAOS_DURATION (a Go duration, default 3m) is how long the faults
// go on; KEDGE_CHAOS_SEED reruns a seed; KEDGE_CHAOS_LOGS names a
// directory that receives the agents' whole logs when the test fails.
func TestLabChaos(t *testing.T) {
	duration := 3 * time.Minute
	if s := os.Getenv("KEDGE_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("KEDGE_CHAOS_DURATION=%q: want a positive Go duration (%v)", s, err)
		}
		duration = d
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KEDGE_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KEDGE_CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("chaos seed %d, duration %s (KEDGE_CHAOS_SEED and KEDGE_CHAOS_DURATION rerun it)", seed, duration)

	c := startLabCluster(t, 3)
	keepChaosLogs(t, c.lab)
	ctx := context.Background()
	clients := map[*lab.Host]*api.Client{}
	for _, h := range c.lab.Hosts {
		clients[h] = c.client(h)
		if _, err := clients[h].ImportImage(ctx, bytes.NewReader(testimage.Busybox(t))); err != nil {
			t.Fatal(err)
		}
	}

	// The faults run on their own goroutine, one at a time, while this one
	// writes; both draw from the seed (each its own stream).
	runCtx, stop := context.WithTimeout(ctx, duration)
	defer stop()
	f := &chaosFaults{t: t, lab: c.lab, clients: clients, rng: rand.New(rand.NewPCG(seed, 2)), begin: time.Now(), counts: map[string]int{}}
	var wg sync.WaitGroup
	var faultErr error
	wg.Go(func() { faultErr = f.run(runCtx) })

	// One writer per Deployment, so that each Deployment's writes are
	// sequential (the model below is per Deployment) while the writers
	// race each other: one stuck behind a fault while others go on.
	writers := make([]*chaosWriter, len(chaosNames()))
	for i, name := range chaosNames() {
		w := &chaosWriter{name: name, hosts: c.lab.Hosts, clients: clients, rng: rand.New(rand.NewPCG(seed, uint64(10+i))),
			begin: f.begin, acked: chaosGone, ops: map[string]int{}}
		writers[i] = w
		wg.Go(func() { w.run(runCtx) })
	}
	wg.Wait()
	if faultErr != nil {
		t.Fatalf("faults: %v", faultErr)
	}
	m := newChaosModel()
	ops := map[string]int{}
	var violations []string
	checked := 0
	for _, w := range writers {
		checked += w.checked
		m.acked[w.name], m.maybe[w.name] = w.acked, w.maybe()
		for k, v := range w.ops {
			ops[k] += v
		}
		violations = append(violations, w.violations...)
	}
	t.Logf("faults: %v", f.counts)
	t.Logf("writes: %v", ops)
	t.Logf("acknowledged: %v, unanswered since: %v", m.acked, m.maybe)
	for _, v := range violations {
		t.Errorf("an answer contradicts the acknowledged writes before it: %s", v)
	}
	// Faults leave some writes unanswered, which suspends the checks of
	// their writer's next answers for a while; a run must still check many.
	if want := int(duration / (2 * time.Second)); checked < want {
		t.Errorf("only %d answers were checked against the acknowledged writes in %v, want at least %d", checked, duration, want)
	}
	t.Logf("answers checked: %d", checked)

	// Convergence: in every host's view and on the hosts, each Deployment
	// runs its acknowledged (or possibly applied) replicas, each once.
	ended := time.Now()
	deadline := ended.Add(90 * time.Second)
	for {
		problem := chaosCheck(ctx, c.lab.Hosts, clients, m)
		if problem == "" {
			t.Logf("converged %s after the chaos", time.Since(ended).Round(100*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Logf("cluster at the end:\n%s", chaosDump(ctx, c.lab.Hosts, clients))
			t.Fatalf("no convergence 90 s after the chaos: %s", problem)
		}
		time.Sleep(200 * time.Millisecond) // polling: the check reads several hosts
	}
}

// chaosModel is what the writes of the chaos test may have left.
type chaosModel struct {
	// acked[name] is the replicas last acknowledged (chaosGone: deleted,
	// or never created).
	acked map[string]int
	// maybe[name] holds values whose write failed without a definite
	// answer and may have applied after the last acknowledged one.
	maybe map[string]map[int]bool
}

func newChaosModel() *chaosModel {
	m := &chaosModel{acked: map[string]int{}, maybe: map[string]map[int]bool{}}
	for _, n := range chaosNames() {
		m.acked[n] = chaosGone
	}
	return m
}

// allows reports whether name may end with value.
func (m *chaosModel) allows(name string, value int) bool {
	return m.acked[name] == value || m.maybe[name][value]
}

// chaosWriter applies, scales and deletes one Deployment through random
// hosts, one write at a time, and keeps what they may have left.
type chaosWriter struct {
	name    string
	hosts   []*lab.Host
	clients map[*lab.Host]*api.Client
	rng     *rand.Rand
	begin   time.Time // when the chaos began
	// acked is the replicas last acknowledged (chaosGone: deleted, or
	// never created); unanswered are the writes that failed without a
	// definite answer and may still apply: each may have applied, also
	// after writes acknowledged later (see chaosLateWrite).
	acked      int
	unanswered []chaosUnanswered
	// ops counts the writes by kind and outcome; violations are answers
	// that contradict the acknowledged writes before them; recent are the
	// last writes, for a violation's message.
	ops        map[string]int
	violations []string
	recent     []string
	// checked counts the answers held against the acknowledged writes
	// (those given while no unanswered write could still apply).
	checked int
}

// run writes until ctx ends.
func (w *chaosWriter) run(ctx context.Context) {
	for ctx.Err() == nil {
		var up []*lab.Host
		for _, h := range w.hosts {
			if h.Running() {
				up = append(up, h)
			}
		}
		if len(up) > 0 {
			w.write(up[w.rng.IntN(len(up))])
		}
		// The writes' pace is an input of the test (a few people at
		// terminals), not a wait for anything.
		hold(ctx, time.Duration(w.rng.IntN(600))*time.Millisecond)
	}
}

// write makes one random write through h and records its answer.
func (w *chaosWriter) write(h *lab.Host) {
	cl := w.clients[h]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// definite: no unanswered write may apply.
	definite := len(w.unanswered) == 0
	var op string
	var value int
	var err error
	var applied []api.ApplyResult
	switch r := w.rng.IntN(20); {
	case r < 9: // apply (create, or change the replicas)
		op, value = "apply", 1+w.rng.IntN(3)
		applied, err = cl.ApplyManifests(ctx, []byte(chaosDeployment(w.name, value)), w.name)
		if res := applied; err == nil && len(res) == 1 && definite {
			switch want := w.acked; {
			case res[0].Action == "unchanged" && want != value:
				w.violatef("apply of %s with %d replicas through %s answered unchanged, but %d was acknowledged last", w.name, value, h.Name, want)
			case res[0].Action == "created" && want != chaosGone:
				w.violatef("apply of %s through %s answered created, but it exists with %d replicas", w.name, h.Name, want)
			case res[0].Action == "configured" && want == chaosGone:
				w.violatef("apply of %s through %s answered configured, but it was deleted or never made", w.name, h.Name)
			}
		}
	case r < 19: // scale
		op, value = "scale", w.rng.IntN(4)
		err = cl.Scale(ctx, "default", w.name, int32(value))
		if definite && w.acked == chaosGone && err == nil {
			w.violatef("scale of %s to %d through %s succeeded, but it was deleted or never made", w.name, value, h.Name)
		}
	default: // delete
		op, value = "delete", chaosGone
		err = cl.DeleteObject(ctx, "deployments", "default", w.name)
	}
	if definite && (err == nil || errors.Is(err, api.ErrNotFound)) {
		w.checked++
	}
	if definite && w.acked != chaosGone && errors.Is(err, api.ErrNotFound) {
		w.violatef("%s of %s through %s: not found, but it exists with %d replicas", op, w.name, h.Name, w.acked)
	}
	answer := "ok"
	if err != nil {
		answer = err.Error()
	} else if len(applied) == 1 {
		answer = applied[0].Action
	}
	w.recent = append(w.recent, fmt.Sprintf("%.1fs %s %s %d through %s: %s", time.Since(w.begin).Seconds(), op, w.name, value, h.Name, answer))
	if len(w.recent) > 6 {
		w.recent = w.recent[1:]
	}
	switch {
	case err == nil:
		w.ops[op]++
		w.acked = value
		// Only unanswered writes recent enough may still apply after it.
		w.unanswered = slices.DeleteFunc(w.unanswered, func(u chaosUnanswered) bool { return time.Since(u.at) > chaosLateWrite })
	case errors.Is(err, api.ErrNotFound): // a definite answer: nothing changed
		w.ops[op+" (not found)"]++
	default:
		w.ops[op+" (failed)"]++
		w.unanswered = append(w.unanswered, chaosUnanswered{value: value, at: time.Now()})
	}
}

// violatef records an answer that contradicts the acknowledged writes.
func (w *chaosWriter) violatef(format string, args ...any) {
	w.violations = append(w.violations, fmt.Sprintf("%.1fs: ", time.Since(w.begin).Seconds())+fmt.Sprintf(format, args...)+
		"; the writes before:\n\t"+strings.Join(w.recent, "\n\t"))
}

// chaosUnanswered is a write that failed without a definite answer: the
// value it wrote and when its answer came.
type chaosUnanswered struct {
	value int
	at    time.Time
}

// chaosLateWrite bounds how long after its failed answer a write may still
// apply. A forwarded command held up by a partition (up to 15 s here)
// reaches the leader when it heals, after the forwarding node has given
// up, and applies after writes acknowledged in between: a client cannot
// tell, and must take it as may-have-applied until then.
const chaosLateWrite = 20 * time.Second

// maybe is the set of values the unanswered writes may have left.
func (w *chaosWriter) maybe() map[int]bool {
	out := map[int]bool{}
	for _, u := range w.unanswered {
		out[u.value] = true
	}
	return out
}

// chaosFaults injects faults into a lab cluster one at a time, each for a
// length drawn from rng (see faultLength), with quiet gaps between them.
type chaosFaults struct {
	t       *testing.T
	lab     *lab.Lab
	clients map[*lab.Host]*api.Client
	rng     *rand.Rand
	begin   time.Time
	counts  map[string]int // read once run has returned
}

// run injects faults until ctx ends; every fault is healed (killed agents
// started again) before it returns.
func (f *chaosFaults) run(ctx context.Context) error {
	for ctx.Err() == nil {
		hold(ctx, f.length())
		if ctx.Err() != nil {
			return nil
		}
		if err := f.one(ctx); err != nil {
			return err
		}
	}
	return nil
}

// length is the length of a quiet gap, or of a short fault: 0.5 to 3 s,
// less than gossip takes to find a node dead.
func (f *chaosFaults) length() time.Duration {
	return time.Duration(500+f.rng.IntN(2500)) * time.Millisecond
}

// faultLength is the length of a fault: one in four is long (6 to 15 s),
// long enough for the node to be recorded down and its pods to be
// replaced elsewhere, so that healing it leaves copies to stop.
func (f *chaosFaults) faultLength() time.Duration {
	if f.rng.IntN(4) == 0 {
		return time.Duration(6000+f.rng.IntN(9000)) * time.Millisecond
	}
	return f.length()
}

// logf logs with the time since the chaos began.
func (f *chaosFaults) logf(format string, args ...any) {
	f.t.Logf("chaos %6.1fs: %s", time.Since(f.begin).Seconds(), fmt.Sprintf(format, args...))
}

// leader is the host whose agent says it leads (nil when none does, as
// during an election); a leader cut off may still say so for a while.
func (f *chaosFaults) leader() *lab.Host {
	for _, h := range f.lab.Hosts {
		if !h.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := f.clients[h].ClusterStatus(ctx)
		cancel()
		if err == nil && st.RaftState == "Leader" {
			return h
		}
	}
	return nil
}

// one injects one fault, holds it for a drawn length (shorter when ctx
// ends) and heals it.
func (f *chaosFaults) one(ctx context.Context) error {
	hosts := f.lab.Hosts
	leader := f.leader()
	target := hosts[f.rng.IntN(len(hosts))]
	if leader != nil {
		// A follower, for the faults that want one.
		others := slices.DeleteFunc(slices.Clone(hosts), func(h *lab.Host) bool { return h == leader })
		target = others[f.rng.IntN(len(others))]
	}
	d := f.faultLength()
	switch r := f.rng.IntN(10); {
	case r < 2: // kill -9 the leader's agent (its containers live on)
		if leader == nil {
			return nil
		}
		f.counts["kill leader"]++
		f.logf("kill -9 %s (leader) for %s", leader.Name, d)
		if err := leader.Kill9(); err != nil {
			return err
		}
		hold(ctx, d)
		f.logf("start %s", leader.Name)
		return startHost(leader)
	case r < 4: // isolate the leader from both followers; all keep running
		if leader == nil {
			return nil
		}
		f.counts["partition leader"]++
		f.logf("partition %s (leader) from the others for %s", leader.Name, d)
		return f.partition(ctx, leader, d)
	case r < 6: // partition a follower away
		f.counts["partition follower"]++
		f.logf("partition %s (follower) from the others for %s", target.Name, d)
		return f.partition(ctx, target, d)
	case r < 8: // cut any host's link
		h := hosts[f.rng.IntN(len(hosts))]
		f.counts["cut"]++
		f.logf("cut %s for %s", h.Name, d)
		if err := h.Cut(); err != nil {
			return err
		}
		hold(ctx, d)
		f.logf("heal %s", h.Name)
		return h.Heal()
	default: // a follower loses power: agent, supervisors and containers die
		f.counts["crash follower"]++
		f.logf("crash %s for %s", target.Name, d)
		if err := target.Crash(); err != nil {
			return err
		}
		hold(ctx, d)
		f.logf("start %s", target.Name)
		return startHost(target)
	}
}

// partition puts h alone on one side of a partition for d.
func (f *chaosFaults) partition(ctx context.Context, h *lab.Host, d time.Duration) error {
	if err := f.lab.Partition([]int{h.N}); err != nil {
		return err
	}
	hold(ctx, d)
	f.logf("heal the partition")
	return f.lab.HealPartition()
}

// hold waits for d or until ctx ends: it gives a fault or the writes their
// drawn length, an input of the test; it synchronises nothing.
func hold(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// chaosPodsOf counts a host's view of the cluster's pods by their app
// label: all of them, and those running and ready.
func chaosPodsOf(ctx context.Context, cl *api.Client) (total, ready map[string]int, err error) {
	raws, err := cl.GetObjects(ctx, "pods", "default", "")
	if err != nil {
		return nil, nil, fmt.Errorf("list pods: %w", err)
	}
	total, ready = map[string]int{}, map[string]int{}
	for _, r := range raws {
		var p api.ClusterPod
		if json.Unmarshal(r, &p) != nil {
			continue
		}
		app := p.Labels["app"]
		total[app]++
		if p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Ready {
			ready[app]++
		}
	}
	return total, ready, nil
}

// chaosRunning counts the running containers of each chaos Deployment on a
// host's engine (its pods are named after the Deployment).
func chaosRunning(ctx context.Context, cl *api.Client) (map[string]int, error) {
	list, err := cl.ListContainers(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := map[string]int{}
	for _, c := range list {
		pod := c.Config.Labels["kedge.io/pod"]
		for _, n := range chaosNames() {
			if c.State.Running && strings.HasPrefix(pod, "default/"+n+"-") {
				out[n]++
			}
		}
	}
	return out, nil
}

// chaosCheck says what differs from the expected end state ("" when none).
func chaosCheck(ctx context.Context, hosts []*lab.Host, clients map[*lab.Host]*api.Client, m *chaosModel) string {
	var spec map[string]int
	onHosts := map[string]int{}
	for _, h := range hosts {
		cl := clients[h]
		raws, err := cl.GetObjects(ctx, "deployments", "default", "")
		if err != nil {
			return fmt.Sprintf("%s: list deployments: %v", h.Name, err)
		}
		view := map[string]int{}
		for _, n := range chaosNames() {
			view[n] = chaosGone
		}
		for _, r := range raws {
			var d api.Deployment
			if json.Unmarshal(r, &d) == nil && d.Spec.Replicas != nil {
				view[d.Name] = int(*d.Spec.Replicas)
			}
		}
		if spec == nil {
			spec = view
			for _, n := range chaosNames() {
				if !m.allows(n, spec[n]) {
					return fmt.Sprintf("%s: deployment %s has %d replicas (-1: gone), acknowledged %d, unanswered %v", h.Name, n, spec[n], m.acked[n], slices.Sorted(maps.Keys(m.maybe[n])))
				}
			}
		} else if !maps.Equal(view, spec) {
			return fmt.Sprintf("%s sees deployments %v, %s sees %v", h.Name, view, hosts[0].Name, spec)
		}
		total, ready, err := chaosPodsOf(ctx, cl)
		if err != nil {
			return fmt.Sprintf("%s: %v", h.Name, err)
		}
		running, err := chaosRunning(ctx, cl)
		if err != nil {
			return fmt.Sprintf("%s: %v", h.Name, err)
		}
		for _, n := range chaosNames() {
			want := max(spec[n], 0)
			if total[n] != want || ready[n] != want {
				return fmt.Sprintf("%s sees deployment %s with %d pods, %d ready, want %d", h.Name, n, total[n], ready[n], want)
			}
			if running[n] > want {
				return fmt.Sprintf("%s runs %d containers of deployment %s, want at most %d", h.Name, running[n], n, want)
			}
			onHosts[n] += running[n]
		}
	}
	for _, n := range chaosNames() {
		if want := max(spec[n], 0); onHosts[n] != want {
			return fmt.Sprintf("the hosts run %d containers of deployment %s, want %d", onHosts[n], n, want)
		}
	}
	return ""
}

// chaosDump describes every host's view of the chaos pods and the chaos
// containers it runs, for a failure's log.
func chaosDump(ctx context.Context, hosts []*lab.Host, clients map[*lab.Host]*api.Client) string {
	var b strings.Builder
	for _, h := range hosts {
		cl := clients[h]
		fmt.Fprintf(&b, "%s (%s):\n", h.Name, h.IP)
		if st, err := cl.ClusterStatus(ctx); err == nil {
			fmt.Fprintf(&b, "  raft %s, leader %s, applied %d\n", st.RaftState, st.LeaderID, st.AppliedIndex)
		}
		if nodes, err := cl.ClusterNodes(ctx); err == nil {
			for _, n := range nodes {
				fmt.Fprintf(&b, "  node %s %s %s\n", n.Name, n.ID, n.State)
			}
		}
		if raws, err := cl.GetObjects(ctx, "pods", "default", ""); err == nil {
			for _, r := range raws {
				var p api.ClusterPod
				if json.Unmarshal(r, &p) != nil {
					continue
				}
				ready := len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Ready
				fmt.Fprintf(&b, "  pod %s node %s phase %s ready %v\n", p.Name, p.Status.NodeName, p.Status.Phase, ready)
			}
		}
		if list, err := cl.ListContainers(ctx, true); err == nil {
			for _, c := range list {
				if pod := c.Config.Labels["kedge.io/pod"]; pod != "" {
					fmt.Fprintf(&b, "  container %.12s pod %s running %v alloc %s\n", c.ID, pod, c.State.Running, c.Config.Labels["kedge.io/alloc"])
				}
			}
		}
	}
	return b.String()
}

// keepChaosLogs copies the agents' whole logs into $KEDGE_CHAOS_LOGS when
// the test fails (the lab logs only their ends).
func keepChaosLogs(t *testing.T, l *lab.Lab) {
	dir := os.Getenv("KEDGE_CHAOS_LOGS")
	if dir == "" {
		return
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Logf("keep logs: %v", err)
			return
		}
		for _, h := range l.Hosts {
			if err := copyFile(filepath.Join(dir, h.Name+".log"), h.LogPath); err != nil {
				t.Logf("keep the log of %s: %v", h.Name, err)
			}
		}
		t.Logf("agent logs kept in %s", dir)
	})
}

// copyFile copies the file src to dst.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}
