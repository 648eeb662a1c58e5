package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"kedge/api"
	"kedge/cluster/scheduler"
	"kedge/cluster/state"
)

// The workload controller runs on the leader: it turns the applied objects
// (Deployments, DaemonSets, Pods) into allocations of pods to nodes through
// the scheduler, replaces the pods of nodes that went down, rolls pods to a
// new template within maxSurge/maxUnavailable, and forgets stopped ones.
// Every decision is written through Raft as one alloc.plan per round.

// Annotations that tune what a node's loss means for a workload.
const (
	annDisconnectReplace = "kedge.io/disconnect-replace"
	annLostAfter         = "kedge.io/lost-after"
	annStopAfter         = "kedge.io/stop-after"
)

const controllerInterval = 500 * time.Millisecond

// controllerLoop runs the controller on the leader, on every state change
// and every controllerInterval.
func (m *Manager) controllerLoop(ctx context.Context) {
	t := time.NewTicker(controllerInterval)
	defer t.Stop()
	for {
		m.mu.Lock()
		fsm, rn := m.fsm, m.raft
		m.mu.Unlock()
		changed := fsm.State().Changed()
		if rn.IsLeader() {
			if err := m.controlWorkloads(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("workload controller", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
	}
}

// round is one controller pass being built.
type round struct {
	now      time.Time
	view     *state.View
	nodes    map[string]state.Node
	draining map[string]bool // nodes being drained: their pods are replaced as old ones
	place    []state.Alloc
	stop     map[string]string
	reqs     []scheduler.Request
	pending  map[string]state.Alloc // request id -> alloc to place
	failures map[string]string      // owner -> why pods could not be placed
}

func (m *Manager) controlWorkloads(ctx context.Context) error {
	m.mu.Lock()
	fsm := m.fsm
	m.mu.Unlock()
	view := fsm.State()
	r := &round{now: time.Now().UTC(), view: view, nodes: map[string]state.Node{}, draining: map[string]bool{}, stop: map[string]string{},
		pending: map[string]state.Alloc{}, failures: map[string]string{}}
	for _, n := range view.Nodes() {
		r.nodes[n.ID] = n
		if _, ok := view.Object(drainKey(n.ID)); ok {
			r.draining[n.ID] = true
		}
	}
	var gc []string
	for _, a := range view.Allocs() {
		if a.Desired == state.AllocStop {
			gc = append(gc, a.ID) // asked to stop last round: forget it; its node removes what is not desired
		}
	}
	for _, o := range view.Objects("") {
		var err error
		switch o.Kind {
		case api.KindDeployment:
			err = m.planDeployment(r, o)
		case api.KindDaemonSet:
			err = m.planDaemonSet(r, o)
		case api.KindPod:
			err = m.planPod(r, o)
		}
		if err != nil {
			m.log.Warn("workload", "object", o.Key, "err", err)
		}
	}
	if len(r.reqs) > 0 {
		plan := scheduler.Schedule(r.schedulerSnapshot(), r.reqs, scheduler.Options{})
		for _, p := range plan.Placements {
			a := r.pending[p.RequestID]
			a.NodeID = p.NodeID
			r.place = append(r.place, a)
		}
		for _, f := range plan.Failures {
			a := r.pending[f.RequestID]
			r.failures[a.Owner] = f.Summary
		}
	}
	if len(r.place) > 0 || len(r.stop) > 0 {
		cmd, err := state.PlanAllocs(r.place, r.stop, r.now)
		if err != nil {
			return err
		}
		if _, err := m.apply(ctx, cmd); err != nil {
			return fmt.Errorf("write the plan: %w", err)
		}
	}
	if len(gc) > 0 {
		if cmd, err := state.CollectAllocs(gc); err == nil {
			if _, err := m.apply(ctx, cmd); err != nil {
				return err
			}
		}
	}
	return m.reportFailures(ctx, r.failures)
}

// reportFailures records an event when a workload's pods cannot be placed,
// once per distinct reason.
func (m *Manager) reportFailures(ctx context.Context, failures map[string]string) error {
	m.failMu.Lock()
	var record []string
	for owner, why := range failures {
		if m.lastFailure[owner] != why {
			m.lastFailure[owner] = why
			record = append(record, owner)
		}
	}
	for owner := range m.lastFailure {
		if _, ok := failures[owner]; !ok {
			delete(m.lastFailure, owner)
		}
	}
	m.failMu.Unlock()
	sort.Strings(record)
	for _, owner := range record {
		cmd, err := state.RecordEvent("pod.failed_scheduling", owner, "cannot place a pod: "+failures[owner], time.Now().UTC())
		if err != nil {
			continue
		}
		if _, err := m.apply(ctx, cmd); err != nil {
			return err
		}
	}
	return nil
}

// schedulerSnapshot is the scheduler's view: ready nodes and what runs.
func (r *round) schedulerSnapshot() scheduler.Snapshot {
	var s scheduler.Snapshot
	for _, n := range r.nodes {
		alloc := scheduler.Resources{
			MilliCPU: max(0, n.Capacity.CPUMillis-n.Reserved.CPUMillis), MemoryBytes: max(0, n.Capacity.MemoryBytes-n.Reserved.MemoryBytes),
			Pods: 110,
		}
		sn := scheduler.Node{ID: n.ID, Name: n.Name, Labels: n.Labels, Allocatable: alloc,
			Ready: n.State == state.NodeReady, Cordoned: n.Cordoned}
		for _, t := range n.Taints {
			sn.Taints = append(sn.Taints, scheduler.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
		}
		s.Nodes = append(s.Nodes, sn)
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].ID < s.Nodes[j].ID })
	for _, a := range r.view.Allocs() {
		if a.Desired != state.AllocRun || r.stop[a.ID] != "" {
			continue
		}
		var pod api.ClusterPod
		_ = json.Unmarshal(a.Pod, &pod)
		s.Allocs = append(s.Allocs, scheduler.Alloc{ID: a.ID, NodeID: a.NodeID, Group: a.Owner,
			Requests: podRequests(&pod.Spec), HostPorts: podHostPorts(&pod.Spec)})
	}
	return s
}

// podRequests sums what a pod's containers request (init containers run
// before, so the largest of them counts against the sum).
func podRequests(spec *api.PodSpec) scheduler.Resources {
	var sum scheduler.Resources
	for _, c := range spec.Containers {
		sum.MilliCPU += c.Resources.Requests[api.ResourceCPU].MilliValue()
		sum.MemoryBytes += c.Resources.Requests[api.ResourceMemory].Value()
	}
	for _, c := range spec.InitContainers {
		sum.MilliCPU = max(sum.MilliCPU, c.Resources.Requests[api.ResourceCPU].MilliValue())
		sum.MemoryBytes = max(sum.MemoryBytes, c.Resources.Requests[api.ResourceMemory].Value())
	}
	return sum
}

func podHostPorts(spec *api.PodSpec) []scheduler.HostPort {
	var out []scheduler.HostPort
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				out = append(out, scheduler.HostPort{Port: int(p.HostPort), Protocol: firstNonEmpty(p.Protocol, "TCP"), IP: p.HostIP})
			}
		}
	}
	return out
}

