package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/api"
	"kedge/engine/image"
	"kedge/engine/runtime"
	"kedge/engine/shim"
	"kedge/net/dns"
)

// Start starts a created or exited container. Starting a running container is
// a no-op, as with Docker.
func (e *Engine) Start(ctx context.Context, ref string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	return e.startLocked(ctx, c)
}

// startLocked starts c; the caller holds c.op.
func (e *Engine) startLocked(ctx context.Context, c *container) error {
	rec := c.snapshot()
	if c.removed {
		return fmt.Errorf("container %s: %w", rec.ID[:12], api.ErrNotFound)
	}
	if rec.State.Running {
		return nil
	}
	img, err := e.images.Get(rec.ImageID)
	if err != nil {
		return fmt.Errorf("start %s: image %s: %w", rec.Name, rec.Image, err)
	}
	lowers, err := e.images.LayerDirs(ctx, img)
	if err != nil {
		return fmt.Errorf("start %s: unpack image %s: %w", rec.Name, rec.Image, err)
	}
	dir := e.containerDir(rec.ID)
	rootfs := filepath.Join(dir, "rootfs")
	if err := mountOverlay(lowers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), rootfs); err != nil {
		return fmt.Errorf("start %s: %w", rec.Name, err)
	}
	fail := func(err error) error {
		unmountRootfs(rootfs)
		code := 125
		switch {
		case errors.Is(err, runtime.ErrExecNotFound):
			code = 127
			err = fmt.Errorf("%v: %w", err, api.ErrCommandNotFound)
		case errors.Is(err, runtime.ErrExecPermission):
			code = 126
			err = fmt.Errorf("%v: %w", err, api.ErrCannotInvoke)
		}
		c.mu.Lock()
		c.rec.State = api.ContainerState{Status: api.StateExited, ExitCode: code, Error: err.Error(), FinishedAt: time.Now().UTC(), StartedAt: c.rec.State.StartedAt}
		c.mu.Unlock()
		e.persist(c)
		return fmt.Errorf("start %s: %w", rec.Name, err)
	}
	var netSettings *api.NetworkSettings
	if pod, ok, _ := e.podOf(rec.Config.NetworkMode); ok && pod != nil {
		netSettings = pod.Network // the pod's address, shown on its containers
	}
	if e.onCNINetwork(rec.Config.NetworkMode) {
		nsPath, ns, err := e.attachBridge(ctx, &rec, rec.State.StartedAt.IsZero())
		if err != nil {
			return fail(err)
		}
		rec.Network, netSettings = ns, ns
		rec.netnsPath = nsPath
		inner := fail
		fail = func(err error) error {
			_ = e.detachBridge(context.WithoutCancel(ctx), rec.ID, rec.Config.NetworkMode)
			return inner(err)
		}
	}
	spec, mounts, err := e.prepareSpec(&rec, img, rootfs)
	if err != nil {
		return fail(err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), specJSON, 0o600); err != nil {
		return fail(fmt.Errorf("write spec: %w", err))
	}
	os.Remove(filepath.Join(dir, "exit.json"))
	stateDir := e.stateDir(rec.ID)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fail(fmt.Errorf("state dir: %w", err))
	}
	maxSize, maxFiles := rec.Config.Log.MaxSize, rec.Config.Log.MaxFiles
	if maxSize == 0 {
		maxSize = e.opts.DefaultLogMaxSize
	}
	if maxFiles == 0 {
		maxFiles = e.opts.DefaultLogMaxFiles
	}
	startedAt := time.Now().UTC()
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	client, err := shim.Start(ctx, shim.Options{
		HoldOutput: pending != nil, StdinOnce: pending != nil && pending.stdin && rec.Config.OpenStdin,
		ID: rec.ID, BundleDir: dir, StateDir: stateDir, ExitFile: filepath.Join(dir, "exit.json"),
		LogPath: e.logPath(rec.ID), LogMaxSize: maxSize, LogMaxFiles: maxFiles,
		Tty: rec.Config.Tty, OpenStdin: rec.Config.OpenStdin, Binary: e.opts.Binary,
	})
	if err != nil {
		os.RemoveAll(stateDir)
		err = fail(err)
		if pending != nil {
			close(pending.ready)
		}
		return err
	}
	exited := make(chan struct{})
	c.mu.Lock()
	c.shim = client
	c.exited = exited
	c.rec.Mounts = mounts
	c.rec.Network = netSettings
	c.rec.BootID = bootID()
	c.rec.ManuallyStopped = false
	c.rec.State = api.ContainerState{Status: api.StateRunning, Running: true, Pid: client.Pid(), StartedAt: startedAt}
	if rec.Healthcheck != nil {
		c.rec.State.Health = &api.Health{Status: "starting"}
	}
	c.mu.Unlock()
	if err := e.persist(c); err != nil {
		e.log.Error("persist started container", "container", rec.ID[:12], "err", err)
	}
	e.emit("container", "start", rec.ID, map[string]string{"name": rec.Name})
	if pending != nil {
		pending.ready <- startedRun{client: client, exited: exited}
	}
	e.monitor(c, client, exited)
	return nil
}

