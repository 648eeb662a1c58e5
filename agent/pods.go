package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"kedge/api"
	"kedge/cluster"
	"kedge/cluster/probe"
	"kedge/cluster/reconcile"
	"kedge/engine"
	"kedge/engine/image"
)

// Labels the pod runtime puts on the engine's pods and containers.
const (
	labelAlloc     = "kedge.io/alloc"
	labelHash      = "kedge.io/hash"
	labelContainer = "kedge.io/container"
	labelPodName   = "kedge.io/pod"
)

// podRuntime runs the cluster's pods on this node's engine: each allocation
// is an engine pod (shared network and IPC, the pod's host ports) with one
// engine container per Kubernetes container, labelled with the alloc id.
type podRuntime struct {
	eng *engine.Engine
	// peers fetches a missing image from another node (nil: none).
	// It returns the peer's name.
	peers func(ctx context.Context, ref string) (string, error)
	// probes runs the containers' liveness, readiness and startup probes.
	probes *probe.Manager
	// restarts counts the restarts this runtime made, by container id (the
	// engine counts only its own restart policy's).
	mu       sync.Mutex
	restarts map[string]int
	// pulled holds where images were fetched from, until TakePull reports
	// them as events.
	pulled  map[string]string
	lookup  func(allocID string) (cluster.RunnablePod, bool)
	dataDir string // where configMap/secret volume files are written
}

var _ reconcile.Engine = (*podRuntime)(nil)

func newPodRuntime(eng *engine.Engine, dataDir string, peers func(ctx context.Context, ref string) (string, error)) cluster.PodRuntimeFactory {
	return func(lookup func(string) (cluster.RunnablePod, bool)) cluster.PodRuntime {
		p := &podRuntime{eng: eng, lookup: lookup, dataDir: filepath.Join(dataDir, "pods"), peers: peers, restarts: map[string]int{}, pulled: map[string]string{}}
		p.probes = probe.New(engineExecer{eng}, probe.Options{})
		return p
	}
}

// enginePodName names an allocation's engine pod: unique on the node.
func enginePodName(allocID string) string { return "k-" + allocID[:16] }

func containerName(allocID, name string) string { return "k-" + allocID[:16] + "-" + name }

// ListPods reports the engine pods of allocations and their containers.
func (p *podRuntime) ListPods(ctx context.Context) ([]reconcile.Actual, error) {
	byAlloc := map[string]*reconcile.Actual{}
	get := func(id string) *reconcile.Actual {
		a := byAlloc[id]
		if a == nil {
			a = &reconcile.Actual{AllocID: id}
			byAlloc[id] = a
		}
		return a
	}
	for _, pod := range p.eng.ListPods() {
		if id := pod.Config.Labels[labelAlloc]; id != "" {
			a := get(id)
			a.SandboxExists, a.SpecHash = true, pod.Config.Labels[labelHash]
		}
	}
	var targets []probe.Target
	for _, c := range p.eng.List(true) {
		id := c.Config.Labels[labelAlloc]
		if id == "" {
			continue
		}
		name := c.Config.Labels[labelContainer]
		cs := reconcile.ContainerState{
			Name: name, ID: c.ID, Running: c.State.Running, ExitCode: c.State.ExitCode,
			StartedAt: c.State.StartedAt, FinishedAt: c.State.FinishedAt, Restarts: c.RestartCount + p.restartsOf(c.ID),
		}
		if spec := p.containerSpec(id, name); spec != nil && c.State.Running &&
			(spec.LivenessProbe != nil || spec.ReadinessProbe != nil || spec.StartupProbe != nil) {
			key := c.ID
			targets = append(targets, probe.Target{Key: key, PodIP: p.probeIP(id), Container: *spec, StartedAt: c.State.StartedAt})
			if st, ok := p.probes.Result(key); ok {
				if spec.LivenessProbe != nil || spec.StartupProbe != nil {
					live := st.Live
					cs.Healthy = &live
				}
				ready := st.Ready
				cs.Ready = &ready
			} else if spec.ReadinessProbe != nil || spec.StartupProbe != nil {
				notYet := false
				cs.Ready = &notYet
			}
		}
		get(id).Containers = append(get(id).Containers, cs)
	}
	p.probes.Sync(targets)
	out := make([]reconcile.Actual, 0, len(byAlloc))
	for _, a := range byAlloc {
		out = append(out, *a)
	}
	return out, nil
}

