package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"kedge/api"
	"kedge/cluster"
	"kedge/engine"
	"kedge/engine/image"
	"kedge/web"
)

// Agent is a running daemon: the engine, its cluster membership and the
// API serving them (the unix socket always, HTTPS while a cluster member).
type Agent struct {
	cfg     *Config
	log     *slog.Logger
	engine  *engine.Engine
	cluster *cluster.Manager
	api     *web.Server
	watch   *web.ClusterAPI
	http    *http.Server
	ln      net.Listener
	node    nodeListener
	metrics *metrics
	// stopLoops ends the agent's own loops (image GC); loops waits for them.
	stopLoops context.CancelFunc
	loops     sync.WaitGroup
}

// Start builds the engine from cfg, re-adopts running containers and starts
// serving the API on the unix socket. Stop undoes it.
func Start(ctx context.Context, cfg *Config) (*Agent, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Socket == "" {
		cfg.Socket = api.DefaultSocket
	}
	opts, err := engineOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	eng, err := engine.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("start engine: %w", err)
	}
	cm, err := newClusterManager(cfg)
	if err != nil {
		eng.Close()
		return nil, err
	}
	ln, err := listenUnix(cfg.Socket)
	if err != nil {
		eng.Close()
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, engine: eng, cluster: cm, ln: ln}
	a.api = web.New(eng, cfg.Version, log)
	a.watch = a.api.EnableCluster(cm, a.startNodeListener, a.onLeave)
	a.api.EnableWorkloads(cm)
	a.api.SetPodRefs(a.resolvePodRef, nodeTransport{a})
	cm.RunPods(newPodRuntime(eng, cfg.DataDir, a.imageFromPeers))
	if err := cm.Start(ctx); err != nil {
		// The engine still serves; the cluster part reports the problem.
		log.Error("cluster membership not resumed", "err", err)
	}
	a.metrics = newMetrics(a)
	a.startNodeListener()
	loopCtx, stopLoops := context.WithCancel(context.Background())
	a.stopLoops = stopLoops
	a.loops.Add(1)
	go func() {
		defer a.loops.Done()
		a.imageGCLoop(loopCtx)
	}()
	local := http.NewServeMux()
	local.Handle("GET "+web.MetricsPath, a.metrics.handler())
	local.Handle("/", a.api)
	a.http = &http.Server{Handler: a.metrics.instrument("unix", local), ReadHeaderTimeout: 10 * time.Second}
	a.http.RegisterOnShutdown(a.watch.Close)
	a.http.RegisterOnShutdown(a.api.Close)
	go func() {
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api server stopped", "err", err)
		}
	}()
	log.Info("kedge agent ready", "socket", cfg.Socket, "data_dir", cfg.DataDir, "key", eng.Key())
	return a, nil
}

// Engine is the agent's container engine.
func (a *Agent) Engine() *engine.Engine { return a.engine }

// Stop stops serving and closes the engine; containers keep running.
func (a *Agent) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.stopLoops()
	a.loops.Wait()
	a.watch.Close()
	err := a.http.Shutdown(ctx)
	if err != nil {
		a.http.Close()
	}
	os.Remove(a.cfg.Socket)
	a.stopNodeListener()
	return errors.Join(err, a.cluster.Close(), a.engine.Close())
}

// Run starts the agent and serves until ctx ends, then stops cleanly
// (containers keep running under their supervisors).
func Run(ctx context.Context, cfg *Config) error {
	a, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	a.log.Info("kedge agent stopping")
	return a.Stop()
}

func engineOptions(cfg *Config, log *slog.Logger) (engine.Options, error) {
	opts := engine.Options{
		DataDir: cfg.DataDir, RunDir: cfg.RunDir, Binary: cfg.Binary,
		Images:             image.Options{Mirrors: cfg.Registry.Mirrors, Insecure: cfg.Registry.Insecure},
		DefaultPidsLimit:   cfg.Defaults.PidsLimit,
		DefaultMemory:      cfg.Defaults.Memory,
		DefaultLogMaxFiles: cfg.Defaults.LogMaxFiles,
		BridgeSubnet:       cfg.BridgeSubnet,
		CNIPluginDirs:      cfg.CNIBinDirs,
		Logger:             log,
	}
	if cfg.Defaults.LogMaxSize != "" {
		n, err := api.ParseSize(cfg.Defaults.LogMaxSize)
		if err != nil {
			return opts, fmt.Errorf("config defaults.log_max_size: %w", err)
		}
		opts.DefaultLogMaxSize = n
	}
	return opts, nil
}

// listenUnix listens on a unix socket, replacing a stale one, reachable by
// root only (the API gives root-equivalent power).
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("another agent is already serving %s", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket permissions: %w", err)
	}
	return ln, nil
}