// prepareSpec resolves what the spec needs from the mounted rootfs and the
// host (user ids, volumes, /etc files, devices) and builds the OCI spec.
func (e *Engine) prepareSpec(rec *record, img *image.Image, rootfs string) (*specs.Spec, []api.MountPoint, error) {
	imgCfg := imageConfigOf(img)
	userSpec := firstNonEmpty(rec.Config.User, imgCfg.User, "0:0")
	passwd, _ := securejoin.SecureJoin(rootfs, "/etc/passwd")
	group, _ := securejoin.SecureJoin(rootfs, "/etc/group")
	execUser, err := user.GetExecUserPath(userSpec, &user.ExecUser{Home: "/"}, passwd, group)
	if err != nil {
		return nil, nil, fmt.Errorf("user %q: %v: %w", userSpec, err, api.ErrInvalid)
	}
	var gids []uint32
	for _, g := range execUser.Sgids {
		if g != execUser.Gid {
			gids = append(gids, uint32(g))
		}
	}
	mounts, points, err := e.resolveMounts(rec, rootfs)
	if err != nil {
		return nil, nil, err
	}
	etc, err := e.writeEtcFiles(rec)
	if err != nil {
		return nil, nil, err
	}
	devices, err := resolveDevices(rec.Config.Security.Devices)
	if err != nil {
		return nil, nil, err
	}
	joinNet, err := e.joinNamespace(rec, rec.Config.NetworkMode, "net")
	if err != nil {
		return nil, nil, err
	}
	if rec.netnsPath != "" {
		joinNet = rec.netnsPath
	}
	joinIPC, err := e.joinNamespace(rec, rec.Config.IpcMode, "ipc")
	if err != nil {
		return nil, nil, err
	}
	cfg := rec.Config
	if pod, ok, _ := e.podOf(cfg.NetworkMode); ok && pod != nil {
		cfg.Hostname = firstNonEmpty(cfg.Hostname, pod.Config.Hostname, pod.Name)
		if pod.Config.NetworkMode == "host" {
			cfg.NetworkMode = "host"
		}
	}
	spec, err := buildSpec(&specInput{
		ID: rec.ID, Config: &cfg, Image: imgCfg, RootfsPath: rootfs,
		CgroupsPath: e.cgroupParent() + "/" + rec.ID,
		UID:         uint32(execUser.Uid), GID: uint32(execUser.Gid), AdditionalGIDs: gids, Home: execUser.Home,
		HostNofileHard: hostRlimitHard("RLIMIT_NOFILE"), HostRlimitHard: hostRlimitHard,
		Mounts: mounts, EtcFiles: etc, Devices: devices,
		DefaultPidsLimit: e.opts.DefaultPidsLimit, DefaultMemory: e.opts.DefaultMemory,
		InitBinary: e.opts.InitBinary, HeldCaps: e.heldCaps,
		JoinNetNS: joinNet, JoinIPCNS: joinIPC,
	})
	if err != nil {
		return nil, nil, err
	}
	return spec, points, nil
}