// Apply performs one reconciler action on the engine.
func (p *podRuntime) Apply(ctx context.Context, a reconcile.Action) error {
	switch a.Kind {
	case reconcile.EnsureImage:
		return p.ensureImage(ctx, a.Image)
	case reconcile.CreatePod:
		return p.createPod(ctx, a.AllocID)
	case reconcile.ReplacePod:
		if err := p.removePod(ctx, a.AllocID); err != nil {
			return err
		}
		return p.createPod(ctx, a.AllocID)
	case reconcile.StartContainer:
		if a.ContainerID != "" {
			return p.eng.Start(ctx, a.ContainerID)
		}
		return p.startContainer(ctx, a.AllocID, a.Container)
	case reconcile.RestartContainer:
		if err := p.eng.Start(ctx, a.ContainerID); err != nil {
			return err
		}
		p.mu.Lock()
		p.restarts[a.ContainerID]++
		p.mu.Unlock()
		return nil
	case reconcile.KillContainer:
		zero := 0
		return p.eng.Stop(ctx, a.ContainerID, &zero)
	case reconcile.StopPod:
		for _, c := range p.containersOf(a.AllocID) {
			if c.State.Running {
				if err := p.eng.Stop(ctx, c.ID, nil); err != nil && !errors.Is(err, api.ErrNotFound) {
					return err
				}
			}
		}
		return nil
	case reconcile.RemovePod:
		return p.removePod(ctx, a.AllocID)
	}
	return fmt.Errorf("unknown action %s", a.Kind)
}

func (p *podRuntime) containersOf(allocID string) []api.Container {
	var out []api.Container
	for _, c := range p.eng.List(true) {
		if c.Config.Labels[labelAlloc] == allocID {
			out = append(out, c)
		}
	}
	return out
}

