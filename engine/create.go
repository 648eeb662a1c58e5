package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"kedge/api"
	"kedge/engine/image"
)

// restartPolicies are the valid --restart names.
var restartPolicies = map[string]bool{"": true, "no": true, "always": true, "unless-stopped": true, "on-failure": true}

// Create makes a container from cfg without starting it.
func (e *Engine) Create(ctx context.Context, cfg *api.ContainerConfig) (*api.CreateResponse, error) {
	if cfg.Image == "" {
		return nil, fmt.Errorf("an image is required: %w", api.ErrInvalid)
	}
	img, err := e.images.Get(cfg.Image)
	if err != nil {
		if errors.Is(err, image.ErrNotFound) {
			return nil, fmt.Errorf("no such image: %s (pull it with `kedge image pull %s`): %w", cfg.Image, cfg.Image, api.ErrNotFound)
		}
		return nil, fmt.Errorf("image %s: %w", cfg.Image, err)
	}
	if cfg.NetworkMode == "" {
		c := *cfg
		c.NetworkMode = "bridge" // Docker's default
		if strings.HasPrefix(c.IpcMode, "pod:") {
			c.NetworkMode = c.IpcMode // a pod's container shares the pod's network too
		}
		cfg = &c
	}
	for _, mode := range []string{cfg.NetworkMode, cfg.IpcMode} {
		if _, _, err := e.podOf(mode); err != nil {
			return nil, err
		}
	}
	cniNet := cfg.NetworkMode == "bridge"
	if m := cfg.NetworkMode; m != "" && !isBuiltinNetwork(m) && !strings.HasPrefix(m, "container:") && !strings.HasPrefix(m, "pod:") {
		if _, ok := e.userNetwork(m); !ok {
			return nil, fmt.Errorf("no such network: %s (create it with `kedge network create %s`): %w", m, m, api.ErrNotFound)
		}
		cniNet = true
	}
	if err := validateConfig(cfg, cniNet); err != nil {
		return nil, err
	}
	id := newID()
	ic := imageConfigOf(img)
	// Build the spec once with placeholder resolution so every flag error
	// (capabilities, ulimits, security options, missing command) shows now.
	if _, err := buildSpec(&specInput{ID: id, Config: cfg, Image: ic, RootfsPath: "/", CgroupsPath: "/x", HostRlimitHard: hostRlimitHard, HeldCaps: e.heldCaps}); err != nil {
		return nil, err
	}
	args, _ := commandLine(cfg, ic)
	rec := record{
		ID: id, Image: cfg.Image, ImageID: img.ID, Created: time.Now().UTC(), Config: *cfg,
		State: api.ContainerState{Status: api.StateCreated}, Path: args[0], Args: args[1:],
		StopSignal:  firstNonEmpty(cfg.StopSignal, ic.StopSignal, "SIGTERM"),
		Healthcheck: resolveHealthcheck(cfg.Healthcheck, e.healthcheckOf(img)),
	}
	rec.Config.Mounts, rec.AnonymousVolumes = withAnonymousVolumes(cfg.Mounts, img.Config.Config.Volumes)
	if cfg.PublishAllPorts {
		rec.Config.Ports = withExposedPorts(cfg.Ports, img.Config.Config.ExposedPorts)
	}
	if err := e.checkNetworkPorts(rec.Config.NetworkMode, rec.Config.Ports); err != nil {
		return nil, err
	}
	if _, err := parseSignal(rec.StopSignal); err != nil {
		return nil, err
	}
	e.mu.Lock()
	name := strings.TrimPrefix(cfg.Name, "/")
	taken := func(n string) bool {
		for _, c := range e.containers {
			if c.rec.Name == n {
				return true
			}
		}
		return false
	}
	if name == "" {
		name = generatedName(taken)
	} else if taken(name) {
		e.mu.Unlock()
		return nil, fmt.Errorf("container name %q is already in use: %w", name, api.ErrConflict)
	}
	rec.Name = name
	c := &container{rec: rec, exited: closedChan(), gone: make(chan struct{})}
	e.containers[id] = c
	e.mu.Unlock()

	dir := e.containerDir(id)
	cleanup := func() {
		e.mu.Lock()
		delete(e.containers, id)
		e.mu.Unlock()
		os.RemoveAll(dir)
	}
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o711); err != nil {
			cleanup()
			return nil, fmt.Errorf("create container dir: %w", err)
		}
	}
	if err := e.persist(c); err != nil {
		cleanup()
		return nil, err
	}
	e.emit("container", "create", id, map[string]string{"name": name, "image": cfg.Image})
	return &api.CreateResponse{ID: id}, nil
}

