package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"kedge/api"
)

// Pods: a pod is a sandbox of a network and an IPC namespace, each pinned
// by a bind mount in the runtime dir so that no process has to hold it (no
// "pause" container). Its containers join them with NetworkMode and IpcMode
// "pod:NAME"; the pod's address and published ports are attached to its
// network namespace, so they stay while its containers restart. The
// orchestrator schedules pods; `--network container:NAME` remains the
// Docker way to share a namespace by hand.

const bucketPods = "pods"

// podRecord is a pod as stored (bucket "pods", key: its id).
type podRecord struct {
	ID      string               `json:"id"`
	Name    string               `json:"name"`
	Created time.Time            `json:"created"`
	Config  api.PodConfig        `json:"config"`
	Network *api.NetworkSettings `json:"network,omitempty"`
	// BootID is the boot the namespaces were made in: after a reboot they
	// are gone and are made again.
	BootID string `json:"boot_id"`
}

func (e *Engine) podIPCPath(id string) string { return filepath.Join(e.runDir, "ipc", id[:12]) }

// podNetConfig is the container configuration that carries a pod's network
// settings through the code shared with containers.
func podNetConfig(cfg *api.PodConfig) *api.ContainerConfig {
	return &api.ContainerConfig{
		Name: cfg.Name, Hostname: cfg.Hostname, NetworkMode: cfg.NetworkMode, Ports: cfg.Ports,
		DNS: cfg.DNS, DNSSearch: cfg.DNSSearch, DNSOptions: cfg.DNSOptions, ExtraHosts: cfg.ExtraHosts,
	}
}

// CreatePod makes a pod: its namespaces, its address on its network and its
// published ports. Containers join it with NetworkMode "pod:NAME".
func (e *Engine) CreatePod(ctx context.Context, cfg *api.PodConfig) (*api.Pod, error) {
	c := *cfg
	if c.NetworkMode == "" {
		c.NetworkMode = "bridge"
	}
	if !validContainerName.MatchString(c.Name) {
		return nil, fmt.Errorf("pod name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", c.Name, api.ErrInvalid)
	}
	mode := c.NetworkMode
	if strings.Contains(mode, ":") {
		return nil, fmt.Errorf("pod network %q: want bridge, a user network, none or host: %w", mode, api.ErrInvalid)
	}
	cniNet := mode == "bridge"
	if !isBuiltinNetwork(mode) {
		if _, ok := e.userNetwork(mode); !ok {
			return nil, fmt.Errorf("no such network: %s: %w", mode, api.ErrNotFound)
		}
		cniNet = true
	}
	if err := validateNetworkConfig(podNetConfig(&c), cniNet); err != nil {
		return nil, err
	}
	if err := e.checkNetworkPorts(mode, podNetConfig(&c).Ports); err != nil {
		return nil, err
	}
	// The name is reserved under the lock; the namespaces and the network
	// are made outside it, so that pods are created in parallel (ten
	// replicas placed on a node at once).
	e.podMu.Lock()
	for _, p := range e.pods {
		if p.Name == c.Name {
			e.podMu.Unlock()
			return nil, fmt.Errorf("pod name %q is already in use by pod %s: %w", c.Name, p.ID[:12], api.ErrConflict)
		}
	}
	if e.podsCreating[c.Name] || e.podsRemoving[c.Name] {
		e.podMu.Unlock()
		return nil, fmt.Errorf("pod name %q is already in use by a pod being created or removed: %w", c.Name, api.ErrConflict)
	}
	e.podsCreating[c.Name] = true
	e.podMu.Unlock()
	defer func() {
		e.podMu.Lock()
		delete(e.podsCreating, c.Name)
		e.podMu.Unlock()
	}()
	rec := &podRecord{ID: newID(), Name: c.Name, Created: time.Now().UTC(), Config: c}
	if err := e.setupPod(ctx, rec); err != nil {
		return nil, fmt.Errorf("create pod %s: %w", c.Name, err)
	}
	if err := e.db.Put(bucketPods, rec.ID, rec); err != nil {
		e.teardownPod(context.WithoutCancel(ctx), rec)
		return nil, fmt.Errorf("save pod %s: %w", c.Name, err)
	}
	e.podMu.Lock()
	e.pods[rec.ID] = rec
	e.podMu.Unlock()
	e.emit("pod", "create", rec.ID, map[string]string{"name": rec.Name})
	p := e.podAPI(rec)
	return &p, nil
}

// setupPod makes a pod's namespaces and attaches its network; on failure it
// leaves nothing behind.
func (e *Engine) setupPod(ctx context.Context, rec *podRecord) error {
	mode := rec.Config.NetworkMode
	if mode != "host" {
		if e.onCNINetwork(mode) {
			r := &record{ID: rec.ID, Name: rec.Name, Config: *podNetConfig(&rec.Config)}
			_, ns, err := e.attachBridge(ctx, r, true) // a new pod id
			if err != nil {
				return err
			}
			rec.Network = ns
		} else if err := newNetNS(e.netnsPath(rec.ID)); err != nil {
			return err
		}
	}
	if err := newIPCNS(e.podIPCPath(rec.ID)); err != nil {
		e.teardownPod(context.WithoutCancel(ctx), rec)
		return err
	}
	rec.BootID = bootID()
	return nil
}

