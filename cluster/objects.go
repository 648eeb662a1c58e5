package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"kedge/api"
	"kedge/cluster/state"
)

// Objects: what `kedge apply`, `get`, `delete` and `scale` read and write.
// Objects are stored as their manifests; their status is computed from the
// allocations when read.

// objectKey is an object's key in the state: kind/namespace/name.
func objectKey(kind, namespace, name string) string {
	if kind == api.KindNamespace {
		namespace = ""
	}
	return strings.ToLower(kind) + "/" + namespace + "/" + name
}

// specHash stands for an object minus what Kedge sets in its metadata: a
// change bumps the generation (and rolls the pods of a changed template).
func specHash(obj api.Object) (string, []byte, error) {
	meta := obj.GetObjectMeta()
	saved := *meta
	meta.UID, meta.Generation, meta.ResourceVersion, meta.CreationTimestamp = "", 0, 0, time.Time{}
	raw, err := json.Marshal(obj)
	*meta = saved
	if err != nil {
		return "", nil, err
	}
	// The status is Kedge's to compute: what a manifest says of it is dropped.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, err
	}
	delete(m, "status")
	if raw, err = json.Marshal(m); err != nil {
		return "", nil, err
	}
	return hashBytes(raw), raw, nil
}

// ApplyObjects creates or updates objects (Namespaces first), after
// defaulting and validating all of them: one invalid object applies none.
func (m *Manager) ApplyObjects(ctx context.Context, objs []api.Object) ([]api.ApplyResult, error) {
	if _, _, _, err := m.member(); err != nil {
		return nil, err
	}
	var problems []string
	for _, o := range objs {
		o.Default()
		if err := o.Validate(); err != nil {
			meta := o.GetObjectMeta()
			problems = append(problems, fmt.Sprintf("%s %s: %v", o.GetKind(), meta.Name, err))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %w", strings.Join(problems, "; "), api.ErrInvalid)
	}
	sort.SliceStable(objs, func(i, j int) bool {
		return objs[i].GetKind() == api.KindNamespace && objs[j].GetKind() != api.KindNamespace
	})
	// What is unchanged, created or configured, and the quotas, are
	// decided on the cluster's state, not on a lagging copy of it.
	view, err := m.freshState(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	return m.applyObjectsIn(ctx, view, objs)
}

// applyObjectsIn applies defaulted, valid objs, deciding on view (which a
// caller that read the cluster's state already passes on).
func (m *Manager) applyObjectsIn(ctx context.Context, view *state.View, objs []api.Object) ([]api.ApplyResult, error) {
	pending := map[string]api.Object{}
	for _, o := range objs {
		meta := o.GetObjectMeta()
		pending[objectKey(o.GetKind(), meta.Namespace, meta.Name)] = o
	}
	if err := checkQuotas(view, pending); err != nil {
		return nil, err
	}
	known := map[string]bool{api.DefaultNamespace: true}
	for _, o := range view.Objects("namespace") {
		known[o.Name] = true
	}
	var out []api.ApplyResult
	for _, o := range objs {
		meta := o.GetObjectMeta()
		kind := o.GetKind()
		if kind == api.KindNamespace {
			known[meta.Name] = true
		} else if !known[meta.Namespace] {
			return out, fmt.Errorf("%s %s: namespace %q does not exist (apply a Namespace first): %w", kind, meta.Name, meta.Namespace, api.ErrNotFound)
		}
		key := objectKey(kind, meta.Namespace, meta.Name)
		hash, raw, err := specHash(o)
		if err != nil {
			return out, err
		}
		res := api.ApplyResult{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Action: "created"}
		if prev, ok := view.Object(key); ok {
			res.Action = "configured"
			if prev.SpecHash == hash {
				res.Action = "unchanged"
				out = append(out, res)
				continue
			}
		}
		cmd, err := state.PutObject(state.Object{Key: key, Kind: kind, Namespace: meta.Namespace, Name: meta.Name,
			UID: newID() + newID(), SpecHash: hash, Manifest: raw}, time.Now().UTC())
		if err != nil {
			return out, fmt.Errorf("%s %s: %v: %w", kind, meta.Name, err, api.ErrInvalid)
		}
		if _, err := m.apply(ctx, cmd); err != nil {
			return out, fmt.Errorf("%s %s: %w", kind, meta.Name, err)
		}
		if d, ok := o.(*api.Deployment); ok {
			if err := m.recordRevision(ctx, view, d); err != nil {
				m.log.Warn("record the deployment's revision", "deployment", meta.Name, "err", err)
			}
		}
		out = append(out, res)
	}
	return out, nil
}

// DeleteObject deletes an object; the pods it owns stop.
func (m *Manager) DeleteObject(ctx context.Context, kind, namespace, name string) error {
	if _, _, _, err := m.member(); err != nil {
		return err
	}
	kind = canonicalKind(kind)
	if kind == "" {
		return fmt.Errorf("unknown kind: %w", api.ErrInvalid)
	}
	if namespace == "" {
		namespace = api.DefaultNamespace
	}
	cmd, err := state.DeleteObject(objectKey(kind, namespace, name), time.Now().UTC())
	if err != nil {
		return err
	}
	if _, err := m.apply(ctx, cmd); err != nil {
		return fmt.Errorf("%s %s: %w", kind, name, err)
	}
	if kind == api.KindDeployment { // its history goes with it
		view, err := m.freshState(ctx)
		if err != nil { // the delete is done: its answer stands
			m.log.Warn("the deleted deployment's history stays", "deployment", name, "err", err)
			return nil
		}
		for _, r := range history(view, namespace, name) {
			key := revisionPrefix(namespace, name) + strconv.Itoa(r.Number)
			if cmd, err := state.DeleteObject(key, time.Now().UTC()); err == nil {
				if _, err := m.apply(ctx, cmd); err != nil {
					m.log.Warn("a revision of the deleted deployment stays", "deployment", name, "revision", r.Number, "err", err)
				}
			}
		}
	}
	return nil
}

// Scale sets a Deployment's replicas.
func (m *Manager) Scale(ctx context.Context, namespace, name string, replicas int32) error {
	if replicas < 0 {
		return fmt.Errorf("replicas %d: must not be negative: %w", replicas, api.ErrInvalid)
	}
	// The manifest written back is the cluster's, not a lagging copy (which
	// could bring back a deleted Deployment or an older template).
	d, view, err := m.deployment(ctx, namespace, name)
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	d.Spec.Replicas = &replicas
	return m.writeBack(ctx, view, d)
}

// canonicalKind maps what users type (deploy, pods, ds) to a kind.
func canonicalKind(s string) string {
	switch strings.ToLower(s) {
	case "deployment", "deployments", "deploy":
		return api.KindDeployment
	case "daemonset", "daemonsets", "ds":
		return api.KindDaemonSet
	case "pod", "pods", "po":
		return api.KindPod
	case "namespace", "namespaces", "ns":
		return api.KindNamespace
	case "configmap", "configmaps", "cm":
		return api.KindConfigMap
	case "secret", "secrets":
		return api.KindSecret
	case "resourcequota", "resourcequotas", "quota":
		return api.KindResourceQuota
	}
	return ""
}

// GetObjects lists the objects of a kind in a namespace ("" for all), or
// one by name; Pods are the allocations (a Deployment's pods included),
// with the status their nodes report. Secrets come without their data.
func (m *Manager) GetObjects(ctx context.Context, kind, namespace, name string) ([]json.RawMessage, error) {
	_, _, fsm, err := m.member()
	if err != nil {
		return nil, err
	}
	kind = canonicalKind(kind)
	if kind == "" {
		return nil, fmt.Errorf("unknown kind (known: pods, deployments, daemonsets, namespaces, configmaps, secrets, resourcequotas): %w", api.ErrInvalid)
	}
	view := fsm.State()
	var out []json.RawMessage
	add := func(v any) {
		if b, err := json.Marshal(v); err == nil {
			out = append(out, b)
		}
	}
	match := func(ns, n string) bool {
		return (namespace == "" || ns == namespace || kind == api.KindNamespace) && (name == "" || n == name)
	}
	if kind == api.KindPod {
		for _, a := range view.Allocs() {
			if a.Desired == state.AllocRun && match(a.Namespace, a.Name) {
				add(m.podOf(view, a))
			}
		}
	} else {
		for _, o := range view.Objects(strings.ToLower(kind)) {
			if !match(o.Namespace, o.Name) {
				continue
			}
			switch kind {
			case api.KindDeployment:
				var d api.Deployment
				if json.Unmarshal(o.Manifest, &d) == nil {
					d.ObjectMeta.UID, d.Generation, d.CreationTimestamp = o.UID, o.Generation, o.CreatedAt
					d.Status = deploymentStatus(view, o, &d)
					add(&d)
				}
			case api.KindSecret:
				var s api.Secret
				if json.Unmarshal(o.Manifest, &s) == nil {
					for k := range s.Data {
						s.Data[k] = nil
					}
					s.StringData = nil
					s.ObjectMeta.UID, s.CreationTimestamp = o.UID, o.CreatedAt
					add(&s)
				}
			default:
				var raw map[string]any
				if json.Unmarshal(o.Manifest, &raw) == nil {
					if md, ok := raw["metadata"].(map[string]any); ok {
						md["uid"], md["generation"], md["creationTimestamp"] = o.UID, o.Generation, o.CreatedAt
					}
					add(raw)
				}
			}
		}
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("%s %q not found: %w", strings.ToLower(kind), name, api.ErrNotFound)
	}
	return out, nil
}

// podOf is an allocation as a Pod with its status.
func (m *Manager) podOf(view *state.View, a state.Alloc) *api.ClusterPod {
	var p api.ClusterPod
	_ = json.Unmarshal(a.Pod, &p)
	p.UID, p.CreationTimestamp = a.ID, a.CreatedAt
	node := a.NodeID
	if n, ok := view.Node(a.NodeID); ok {
		node = n.Name
		p.Status.HostIP = hostOf(n.Addr.API)
	}
	p.Status.NodeName, p.Status.Phase, p.Status.PodIP, p.Status.Message = node, a.Status.Phase, a.Status.PodIP, a.Status.Message
	ready := api.ConditionFalse
	if a.Status.Ready {
		ready = api.ConditionTrue
	}
	p.Status.Conditions = []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionTrue}, {Type: api.PodReady, Status: ready}}
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, api.ContainerStatus{Name: c.Name, Image: c.Image, Ready: a.Status.Ready,
			RestartCount: int32(a.Status.Restarts)})
	}
	return &p
}