// lost reports whether an allocation's node is gone for the workload: down
// or left (or removed) for longer than its lost-after, unless the workload
// waits for its node (disconnect-replace false).
func (r *round) lost(a state.Alloc, ann map[string]string) bool {
	n, ok := r.nodes[a.NodeID]
	if !ok {
		return true
	}
	if n.State != state.NodeDown && n.State != state.NodeLeft {
		return false
	}
	if ann[annDisconnectReplace] == "false" && n.State == state.NodeDown {
		return false
	}
	if d, err := time.ParseDuration(ann[annLostAfter]); err == nil && r.now.Sub(n.StateSince) < d {
		return false
	}
	return true
}

// revision names a pod template: a change of it rolls the pods.
func revision(tmpl *api.PodTemplateSpec) string {
	b, _ := json.Marshal(tmpl)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// newAlloc prepares an allocation of a pod of owner and asks the scheduler
// to place it.
func (r *round) newAlloc(o state.Object, podName string, tmpl *api.PodTemplateSpec, rev string, pin string) {
	id := newID() + newID()
	pod := api.ClusterPod{
		TypeMeta:   api.TypeMeta{APIVersion: api.APIVersionCore, Kind: api.KindPod},
		ObjectMeta: api.ObjectMeta{Name: podName, Namespace: o.Namespace, Labels: tmpl.Labels, Annotations: tmpl.Annotations, UID: id},
		Spec:       tmpl.Spec,
	}
	raw, _ := json.Marshal(pod)
	a := state.Alloc{ID: id, Namespace: o.Namespace, Name: podName, Owner: o.Key, OwnerUID: o.UID, Revision: rev, Pod: raw, Desired: state.AllocRun}
	req := scheduler.Request{ID: id, Group: o.Key, Requests: podRequests(&tmpl.Spec), NodeSelector: tmpl.Spec.NodeSelector,
		HostPorts: podHostPorts(&tmpl.Spec), SpreadTopologyKey: tmpl.Annotations["kedge.io/spread-by"]}
	for _, t := range tmpl.Spec.Tolerations {
		req.Tolerations = append(req.Tolerations, scheduler.Toleration{Key: t.Key, Operator: t.Operator, Value: t.Value, Effect: t.Effect})
	}
	if pin != "" {
		req.AllowedNodes = []string{pin}
	}
	r.pending[id] = a
	r.reqs = append(r.reqs, req)
}

// podName makes a pod name as Kubernetes does: owner-revision-random.
func podName(owner, rev string) string {
	return owner + "-" + rev[:5] + "-" + newID()[:5]
}

// owned splits the running allocations of an owner into live and lost
// ones; lost ones are asked to stop.
func (r *round) owned(o state.Object, ann map[string]string, replace bool) (live []state.Alloc) {
	for _, a := range r.view.AllocsOf(o.Key) {
		if a.Desired != state.AllocRun {
			continue
		}
		if replace && r.lost(a, ann) {
			node := a.NodeID
			if n, ok := r.nodes[a.NodeID]; ok {
				node = n.Name
			}
			r.stop[a.ID] = "node " + node + " lost: replaced elsewhere"
			continue
		}
		live = append(live, a)
	}
	return live
}

func (m *Manager) planDeployment(r *round, o state.Object) error {
	var d api.Deployment
	if err := json.Unmarshal(o.Manifest, &d); err != nil {
		return err
	}
	d.Default()
	replicas := int(*d.Spec.Replicas)
	rev := revision(&d.Spec.Template)
	live := r.owned(o, d.Spec.Template.Annotations, true)
	var current, old []state.Alloc
	ready := 0
	for _, a := range live {
		if a.Revision == rev && !r.draining[a.NodeID] {
			current = append(current, a)
		} else {
			old = append(old, a)
		}
		if a.Status.Ready {
			ready++
		}
	}
	// Not-ready and newer pods go first when some must stop.
	order := func(as []state.Alloc) {
		sort.SliceStable(as, func(i, j int) bool {
			if as[i].Status.Ready != as[j].Status.Ready {
				return !as[i].Status.Ready
			}
			return as[i].CreatedAt.After(as[j].CreatedAt)
		})
	}
	order(current)
	order(old)
	for len(current) > replicas { // scaled down
		r.stop[current[0].ID] = "scaled down"
		if current[0].Status.Ready {
			ready--
		}
		current = current[1:]
	}
	surge, unavailable := 0, 0
	recreate := d.Spec.Strategy.Type == api.StrategyRecreate
	if !recreate && d.Spec.Strategy.RollingUpdate != nil {
		s, u, err := d.Spec.Strategy.RollingUpdate.Resolve(int32(replicas))
		if err != nil {
			return err
		}
		surge, unavailable = int(s), int(u)
	}
	if len(old) > 0 && d.Spec.Paused {
		old = nil // a paused rollout: the old pods stay, no new ones come
	} else if recreate && len(old) > 0 {
		for _, a := range old {
			r.stop[a.ID] = "recreate: new template"
		}
		return nil // new pods once the old are gone
	}
	// Stop old pods while enough stay ready.
	for len(old) > 0 && (ready-boolInt(old[0].Status.Ready) >= replicas-unavailable || !old[0].Status.Ready) {
		r.stop[old[0].ID] = "rolling update to revision " + rev
		ready -= boolInt(old[0].Status.Ready)
		old = old[1:]
	}
	create := replicas - len(current)
	if len(old) > 0 {
		create = min(create, replicas+surge-len(current)-len(old))
	}
	for i := 0; i < create; i++ {
		r.newAlloc(o, podName(o.Name, rev), &d.Spec.Template, rev, "")
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *Manager) planDaemonSet(r *round, o state.Object) error {
	var ds api.DaemonSet
	if err := json.Unmarshal(o.Manifest, &ds); err != nil {
		return err
	}
	ds.Default()
	rev := revision(&ds.Spec.Template)
	byNode := map[string][]state.Alloc{}
	for _, a := range r.owned(o, ds.Spec.Template.Annotations, false) {
		byNode[a.NodeID] = append(byNode[a.NodeID], a)
	}
	matches := func(n state.Node) bool {
		for k, v := range ds.Spec.Template.Spec.NodeSelector {
			if n.Labels[k] != v {
				return false
			}
		}
		return n.State != state.NodeLeft
	}
	unavailable := 0
	for _, as := range byNode {
		for _, a := range as {
			if !a.Status.Ready {
				unavailable++
			}
		}
	}
	maxUnavailable := 1
	ids := make([]string, 0, len(r.nodes))
	for id := range r.nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := r.nodes[id]
		as := byNode[id]
		delete(byNode, id)
		if !matches(n) {
			for _, a := range as {
				r.stop[a.ID] = "node " + n.Name + " no longer matches"
			}
			continue
		}
		var cur []state.Alloc
		for _, a := range as {
			if a.Revision == rev {
				cur = append(cur, a)
			} else if unavailable < maxUnavailable || !a.Status.Ready {
				r.stop[a.ID] = "rolling update to revision " + rev
				if a.Status.Ready {
					unavailable++
				}
			} else {
				cur = append(cur, a) // waits its turn
			}
		}
		for i := 1; i < len(cur); i++ {
			r.stop[cur[i].ID] = "one pod per node"
		}
		if len(cur) == 0 && len(as) == len(cur) && n.State == state.NodeReady {
			r.newAlloc(o, podName(o.Name, rev), &ds.Spec.Template, rev, n.ID)
		}
	}
	for _, as := range byNode { // nodes that are gone from the state
		for _, a := range as {
			r.stop[a.ID] = "node removed"
		}
	}
	return nil
}

func (m *Manager) planPod(r *round, o state.Object) error {
	var p api.ClusterPod
	if err := json.Unmarshal(o.Manifest, &p); err != nil {
		return err
	}
	p.Default()
	tmpl := api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: p.Labels, Annotations: p.Annotations}, Spec: p.Spec}
	rev := revision(&tmpl)
	live := r.owned(o, p.Annotations, true)
	// One copy of the current spec is kept, preferably on a node that is not
	// being drained. A copy on a draining node is moved as a rolling update
	// of one replica would (maxSurge 1, maxUnavailable 0): its replacement is
	// placed first and it stops once that one is ready.
	var kept, draining *state.Alloc
	for i, a := range live {
		switch {
		case a.Revision != rev:
			r.stop[a.ID] = "pod spec changed"
		case r.draining[a.NodeID]:
			if draining == nil {
				draining = &live[i]
			} else {
				r.stop[a.ID] = "a second copy of the pod"
			}
		case kept == nil:
			kept = &live[i]
		default:
			r.stop[a.ID] = "a second copy of the pod"
		}
	}
	if draining != nil && kept != nil && kept.Status.Ready {
		r.stop[draining.ID] = "node " + r.nodeName(draining.NodeID) + " drained: the pod's replacement is ready"
	}
	if kept == nil {
		r.newAlloc(o, p.Name, &tmpl, rev, "")
	}
	return nil
}

// nodeName is the name of a node of the round's view, or its id if the
// view lacks it.
func (r *round) nodeName(id string) string {
	if n, ok := r.nodes[id]; ok {
		return n.Name
	}
	return id
}