// teardownPod releases a pod's address, ports and namespaces.
func (e *Engine) teardownPod(ctx context.Context, rec *podRecord) {
	if e.onCNINetwork(rec.Config.NetworkMode) {
		if err := e.detachBridge(ctx, rec.ID, rec.Config.NetworkMode); err != nil {
			e.log.Warn("detach pod from its network", "pod", rec.Name, "err", err)
		}
	} else {
		_ = removeNetNS(e.netnsPath(rec.ID))
	}
	_ = removeNetNS(e.podIPCPath(rec.ID))
	rec.Network = nil
}

// RemovePod deletes a pod. A pod with containers is refused unless force,
// which removes them first (killing running ones).
func (e *Engine) RemovePod(ctx context.Context, ref string, force bool) error {
	rec, err := e.lookupPod(ref)
	if err != nil {
		return err
	}
	members := e.podMembers(rec.Name)
	if len(members) > 0 && !force {
		return fmt.Errorf("pod %s has %d containers: remove them first or force: %w", rec.Name, len(members), api.ErrConflict)
	}
	for _, id := range members {
		if err := e.Remove(ctx, id, true, true); err != nil && !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("remove pod %s: %w", rec.Name, err)
		}
	}
	// The pod is taken out of the table and the store under the lock (a
	// concurrent remove finds it gone), then torn down outside it.
	e.podMu.Lock()
	if _, ok := e.pods[rec.ID]; !ok {
		e.podMu.Unlock()
		return nil // removed meanwhile
	}
	if err := e.db.Delete(bucketPods, rec.ID); err != nil {
		e.podMu.Unlock()
		return fmt.Errorf("remove pod %s: %w", rec.Name, err)
	}
	delete(e.pods, rec.ID)
	e.podsRemoving[rec.Name] = true
	e.podMu.Unlock()
	defer func() {
		e.podMu.Lock()
		delete(e.podsRemoving, rec.Name)
		e.podMu.Unlock()
	}()
	e.teardownPod(ctx, rec)
	e.emit("pod", "destroy", rec.ID, map[string]string{"name": rec.Name})
	return nil
}

// lookupPod finds a pod by id, name or unique id prefix.
func (e *Engine) lookupPod(ref string) (*podRecord, error) {
	e.podMu.Lock()
	defer e.podMu.Unlock()
	if p, ok := e.pods[ref]; ok {
		return p, nil
	}
	var found *podRecord
	for id, p := range e.pods {
		if p.Name == ref {
			return p, nil
		}
		if len(ref) >= 4 && isHex(ref) && strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, fmt.Errorf("pod %q: ambiguous id prefix: %w", ref, api.ErrInvalid)
			}
			found = p
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no such pod: %s: %w", ref, api.ErrNotFound)
	}
	return found, nil
}

// podMembers lists the containers configured in a pod (by its name).
func (e *Engine) podMembers(name string) []string {
	mode := "pod:" + name
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for id, c := range e.containers {
		if c.rec.Config.NetworkMode == mode || c.rec.Config.IpcMode == mode {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (e *Engine) podAPI(rec *podRecord) api.Pod {
	return api.Pod{ID: rec.ID, Name: rec.Name, Created: rec.Created, Config: rec.Config, NetworkSettings: rec.Network, Containers: e.podMembers(rec.Name)}
}

// InspectPod returns one pod.
func (e *Engine) InspectPod(ref string) (*api.Pod, error) {
	rec, err := e.lookupPod(ref)
	if err != nil {
		return nil, err
	}
	p := e.podAPI(rec)
	return &p, nil
}

// ListPods returns the pods, by name.
func (e *Engine) ListPods() []api.Pod {
	e.podMu.Lock()
	recs := make([]*podRecord, 0, len(e.pods))
	for _, p := range e.pods {
		recs = append(recs, p)
	}
	e.podMu.Unlock()
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	out := make([]api.Pod, 0, len(recs))
	for _, r := range recs {
		out = append(out, e.podAPI(r))
	}
	return out
}

// loadPods reads the pods at engine start. Pods whose namespaces are gone
// (the host rebooted) get them, and their network, made again.
func (e *Engine) loadPods(ctx context.Context) error {
	boot := bootID()
	return e.db.ForEach(bucketPods, func(key string, raw []byte) error {
		var r podRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			e.log.Error("skip unreadable pod record", "pod", key, "err", err)
			return nil
		}
		if _, err := os.Stat(e.podIPCPath(r.ID)); r.BootID != boot || err != nil {
			e.teardownPod(ctx, &r)
			if err := e.setupPod(ctx, &r); err != nil {
				e.log.Error("pod namespaces not restored: its containers will not start", "pod", r.Name, "err", err)
			} else if err := e.db.Put(bucketPods, r.ID, &r); err != nil {
				e.log.Error("persist pod", "pod", r.Name, "err", err)
			}
		}
		e.pods[r.ID] = &r
		return nil
	})
}

// podOf returns the pod a "pod:NAME" mode names.
func (e *Engine) podOf(mode string) (*podRecord, bool, error) {
	name, ok := strings.CutPrefix(mode, "pod:")
	if !ok {
		return nil, false, nil
	}
	rec, err := e.lookupPod(name)
	if err != nil {
		return nil, true, err
	}
	return rec, true, nil
}