func deploymentStatus(view *state.View, o state.Object, d *api.Deployment) api.DeploymentStatus {
	rev := revision(&d.Spec.Template)
	st := api.DeploymentStatus{ObservedGeneration: o.Generation}
	for _, a := range view.AllocsOf(o.Key) {
		if a.Desired != state.AllocRun {
			continue
		}
		st.Replicas++
		if a.Revision == rev {
			st.UpdatedReplicas++
		}
		if a.Status.Ready {
			st.ReadyReplicas++
		}
	}
	st.AvailableReplicas = st.ReadyReplicas
	if d.Spec.Replicas != nil {
		st.UnavailableReplicas = max(0, *d.Spec.Replicas-st.AvailableReplicas)
	}
	return st
}

// nodeByRef finds a node by id or (unique) name.
func nodeByRef(view *state.View, ref string) (state.Node, error) {
	if n, ok := view.Node(ref); ok {
		return n, nil
	}
	byName := view.NodesByName(ref)
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		return state.Node{}, fmt.Errorf("no such node: %s: %w", ref, api.ErrNotFound)
	}
	return state.Node{}, fmt.Errorf("%d nodes are named %s: give the node id: %w", len(byName), ref, api.ErrInvalid)
}

// Cordon marks a node unschedulable (or schedulable again): new pods go
// elsewhere; the ones it runs stay.
func (m *Manager) Cordon(ctx context.Context, ref string, cordoned bool) error {
	// A lagging copy of the state could miss the node's drain mark.
	view, err := m.freshState(ctx)
	if err != nil {
		return fmt.Errorf("cordon %s: %w", ref, err)
	}
	n, err := nodeByRef(view, ref)
	if err != nil {
		return err
	}
	cmd, err := state.CordonNode(n.ID, cordoned, time.Now().UTC())
	if err != nil {
		return err
	}
	if _, err = m.apply(ctx, cmd); err != nil {
		return err
	}
	if _, draining := view.Object(drainKey(n.ID)); !cordoned && draining {
		if cmd, err := state.DeleteObject(drainKey(n.ID), time.Now().UTC()); err == nil {
			_, err = m.apply(ctx, cmd)
			return err
		}
	}
	return nil
}