// validateConfig checks a container's configuration; cniNet says its
// network mode is a CNI network (bridge or a user network).
func validateConfig(cfg *api.ContainerConfig, cniNet bool) error {
	if cfg.Name != "" && !validContainerName.MatchString(cfg.Name) {
		return fmt.Errorf("container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", cfg.Name, api.ErrInvalid)
	}
	if !restartPolicies[cfg.RestartPolicy.Name] {
		return fmt.Errorf("restart policy %q: want no, always, unless-stopped or on-failure: %w", cfg.RestartPolicy.Name, api.ErrInvalid)
	}
	if cfg.RestartPolicy.MaximumRetryCount < 0 || (cfg.RestartPolicy.MaximumRetryCount > 0 && cfg.RestartPolicy.Name != "on-failure") {
		return fmt.Errorf("restart policy: a retry count needs on-failure and must not be negative: %w", api.ErrInvalid)
	}
	if cfg.AutoRemove && cfg.RestartPolicy.Name != "" && cfg.RestartPolicy.Name != "no" {
		return fmt.Errorf("conflicting options: --restart and --rm: %w", api.ErrInvalid)
	}
	if err := validateNetworkConfig(cfg, cniNet); err != nil {
		return err
	}
	if err := validNamespaceMode("ipc", cfg.IpcMode, "private"); err != nil {
		return err
	}
	r := cfg.Resources
	if r.Memory < 0 || r.NanoCPUs < 0 || r.CPUShares < 0 || r.ShmSize < 0 {
		return fmt.Errorf("resource limits must not be negative: %w", api.ErrInvalid)
	}
	if r.Memory > 0 && r.Memory < 6<<20 {
		return fmt.Errorf("memory limit %d bytes: the minimum is 6MB: %w", r.Memory, api.ErrInvalid)
	}
	if r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return fmt.Errorf("memory-swap must be at least memory: %w", api.ErrInvalid)
	}
	if r.CpusetCpus != "" && !validCpuset(r.CpusetCpus) {
		return fmt.Errorf("cpuset %q: want a list like 0-2,4: %w", r.CpusetCpus, api.ErrInvalid)
	}
	seen := map[string]bool{}
	for _, m := range cfg.Mounts {
		if !path.IsAbs(m.Target) || path.Clean(m.Target) == "/" {
			return fmt.Errorf("mount target %q: must be an absolute path other than /: %w", m.Target, api.ErrInvalid)
		}
		if seen[path.Clean(m.Target)] {
			return fmt.Errorf("duplicate mount point %s: %w", m.Target, api.ErrInvalid)
		}
		seen[path.Clean(m.Target)] = true
		switch m.Type {
		case "bind":
			if !filepath.IsAbs(m.Source) {
				return fmt.Errorf("bind source %q: must be an absolute host path: %w", m.Source, api.ErrInvalid)
			}
			if _, err := os.Stat(m.Source); err != nil {
				return fmt.Errorf("bind source %s: %v: %w", m.Source, err, api.ErrInvalid)
			}
		case "volume", "tmpfs":
		default:
			return fmt.Errorf("mount type %q: want volume, bind or tmpfs: %w", m.Type, api.ErrInvalid)
		}
	}
	for _, d := range cfg.Security.Devices {
		if !filepath.IsAbs(d.PathOnHost) {
			return fmt.Errorf("device %q: must be an absolute path: %w", d.PathOnHost, api.ErrInvalid)
		}
		if _, err := os.Stat(d.PathOnHost); err != nil {
			return fmt.Errorf("device %s: %v: %w", d.PathOnHost, err, api.ErrInvalid)
		}
	}
	for k := range cfg.Security.Sysctls {
		if !namespacedSysctl(k) {
			return fmt.Errorf("sysctl %q: not namespaced, so a container may not set it: %w", k, api.ErrInvalid)
		}
	}
	if hc := cfg.Healthcheck; hc != nil && len(hc.Test) > 0 {
		switch hc.Test[0] {
		case "NONE", "CMD", "CMD-SHELL":
		default:
			return fmt.Errorf("health check %q: want CMD, CMD-SHELL or NONE first: %w", hc.Test[0], api.ErrInvalid)
		}
	}
	return nil
}

// validNamespaceMode checks a --network or --ipc value: the default (own
// namespace), host, or container:NAME.
func validNamespaceMode(flag, mode, own string) error {
	switch {
	case mode == "" || mode == own || mode == "host":
		return nil
	case strings.HasPrefix(mode, "container:") && len(mode) > len("container:"),
		strings.HasPrefix(mode, "pod:") && len(mode) > len("pod:"):
		return nil
	}
	return fmt.Errorf("%s %q: want %s, host, container:NAME or pod:NAME: %w", flag, mode, own, api.ErrInvalid)
}

func validCpuset(s string) bool {
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if lo == "" || strings.Trim(lo, "0123456789") != "" || (isRange && (hi == "" || strings.Trim(hi, "0123456789") != "")) {
			return false
		}
	}
	return true
}

// namespacedSysctl follows Docker's allow list: IPC sysctls and net.* (the
// container has its own network namespace).
func namespacedSysctl(k string) bool {
	switch k {
	case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
		return true
	}
	return strings.HasPrefix(k, "fs.mqueue.") || strings.HasPrefix(k, "net.")
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

func imageConfigOf(img *image.Image) imageConfig {
	c := img.Config.Config
	return imageConfig{User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, StopSignal: c.StopSignal}
}
