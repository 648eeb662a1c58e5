package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"kedge/api"
	"kedge/cluster/reconcile"
	"kedge/cluster/state"
)

// The node side of the workloads: every member runs the pods the scheduler
// placed on it. The allocations come from the replicated state (or, cut off
// from the control plane, from the copy saved on disk), resolved into
// RunnablePods (environment from ConfigMaps and Secrets, their files for
// volumes) that the agent's PodRuntime turns into engine pods and
// containers; the reconcile loop drives it and the node reports status in
// batches through the leader.

// RunnablePod is an allocation as this node runs it.
type RunnablePod struct {
	AllocID   string `json:"alloc_id"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Hash stands for everything below: a change replaces the pod.
	Hash string         `json:"hash"`
	Pod  api.ClusterPod `json:"pod"`
	// Env holds each container's environment, resolved (KEY=VALUE).
	Env map[string][]string `json:"env,omitempty"`
	// Files holds the files of configMap and secret volumes: volume name ->
	// path in the volume -> content.
	Files map[string]map[string][]byte `json:"files,omitempty"`
}

// PodRuntime is what the node's reconciler needs of the engine: the
// reconcile.Engine calls, with the pods to run looked up by alloc id.
type PodRuntime interface {
	reconcile.Engine
}

// PodRuntimeFactory builds the runtime over a lookup of the pods to run.
type PodRuntimeFactory func(lookup func(allocID string) (RunnablePod, bool)) PodRuntime

// nodePods is the node side's state: the runnable pods by alloc id, saved
// next to the reconciler's own copy so a node cut off (or rebooted while
// cut off) can still create them.
type nodePods struct {
	m    *Manager
	path string

	mu   sync.Mutex
	pods map[string]RunnablePod
	// lastEvent is the last event recorded per allocation (failures are
	// recorded once per distinct message).
	lastEvent map[string]string

	changed chan struct{}
	// ips finds a pod's address, when the runtime can (PodIPer).
	ips PodIPer
	// pulls says where an image came from, when the runtime can (Puller).
	pulls Puller
}

// PodIPer is an optional capability of a PodRuntime: a pod's address.
type PodIPer interface {
	PodIP(allocID string) string
}

// Puller is an optional capability of a PodRuntime: it says where it fetched
// an image for EnsureImage (a peer's name or a registry), once, so the
// fetch becomes a "pod.pulled" event; ok is false when nothing was fetched.
type Puller interface {
	TakePull(ref string) (from string, ok bool)
}

func newNodePods(m *Manager) *nodePods {
	np := &nodePods{m: m, path: m.path("pods.json"), pods: map[string]RunnablePod{}, lastEvent: map[string]string{}, changed: make(chan struct{}, 1)}
	if b, err := os.ReadFile(np.path); err == nil {
		_ = json.Unmarshal(b, &np.pods)
	}
	return np
}

func (np *nodePods) lookup(id string) (RunnablePod, bool) {
	np.mu.Lock()
	defer np.mu.Unlock()
	p, ok := np.pods[id]
	return p, ok
}

// Changed implements reconcile.Upstream.
func (np *nodePods) Changed() <-chan struct{} { return np.changed }

// Fetch implements reconcile.Upstream: the allocations of this node that
// should run, from the replicated state. Without a leader the state cannot
// vouch for them, and the saved copy is used.
func (np *nodePods) Fetch(ctx context.Context) (reconcile.Snapshot, error) {
	ms, rn, fsm, err := np.m.member()
	if err != nil {
		return reconcile.Snapshot{}, err
	}
	if id, _ := rn.Leader(); id == "" {
		return reconcile.Snapshot{}, errors.New("no leader: the control plane cannot vouch for the allocations")
	}
	view := fsm.State()
	snap := reconcile.Snapshot{StopAfter: map[string]time.Duration{}}
	pods := map[string]RunnablePod{}
	for _, a := range view.AllocsOnNode(ms.NodeID) {
		if a.Desired != state.AllocRun {
			continue
		}
		rp, err := resolvePod(view, a)
		if err != nil {
			np.m.log.Warn("pod cannot run", "pod", a.Namespace+"/"+a.Name, "err", err)
			continue
		}
		pods[a.ID] = rp
		snap.Desired = append(snap.Desired, desiredOf(rp))
		if d, err := time.ParseDuration(rp.Pod.Annotations[annStopAfter]); err == nil && d > 0 {
			snap.StopAfter[a.ID] = d
		}
	}
	sort.Slice(snap.Desired, func(i, j int) bool { return snap.Desired[i].AllocID < snap.Desired[j].AllocID })
	np.mu.Lock()
	same := len(pods) == len(np.pods)
	for id, p := range pods {
		if q, ok := np.pods[id]; !ok || q.Hash != p.Hash {
			same = false
		}
	}
	np.pods = pods
	for id := range np.lastEvent {
		if _, ok := pods[id]; !ok {
			delete(np.lastEvent, id) // the allocation left this node
		}
	}
	np.mu.Unlock()
	if !same {
		if b, err := json.Marshal(pods); err == nil {
			if err := writeFileAtomic(np.path, b, 0o600); err != nil {
				np.m.log.Warn("save the node's pods", "err", err)
			}
		}
	}
	return snap, nil
}

// desiredOf is what the reconciler needs of a runnable pod.
func desiredOf(rp RunnablePod) reconcile.Desired {
	spec := reconcile.PodSpec{Name: rp.Name, Namespace: rp.Namespace, Hash: rp.Hash,
		RestartPolicy: reconcile.RestartPolicy(rp.Pod.Spec.RestartPolicy)}
	for _, c := range rp.Pod.Spec.InitContainers {
		spec.Containers = append(spec.Containers, reconcile.ContainerSpec{Name: c.Name, Image: c.Image, Init: true})
	}
	for _, c := range rp.Pod.Spec.Containers {
		spec.Containers = append(spec.Containers, reconcile.ContainerSpec{Name: c.Name, Image: c.Image})
	}
	return reconcile.Desired{AllocID: rp.AllocID, Pod: spec}
}

// resolvePod makes an allocation runnable: environment variables and
// volume files from the ConfigMaps and Secrets of its namespace.
func resolvePod(view *state.View, a state.Alloc) (RunnablePod, error) {
	rp := RunnablePod{AllocID: a.ID, Namespace: a.Namespace, Name: a.Name, Env: map[string][]string{}, Files: map[string]map[string][]byte{}}
	if err := json.Unmarshal(a.Pod, &rp.Pod); err != nil {
		return rp, fmt.Errorf("pod manifest: %w", err)
	}
	configMap := func(name string) (map[string][]byte, bool) {
		o, ok := view.Object("configmap/" + a.Namespace + "/" + name)
		if !ok {
			return nil, false
		}
		var cm api.ConfigMap
		if json.Unmarshal(o.Manifest, &cm) != nil {
			return nil, false
		}
		out := map[string][]byte{}
		for k, v := range cm.Data {
			out[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			out[k] = v
		}
		return out, true
	}
	secret := func(name string) (map[string][]byte, bool) {
		o, ok := view.Object("secret/" + a.Namespace + "/" + name)
		if !ok {
			return nil, false
		}
		var s api.Secret
		if json.Unmarshal(o.Manifest, &s) != nil {
			return nil, false
		}
		out := map[string][]byte{}
		for k, v := range s.Data {
			out[k] = v
		}
		for k, v := range s.StringData {
			out[k] = []byte(v)
		}
		return out, true
	}
	optional := func(p *bool) bool { return p != nil && *p }
	all := append(append([]api.ContainerSpec{}, rp.Pod.Spec.InitContainers...), rp.Pod.Spec.Containers...)
	for _, c := range all {
		var env []string
		for _, from := range c.EnvFrom {
			var data map[string][]byte
			var ok bool
			var ref *api.EnvSourceRef
			if from.ConfigMapRef != nil {
				ref, data, ok = from.ConfigMapRef, nil, false
				data, ok = configMap(ref.Name)
			} else if from.SecretRef != nil {
				ref = from.SecretRef
				data, ok = secret(ref.Name)
			}
			if ref == nil {
				continue
			}
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return rp, fmt.Errorf("container %s: envFrom %s not found", c.Name, ref.Name)
			}
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				env = append(env, from.Prefix+k+"="+string(data[k]))
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env = append(env, e.Name+"="+e.Value)
				continue
			}
			var sel *api.KeySelector
			var data map[string][]byte
			var ok bool
			switch {
			case e.ValueFrom.ConfigMapKeyRef != nil:
				sel = e.ValueFrom.ConfigMapKeyRef
				data, ok = configMap(sel.Name)
			case e.ValueFrom.SecretKeyRef != nil:
				sel = e.ValueFrom.SecretKeyRef
				data, ok = secret(sel.Name)
			case e.ValueFrom.FieldRef != nil:
				env = append(env, e.Name+"="+fieldValue(&rp, a, e.ValueFrom.FieldRef.FieldPath))
				continue
			}
			v, has := data[sel.Key]
			if !ok || !has {
				if optional(sel.Optional) {
					continue
				}
				return rp, fmt.Errorf("container %s: env %s: %s/%s not found", c.Name, e.Name, sel.Name, sel.Key)
			}
			env = append(env, e.Name+"="+string(v))
		}
		rp.Env[c.Name] = env
	}
	for _, v := range rp.Pod.Spec.Volumes {
		var data map[string][]byte
		var ok bool
		var items []api.KeyToPath
		switch {
		case v.ConfigMap != nil:
			data, ok = configMap(v.ConfigMap.Name)
			items = v.ConfigMap.Items
			if !ok && optional(v.ConfigMap.Optional) {
				data, ok = map[string][]byte{}, true
			}
		case v.Secret != nil:
			data, ok = secret(v.Secret.SecretName)
			items = v.Secret.Items
			if !ok && optional(v.Secret.Optional) {
				data, ok = map[string][]byte{}, true
			}
		default:
			continue
		}
		if !ok {
			return rp, fmt.Errorf("volume %s: its ConfigMap or Secret is not found", v.Name)
		}
		files := map[string][]byte{}
		if len(items) == 0 {
			for k, b := range data {
				files[k] = b
			}
		}
		for _, it := range items {
			if b, has := data[it.Key]; has {
				files[it.Path] = b
			}
		}
		rp.Files[v.Name] = files
	}
	b, _ := json.Marshal(struct {
		Rev   string
		Env   map[string][]string
		Files map[string]map[string][]byte
	}{a.Revision + a.ID, rp.Env, rp.Files})
	rp.Hash = hashBytes(b)
	return rp, nil
}

func fieldValue(rp *RunnablePod, a state.Alloc, path string) string {
	switch path {
	case "metadata.name":
		return rp.Name
	case "metadata.namespace":
		return rp.Namespace
	case "metadata.uid":
		return a.ID
	case "spec.nodeName":
		return a.NodeID
	case "status.podIP":
		return a.Status.PodIP
	}
	return ""
}

// observe turns the reconciler's actions into cluster events: failures
// (an image that cannot be had, a container that cannot start) once per
// distinct error, and restarts and liveness kills. The round's workers
// call it one at a time (under their shared lock), so the events are
// recorded in the background.
func (np *nodePods) observe(a reconcile.Action, err error) {
	rp, ok := np.lookup(a.AllocID)
	if !ok {
		return
	}
	kind, msg := "", ""
	switch {
	case err != nil:
		kind, msg = "pod.failed", fmt.Sprintf("pod %s: %s %s: %v", rp.Name, a.Kind, a.Container, err)
	case a.Kind == reconcile.RestartContainer:
		kind, msg = "pod.restarted", fmt.Sprintf("pod %s: container %s restarted (%s)", rp.Name, a.Container, a.Reason)
	case a.Kind == reconcile.KillContainer:
		kind, msg = "pod.unhealthy", fmt.Sprintf("pod %s: container %s killed: %s", rp.Name, a.Container, a.Reason)
	case a.Kind == reconcile.EnsureImage && np.pulls != nil:
		from, ok := np.pulls.TakePull(a.Image)
		if !ok {
			return
		}
		kind, msg = "pod.pulled", fmt.Sprintf("pod %s: image %s fetched from %s", rp.Name, a.Image, from)
	default:
		return
	}
	np.mu.Lock()
	if err != nil && np.lastEvent[a.AllocID] == msg {
		np.mu.Unlock()
		return
	}
	np.lastEvent[a.AllocID] = msg
	np.mu.Unlock()
	cmd, cerr := state.RecordEvent(kind, rp.Namespace+"/"+rp.Name, msg, time.Now().UTC())
	if cerr != nil {
		return
	}
	m := np.m
	m.mu.Lock()
	ctx := m.runCtx
	m.mu.Unlock()
	if ctx == nil {
		return
	}
	m.goLoop(ctx, func(ctx context.Context) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, _ = m.apply(rctx, cmd)
	})
}

// Report implements reconcile.Reporter: the node's batch goes to the leader.
func (np *nodePods) Report(ctx context.Context, batch []reconcile.PodStatus) error {
	ms, _, _, err := np.m.member()
	if err != nil {
		return err
	}
	st := map[string]state.AllocStatus{}
	for _, p := range batch {
		s := state.AllocStatus{Phase: string(p.Phase), Ready: p.Ready, Restarts: int64(p.Restarts), Message: p.Message}
		if np.ips != nil {
			s.PodIP = np.ips.PodIP(p.AllocID)
		}
		st[p.AllocID] = s
	}
	cmd, err := state.ReportAllocs(ms.NodeID, st, time.Now().UTC())
	if err != nil {
		return err
	}
	// Bounded: a node cut off from its leader must not stall its own pods
	// waiting for a report to go through (the loop retries later).
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = np.m.apply(rctx, cmd)
	return err
}

// RunPods starts this member's pod reconciler over the agent's runtime; it
// runs until the member stops (or leaves).
func (m *Manager) RunPods(newRuntime PodRuntimeFactory) {
	m.mu.Lock()
	m.podRuntime = newRuntime
	started := m.raft != nil
	m.mu.Unlock()
	if started {
		m.startPods()
	}
}

// startPods starts the reconciler of a running member.
func (m *Manager) startPods() {
	m.mu.Lock()
	factory, ctx := m.podRuntime, m.runCtx
	m.mu.Unlock()
	if factory == nil || ctx == nil {
		return
	}
	np := newNodePods(m)
	src, err := reconcile.NewAutonomousSource(np, reconcile.NewLocalStore(m.path("desired.json")), reconcile.SystemClock{}, m.log)
	if err != nil {
		m.log.Error("pods: the saved desired state is unreadable; starting from the control plane's", "err", err)
		os.Remove(m.path("desired.json"))
		if src, err = reconcile.NewAutonomousSource(np, reconcile.NewLocalStore(m.path("desired.json")), reconcile.SystemClock{}, m.log); err != nil {
			return
		}
	}
	m.mu.Lock()
	m.nodePods = np
	m.mu.Unlock()
	rt := factory(np.lookup)
	np.ips, _ = rt.(PodIPer)
	np.pulls, _ = rt.(Puller)
	m.goLoop(ctx, func(ctx context.Context) { // wakes the source on state changes
		for {
			m.mu.Lock()
			fsm := m.fsm
			m.mu.Unlock()
			if fsm == nil {
				return
			}
			view := fsm.State()
			select {
			case <-ctx.Done():
				return
			case <-view.TableChanged(state.TableAllocs):
			case <-view.TableChanged(state.TableObjects):
			}
			select {
			case np.changed <- struct{}{}:
			default:
			}
		}
	})
	m.goLoop(ctx, func(ctx context.Context) {
		if c, ok := rt.(interface{ Close() error }); ok {
			defer c.Close()
		}
		if err := reconcile.Run(ctx, rt, src, np, reconcile.SystemClock{}, reconcile.WithLogger(m.log), reconcile.WithObserver(np.observe),
			// Status goes to the leader at most ten times a second: a
			// pod shows ready within a tenth of a second of being so.
			reconcile.WithReportInterval(100*time.Millisecond)); err != nil && ctx.Err() == nil {
			m.log.Error("pod reconciler stopped", "err", err)
		}
	})
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// NeededImages lists the images of the pods placed on this node, which
// image garbage collection must keep even while no container uses them
// (a pod in restart backoff, one about to be created). It reads the pod
// reconciler's copy, which a node cut off from the control plane (or
// whose certificate expired) keeps too.
func (m *Manager) NeededImages() map[string]bool {
	out := map[string]bool{}
	m.mu.Lock()
	np := m.nodePods
	m.mu.Unlock()
	if np == nil {
		return out
	}
	np.mu.Lock()
	defer np.mu.Unlock()
	for _, p := range np.pods {
		for _, c := range p.Pod.Spec.InitContainers {
			out[c.Image] = true
		}
		for _, c := range p.Pod.Spec.Containers {
			out[c.Image] = true
		}
	}
	return out
}