// joinNamespace resolves a "container:NAME" mode to the namespace file (kind
// "net" or "ipc") of that running container; other modes need none.
func (e *Engine) joinNamespace(rec *record, mode, kind string) (string, error) {
	if pod, ok, err := e.podOf(mode); ok {
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", kind, mode, err)
		}
		if kind == "ipc" {
			return e.podIPCPath(pod.ID), nil
		}
		if pod.Config.NetworkMode == "host" {
			return "", nil // the host's network: see effectiveConfig
		}
		return e.netnsPath(pod.ID), nil
	}
	ref, ok := strings.CutPrefix(mode, "container:")
	if !ok {
		return "", nil
	}
	target, err := e.lookup(ref)
	if err != nil {
		return "", fmt.Errorf("%s container:%s: %w", kind, ref, err)
	}
	t := target.snapshot()
	if t.ID == rec.ID {
		return "", fmt.Errorf("%s container:%s: a container cannot join itself: %w", kind, ref, api.ErrInvalid)
	}
	if !t.State.Running || t.State.Pid == 0 {
		return "", fmt.Errorf("%s container:%s: that container is not running: %w", kind, ref, api.ErrConflict)
	}
	return fmt.Sprintf("/proc/%d/ns/%s", t.State.Pid, kind), nil
}

func resolveDevices(devs []api.Device) ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	for _, d := range devs {
		typ, major, minor, mode, err := deviceOf(d.PathOnHost)
		if err != nil {
			return nil, fmt.Errorf("device %s: %v: %w", d.PathOnHost, err, api.ErrInvalid)
		}
		fm := os.FileMode(mode)
		dst := firstNonEmpty(d.PathInContainer, d.PathOnHost)
		out = append(out, specs.LinuxDevice{Path: dst, Type: typ, Major: major, Minor: minor, FileMode: &fm})
	}
	return out, nil
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its directory, to be bind-mounted.
func (e *Engine) writeEtcFiles(rec *record) (map[string]string, error) {
	dir := e.containerDir(rec.ID)
	if pod, ok, _ := e.podOf(rec.Config.NetworkMode); ok && pod != nil {
		// A pod's containers share its host name, addresses and resolver.
		r := *rec
		r.Config = *podNetConfig(&pod.Config)
		r.Config.Hostname = firstNonEmpty(pod.Config.Hostname, pod.Name)
		r.Network = pod.Network
		rec = &r
	}
	hostname := firstNonEmpty(rec.Config.Hostname, rec.ID[:12])
	files := map[string]string{
		"/etc/hostname": filepath.Join(dir, "hostname"),
		"/etc/hosts":    filepath.Join(dir, "hosts"),
	}
	self, gateway := "127.0.1.1", ""
	if rec.Network != nil && rec.Network.IPAddress != "" {
		self, gateway = rec.Network.IPAddress, rec.Network.Gateway
	} else if p, err := netip.ParsePrefix(e.bridgeSubnet()); err == nil {
		gateway = p.Addr().Next().String() // the default bridge's gateway, as Docker's host-gateway
	}
	hosts := hostsFile(self, hostname, gateway, rec.Config.ExtraHosts)
	if rec.Config.NetworkMode == "host" {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
	}
	if err := os.WriteFile(files["/etc/hostname"], []byte(hostname+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write hostname: %w", err)
	}
	if err := os.WriteFile(files["/etc/hosts"], []byte(hosts), 0o644); err != nil {
		return nil, fmt.Errorf("write hosts: %w", err)
	}
	// The host's resolver as is for --network host; otherwise its real
	// upstream servers (a loopback stub such as systemd-resolved's 127.0.0.53
	// is unreachable from the container's own network namespace).
	var conf []byte
	if rec.Config.NetworkMode == "host" {
		conf, _ = os.ReadFile("/etc/resolv.conf")
	} else if host, err := dns.ReadHostResolvConf(); err == nil {
		servers, search, options := e.resolverSettings(rec)
		conf = dns.ContainerResolvConf(host, servers, search, options)
	}
	if conf != nil {
		p := filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(p, conf, 0o644); err != nil {
			return nil, fmt.Errorf("write resolv.conf: %w", err)
		}
		files["/etc/resolv.conf"] = p
	}
	return files, nil
}
