// Package engine is the node's container engine: containers created from
// images, started under per-container supervisors (engine/shim) with an OCI
// spec carrying kedge's hardened defaults, stopped, removed, inspected,
// logged, exec'd into, and re-adopted after an agent restart. It knows nothing
// of the cluster; the agent wires it to the API.
//
// On disk (DATA_DIR):
//
//	kedge.db                     bbolt: container records (see kedge/store)
//	image/                       the image store (engine/image)
//	volumes/<name>/_data         named volumes (engine/volume)
//	containers/<id>/             one container: upper/ and work/ (the overlay's
//	                             read-write layer), rootfs/ (the mount point),
//	                             config.json (the OCI spec), container.log*,
//	                             exit.json, hostname, hosts, resolv.conf
//
// and under the runtime dir (/run/kedge/<agent key>, cleared on reboot) one
// directory per running container for its supervisor's socket.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"kedge/api"
	"kedge/engine/image"
	"kedge/engine/runtime"
	"kedge/engine/volume"
	"kedge/security/profile"
	"kedge/store"
)

// Options configure an Engine.
type Options struct {
	// DataDir holds the engine's persistent state.
	DataDir string
	// RunDir is the base of the runtime dir; the engine uses RunDir/<key>
	// where key derives from DataDir, so agents on one host never collide.
	// Default /run/kedge.
	RunDir string
	// Binary is the kedge executable for supervisors; empty: this executable.
	Binary string
	// InitBinary is the static kedge executable mounted into containers that
	// ask for --init; empty: Binary.
	InitBinary string
	// Images configure registry access.
	Images image.Options
	// DefaultPidsLimit (default 4096; negative: none) and DefaultMemory apply
	// to containers that set no limit.
	DefaultPidsLimit int64
	DefaultMemory    int64
	// DefaultLogMaxSize / DefaultLogMaxFiles rotate logs (10 MiB x 3).
	DefaultLogMaxSize  int64
	DefaultLogMaxFiles int
	// BridgeSubnet is the bridge network's subnet; empty derives a /16 in
	// 10.64.0.0/10 from the agent key.
	BridgeSubnet string
	// CNIPluginDirs are where the plugin executables of "cni" networks
	// (third-party conflists) are searched; empty: /opt/cni/bin, /usr/lib/cni.
	CNIPluginDirs []string
	// Logger receives the engine's logs.
	Logger *slog.Logger
}

// Engine runs containers on this node.
type Engine struct {
	opts    Options
	key     string // derived from DataDir: cgroup parent and runtime dir name
	runDir  string
	db      *store.DB
	images  *image.Store
	volumes *volume.Manager
	events  *eventBus
	log     *slog.Logger

	// heldCaps are the capabilities this process holds (see specInput.HeldCaps).
	heldCaps []string
	// bridge is the node's bridge network, made on first use.
	bridge bridgeNetwork
	// netMu guards userNets, the user networks by name.
	netMu    sync.Mutex
	userNets map[string]*userNetwork

	mu         sync.Mutex
	containers map[string]*container // by id

	// podMu guards pods, by id, and the names of pods being created or
	// removed (their namespaces are made or torn down outside the lock).
	podMu        sync.Mutex
	podsCreating map[string]bool
	podsRemoving map[string]bool
	pods         map[string]*podRecord

	// ctx is cancelled by Close; it bounds every background goroutine.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const bucketContainers = "containers"

// AgentKey derives the short key that separates one agent's cgroups and
// runtime files from another's on the same host.
func AgentKey(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:])[:10]
}