func (p *podRuntime) ensureImage(ctx context.Context, ref string) error {
	if _, err := p.eng.Images().Get(ref); err == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	// A peer first: an air-gapped site needs no registry.
	var peerErr error
	if p.peers != nil {
		var peer string
		if peer, peerErr = p.peers(pctx, ref); peerErr == nil {
			p.notePull(ref, "the peer at "+peer)
			return nil
		}
	}
	if _, err := p.eng.Images().Pull(pctx, ref, image.PullOptions{}); err != nil {
		if peerErr != nil {
			return fmt.Errorf("image %s: no peer has it (%v), and pull: %w", ref, peerErr, err)
		}
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	p.notePull(ref, "its registry")
	return nil
}

func (p *podRuntime) notePull(ref, from string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pulled[ref] = from
}

// TakePull says where ensureImage fetched ref from, once (cluster.Puller).
func (p *podRuntime) TakePull(ref string) (from string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	from, ok = p.pulled[ref]
	delete(p.pulled, ref)
	return from, ok
}

// imageFromPeers fetches an image from the first other node that has it,
// over mutual TLS, and imports it.
func (a *Agent) imageFromPeers(ctx context.Context, ref string) (peer string, err error) {
	peers := a.cluster.PeerAPIs()
	if len(peers) == 0 {
		return "", errors.New("no peer")
	}
	client := &http.Client{Transport: nodeTransport{a}}
	var errs []error
	for _, addr := range peers {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+api.APIPrefix+"/images/save?ref="+url.QueryEscape(ref), nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			errs = append(errs, fmt.Errorf("%s: %s", addr, resp.Status))
			continue
		}
		_, err = a.engine.Images().Import(ctx, resp.Body)
		resp.Body.Close()
		if err == nil {
			a.log.Info("image fetched from a peer", "image", ref, "peer", addr)
			return addr, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return "", errors.Join(errs...)
}

func (p *podRuntime) createPod(ctx context.Context, allocID string) error {
	rp, ok := p.lookup(allocID)
	if !ok {
		return fmt.Errorf("pod of alloc %s: unknown here", allocID)
	}
	spec := &rp.Pod.Spec
	cfg := &api.PodConfig{
		Name: enginePodName(allocID), Hostname: firstNonEmpty(spec.Hostname, rp.Name),
		Labels: map[string]string{labelAlloc: allocID, labelHash: rp.Hash, labelPodName: rp.Namespace + "/" + rp.Name},
	}
	if spec.HostNetwork {
		cfg.NetworkMode = "host"
	} else {
		for _, c := range spec.Containers {
			for _, port := range c.Ports {
				if port.HostPort > 0 {
					cfg.Ports = append(cfg.Ports, api.PortBinding{HostIP: port.HostIP, HostPort: int(port.HostPort),
						ContainerPort: int(port.ContainerPort), Protocol: strings.ToLower(firstNonEmpty(port.Protocol, "tcp"))})
				}
			}
		}
	}
	_ = p.eng.RemovePod(ctx, cfg.Name, true) // a leftover of a crash
	if _, err := p.eng.CreatePod(ctx, cfg); err != nil {
		return fmt.Errorf("create pod %s/%s: %w", rp.Namespace, rp.Name, err)
	}
	return p.writeFiles(rp)
}

// writeFiles writes the pod's configMap and secret volumes.
func (p *podRuntime) writeFiles(rp cluster.RunnablePod) error {
	for vol, files := range rp.Files {
		dir := filepath.Join(p.dataDir, rp.AllocID, vol)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for name, data := range files {
			path := filepath.Join(dir, filepath.Clean("/"+name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *podRuntime) startContainer(ctx context.Context, allocID, name string) error {
	rp, ok := p.lookup(allocID)
	if !ok {
		return fmt.Errorf("pod of alloc %s: unknown here", allocID)
	}
	var spec *api.ContainerSpec
	for _, list := range [][]api.ContainerSpec{rp.Pod.Spec.InitContainers, rp.Pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				spec = &list[i]
			}
		}
	}
	if spec == nil {
		return fmt.Errorf("pod %s has no container %s", rp.Name, name)
	}
	pod := "pod:" + enginePodName(allocID)
	cfg := &api.ContainerConfig{
		Name: containerName(allocID, name), Image: spec.Image, Cmd: spec.Args, WorkingDir: spec.WorkingDir,
		Env: rp.Env[name], NetworkMode: pod, IpcMode: pod, Tty: spec.TTY, OpenStdin: spec.Stdin,
		Labels: map[string]string{labelAlloc: allocID, labelContainer: name, labelPodName: rp.Namespace + "/" + rp.Name},
	}
	if rp.Pod.Spec.HostNetwork {
		cfg.NetworkMode = "host"
	}
	grace := 30 // Kubernetes' default termination grace period
	if g := rp.Pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = int(*g)
	}
	cfg.StopTimeout = &grace
	if spec.Command != nil {
		cfg.Entrypoint = spec.Command
	}
	if lim := spec.Resources.Limits; lim != nil {
		if q, ok := lim[api.ResourceMemory]; ok {
			cfg.Resources.Memory = q.Value()
		}
		if q, ok := lim[api.ResourceCPU]; ok {
			cfg.Resources.NanoCPUs = q.MilliValue() * 1_000_000
		}
	}
	if sc := spec.SecurityContext; sc != nil {
		cfg.Security.Privileged = sc.Privileged != nil && *sc.Privileged
		cfg.Security.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		if sc.RunAsUser != nil {
			cfg.User = fmt.Sprint(*sc.RunAsUser)
			if sc.RunAsGroup != nil {
				cfg.User += fmt.Sprintf(":%d", *sc.RunAsGroup)
			}
		}
		if sc.Capabilities != nil {
			cfg.Security.CapAdd, cfg.Security.CapDrop = sc.Capabilities.Add, sc.Capabilities.Drop
		}
	}
	for _, m := range spec.VolumeMounts {
		mount, err := p.mountFor(rp, m)
		if err != nil {
			return err
		}
		cfg.Mounts = append(cfg.Mounts, mount)
	}
	_ = p.eng.Remove(ctx, cfg.Name, true, false) // a leftover of a crash
	created, err := p.eng.Create(ctx, cfg)
	if err != nil {
		return fmt.Errorf("create container %s of %s/%s: %w", name, rp.Namespace, rp.Name, err)
	}
	return p.eng.Start(ctx, created.ID)
}

// mountFor turns a volume mount of the pod into an engine mount.
func (p *podRuntime) mountFor(rp cluster.RunnablePod, m api.VolumeMount) (api.Mount, error) {
	for _, v := range rp.Pod.Spec.Volumes {
		if v.Name != m.Name {
			continue
		}
		switch {
		case v.HostPath != nil:
			return api.Mount{Type: "bind", Source: filepath.Join(v.HostPath.Path, m.SubPath), Target: m.MountPath, ReadOnly: m.ReadOnly}, nil
		case v.EmptyDir != nil:
			if v.EmptyDir.Medium == "Memory" {
				return api.Mount{Type: "tmpfs", Target: m.MountPath}, nil
			}
			dir := filepath.Join(p.dataDir, rp.AllocID, "empty", v.Name)
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return api.Mount{}, err
			}
			return api.Mount{Type: "bind", Source: filepath.Join(dir, m.SubPath), Target: m.MountPath, ReadOnly: m.ReadOnly}, nil
		case v.ConfigMap != nil || v.Secret != nil:
			dir := filepath.Join(p.dataDir, rp.AllocID, v.Name)
			return api.Mount{Type: "bind", Source: filepath.Join(dir, m.SubPath), Target: m.MountPath, ReadOnly: true}, nil
		}
		return api.Mount{}, fmt.Errorf("volume %s: unsupported kind", v.Name)
	}
	return api.Mount{}, fmt.Errorf("volume mount %s: no such volume in the pod", m.Name)
}

// removeAllPods removes the pods of every allocation: a node that left its
// cluster runs none of the cluster's work.
func removeAllPods(ctx context.Context, eng *engine.Engine, dataDir string) {
	p := &podRuntime{eng: eng, dataDir: filepath.Join(dataDir, "pods")}
	ids := map[string]bool{}
	for _, pod := range eng.ListPods() {
		if id := pod.Config.Labels[labelAlloc]; id != "" {
			ids[id] = true
		}
	}
	for _, c := range eng.List(true) {
		if id := c.Config.Labels[labelAlloc]; id != "" {
			ids[id] = true
		}
	}
	for id := range ids {
		_ = p.removePod(ctx, id)
	}
}

func (p *podRuntime) removePod(ctx context.Context, allocID string) error {
	for _, c := range p.containersOf(allocID) {
		if err := p.eng.Remove(ctx, c.ID, true, true); err != nil && !errors.Is(err, api.ErrNotFound) {
			return err
		}
		if p.restarts != nil {
			p.mu.Lock()
			delete(p.restarts, c.ID)
			p.mu.Unlock()
		}
	}
	if err := p.eng.RemovePod(ctx, enginePodName(allocID), true); err != nil && !errors.Is(err, api.ErrNotFound) {
		return err
	}
	return os.RemoveAll(filepath.Join(p.dataDir, allocID))
}

func (p *podRuntime) restartsOf(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts[id]
}

// containerSpec is the spec of a container of an allocation's pod.
func (p *podRuntime) containerSpec(allocID, name string) *api.ContainerSpec {
	rp, ok := p.lookup(allocID)
	if !ok {
		return nil
	}
	for _, list := range [][]api.ContainerSpec{rp.Pod.Spec.InitContainers, rp.Pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// probeIP is where HTTP and TCP probes reach a pod: its address, or the
// node's loopback for a pod on the host network.
func (p *podRuntime) probeIP(allocID string) string {
	if ip := p.PodIP(allocID); ip != "" {
		return ip
	}
	return "127.0.0.1"
}

// Changed makes the reconciler act at once when a probe result flips
// (reconcile.EngineWatcher).
func (p *podRuntime) Changed() <-chan struct{} { return p.probes.Changed() }

// Close stops the probes.
func (p *podRuntime) Close() error {
	p.probes.Close()
	return nil
}

// engineExecer runs exec probes in containers through the engine.
type engineExecer struct{ eng *engine.Engine }

func (e engineExecer) Exec(ctx context.Context, containerKey string, cmd []string) (int, error) {
	return e.eng.Exec(ctx, containerKey, &api.ExecConfig{Cmd: cmd}, engine.ExecIO{Stdout: io.Discard, Stderr: io.Discard})
}

// PodIP is an allocation's pod address (the node's own for host network).
func (p *podRuntime) PodIP(allocID string) string {
	pod, err := p.eng.InspectPod(enginePodName(allocID))
	if err != nil || pod.NetworkSettings == nil {
		return ""
	}
	return pod.NetworkSettings.IPAddress
}

// resolvePodRef resolves "pod:NAMESPACE:POD[:CONTAINER]" for the container
// endpoints: the engine container when the pod runs here, else its node.
func (a *Agent) resolvePodRef(ctx context.Context, ref string) (string, string, error) {
	parts := strings.Split(strings.TrimPrefix(ref, "pod:"), ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", "", fmt.Errorf("pod reference %q: want pod:NAMESPACE:POD[:CONTAINER]: %w", ref, api.ErrInvalid)
	}
	allocID, nodeAPI, local, containers, err := a.cluster.PodLocation(parts[0], parts[1])
	if err != nil {
		return "", "", err
	}
	container := ""
	if len(parts) == 3 && parts[2] != "" {
		container = parts[2]
	} else if len(containers) == 1 {
		container = containers[0]
	} else {
		return "", "", fmt.Errorf("pod %s has %d containers (%s): name one with -c: %w", parts[1], len(containers), strings.Join(containers, ", "), api.ErrInvalid)
	}
	found := false
	for _, c := range containers {
		found = found || c == container
	}
	if !found {
		return "", "", fmt.Errorf("pod %s has no container %s: %w", parts[1], container, api.ErrNotFound)
	}
	if local {
		return containerName(allocID, container), "", nil
	}
	if nodeAPI == "" {
		return "", "", fmt.Errorf("pod %s: its node's address is unknown: %w", parts[1], api.ErrConflict)
	}
	return "", nodeAPI, nil
}

// nodeTransport reaches other nodes with the cluster identity of the
// moment (it changes when the node joins or leaves).
type nodeTransport struct{ a *Agent }

func (t nodeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt := t.a.cluster.NodeTransport()
	if rt == nil {
		return nil, fmt.Errorf("this node is not in a cluster: %w", api.ErrConflict)
	}
	return rt.RoundTrip(r)
}