// Drain cordons a node and moves its pods elsewhere (DaemonSet pods stay),
// as kubectl drain does, but within each Deployment's rollout bounds: the
// node is marked draining, and the controller replaces its pods as in a
// rolling update (a replacement first, within maxSurge; a pod stops only
// while at least replicas minus maxUnavailable stay ready). A bare pod
// moves the same way, as one replica with maxUnavailable 0: its copy
// elsewhere first, then the drained one stops. It returns once the node
// runs none of them, or when ctx ends.
func (m *Manager) Drain(ctx context.Context, ref string) error {
	if err := m.Cordon(ctx, ref, true); err != nil {
		return err
	}
	_, _, fsm, err := m.member()
	if err != nil {
		return err
	}
	n, err := nodeByRef(fsm.State(), ref)
	if err != nil {
		return err
	}
	mark, _ := json.Marshal(map[string]string{"node": n.ID})
	cmd, err := state.PutObject(state.Object{Key: drainKey(n.ID), Kind: kindDrain, Name: n.ID, UID: newID(), SpecHash: "drain", Manifest: mark}, time.Now().UTC())
	if err != nil {
		return err
	}
	if _, err := m.apply(ctx, cmd); err != nil {
		return err
	}
	for {
		view := fsm.State()
		changed := view.Changed()
		left := 0
		for _, a := range view.AllocsOnNode(n.ID) {
			if a.Desired == state.AllocRun && !strings.HasPrefix(a.Owner, "daemonset/") {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain %s: %d pods still there (waiting for their replacements to be ready): %w", n.Name, left, ctx.Err())
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

// Drain marks: a node being drained (kind Drain in the objects table).
const kindDrain = "Drain"

func drainKey(nodeID string) string { return "drain//" + nodeID }

// Workloads summarizes every workload with its pods, for the status page.
func (m *Manager) Workloads(ctx context.Context) ([]api.WorkloadSummary, error) {
	_, _, fsm, err := m.member()
	if err != nil {
		return nil, err
	}
	view := fsm.State()
	var objs []state.Object
	for _, kind := range []string{api.KindDaemonSet, api.KindDeployment, api.KindPod} { // in key order, as before
		objs = append(objs, view.Objects(strings.ToLower(kind))...)
	}
	var out []api.WorkloadSummary
	for _, o := range objs {
		w := api.WorkloadSummary{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Pods: []api.PodSummary{}}
		switch o.Kind {
		case api.KindDeployment:
			var d api.Deployment
			if json.Unmarshal(o.Manifest, &d) == nil {
				d.Default()
				w.Desired = int(*d.Spec.Replicas)
			}
		case api.KindPod:
			w.Desired = 1
		}
		for _, a := range view.AllocsOf(o.Key) {
			if a.Desired != state.AllocRun {
				continue
			}
			node := a.NodeID
			if n, ok := view.Node(a.NodeID); ok {
				node = n.Name
			}
			w.Pods = append(w.Pods, api.PodSummary{Name: a.Name, Node: node, Phase: a.Status.Phase, Ready: a.Status.Ready, Restarts: a.Status.Restarts})
			if a.Status.Ready {
				w.Ready++
			}
		}
		if o.Kind == api.KindDaemonSet {
			w.Desired = len(w.Pods)
		}
		sort.Slice(w.Pods, func(i, j int) bool { return w.Pods[i].Name < w.Pods[j].Name })
		out = append(out, w)
	}
	return out, nil
}

// PodLocation finds where a pod runs: its allocation, its node's API
// address, whether that node is this one, and its containers' names.
func (m *Manager) PodLocation(namespace, name string) (allocID, nodeAPI string, local bool, containers []string, err error) {
	ms, _, fsm, err := m.member()
	if err != nil {
		return "", "", false, nil, err
	}
	view := fsm.State()
	for _, a := range view.Allocs() {
		if a.Desired != state.AllocRun || a.Namespace != namespace || a.Name != name {
			continue
		}
		var p api.ClusterPod
		_ = json.Unmarshal(a.Pod, &p)
		for _, c := range p.Spec.Containers {
			containers = append(containers, c.Name)
		}
		return a.ID, m.apiAddrOf(a.NodeID), a.NodeID == ms.NodeID, containers, nil
	}
	return "", "", false, nil, fmt.Errorf("no such pod: %s/%s: %w", namespace, name, api.ErrNotFound)
}

// NodeTransport is an HTTP/1.1 transport to other nodes' APIs (mutual TLS
// with this node's identity), for proxying streams and upgrades (exec,
// attach) that HTTP/2 cannot carry; nil on a standalone agent.
func (m *Manager) NodeTransport() http.RoundTripper {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.identity == nil {
		return nil
	}
	if m.proxy == nil || m.proxyFor != m.identity {
		cfg := m.identity.ClientTLS(nodeServerName)
		cfg.NextProtos = []string{"http/1.1"}
		m.proxy, m.proxyFor = &http.Transport{TLSClientConfig: cfg, IdleConnTimeout: time.Minute}, m.identity
	}
	return m.proxy
}

// PeerAPIs lists the API addresses of the other ready nodes, for fetching
// an image from a peer that has it.
func (m *Manager) PeerAPIs() []string {
	ms, _, fsm, err := m.member()
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range fsm.State().Nodes() {
		if n.ID != ms.NodeID && n.State == state.NodeReady && n.Addr.API != "" {
			out = append(out, n.Addr.API)
		}
	}
	sort.Strings(out)
	return out
}