// New opens the engine's state under opts.DataDir and re-adopts the
// containers that kept running while no agent was there.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.RunDir == "" {
		opts.RunDir = "/run/kedge"
	}
	if opts.DefaultPidsLimit == 0 {
		opts.DefaultPidsLimit = 4096
	}
	if opts.DefaultLogMaxSize == 0 {
		opts.DefaultLogMaxSize = 10 << 20
	}
	if opts.DefaultLogMaxFiles == 0 {
		opts.DefaultLogMaxFiles = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the kedge executable: %w", err)
		}
		opts.Binary = exe
	}
	if opts.InitBinary == "" {
		opts.InitBinary = opts.Binary
	}
	for _, d := range []string{opts.DataDir, filepath.Join(opts.DataDir, "containers")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("data dir %s: %w", d, err)
		}
	}
	e := &Engine{opts: opts, key: AgentKey(opts.DataDir), log: opts.Logger.With("subsystem", "engine"), containers: map[string]*container{}}
	e.runDir = filepath.Join(opts.RunDir, e.key)
	e.userNets = map[string]*userNetwork{}
	e.pods = map[string]*podRecord{}
	e.podsCreating, e.podsRemoving = map[string]bool{}, map[string]bool{}
	e.heldCaps = profile.HeldCapabilities()
	if err := os.MkdirAll(e.runDir, 0o700); err != nil {
		return nil, fmt.Errorf("runtime dir %s: %w", e.runDir, err)
	}
	var err error
	if e.db, err = store.Open(filepath.Join(opts.DataDir, "kedge.db"), bucketContainers, bucketNetworks, bucketPods); err != nil {
		return nil, err
	}
	if e.images, err = image.Open(filepath.Join(opts.DataDir, "image"), opts.Images); err != nil {
		e.db.Close()
		return nil, fmt.Errorf("open image store: %w", err)
	}
	if e.volumes, err = volume.New(filepath.Join(opts.DataDir, "volumes")); err != nil {
		e.images.Close()
		e.db.Close()
		return nil, err
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.events = newEventBus(1024)
	if err := e.loadNetworks(); err != nil {
		e.Close()
		return nil, fmt.Errorf("load networks: %w", err)
	}
	if err := e.loadPods(ctx); err != nil {
		e.Close()
		return nil, fmt.Errorf("load pods: %w", err)
	}
	if err := e.loadAndAdopt(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops the engine's background work and closes its stores. Running
// containers keep running under their supervisors.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	e.netMu.Lock()
	for _, un := range e.userNets {
		un.stopDNS()
	}
	e.netMu.Unlock()
	e.mu.Lock()
	for _, c := range e.containers {
		c.closeShim()
	}
	e.mu.Unlock()
	e.releaseIdleNetworks()
	// The agent's parent cgroup goes with its last container; running
	// containers (they outlive the agent) keep it.
	if err := runtime.RemoveCgroupIfEmpty(e.cgroupParent()); err != nil {
		e.log.Warn("remove the agent's cgroup", "err", err)
	}
	if e.images != nil {
		e.images.Close()
	}
	if e.db != nil {
		return e.db.Close()
	}
	return nil
}

// Images is the engine's image store.
func (e *Engine) Images() *image.Store { return e.images }

// Volumes is the engine's volume manager.
func (e *Engine) Volumes() *volume.Manager { return e.volumes }

// Key is the agent key (see AgentKey).
func (e *Engine) Key() string { return e.key }

// cgroupParent is the cgroup under which this agent's containers live.
func (e *Engine) cgroupParent() string { return "/kedge-" + e.key }

func (e *Engine) containerDir(id string) string {
	return filepath.Join(e.opts.DataDir, "containers", id)
}

func (e *Engine) stateDir(id string) string { return filepath.Join(e.runDir, id[:12]) }

// go runs fn in a goroutine owned by the engine (stopped by Close).
func (e *Engine) goOwned(fn func(ctx context.Context)) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		fn(e.ctx)
	}()
}

// Info describes the engine for `kedge info`.
func (e *Engine) Info() api.Info {
	e.mu.Lock()
	defer e.mu.Unlock()
	info := api.Info{DataDir: e.opts.DataDir, Containers: len(e.containers), CgroupVersion: cgroupVersion()}
	for _, c := range e.containers {
		if c.rec.State.Running {
			info.Running++
		}
	}
	if imgs, err := e.images.List(); err == nil {
		info.Images = len(imgs)
	}
	return info
}
