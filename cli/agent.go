package cli

// The daemon side of the binary: `agent`, `demo`, and the hidden
// `demo-server` that the demo container runs.

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"kedge/agent"
	"kedge/api"
)

func agentCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "agent", Usage: "Run the kedge agent (the node's container engine)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "config", Value: agent.DefaultConfigFile, Usage: "YAML config file (a missing default file is fine)"},
				&cli.StringFlag{Name: "data-dir", Value: agent.DefaultDataDir, Usage: "where the agent keeps its state"},
				&cli.StringFlag{Name: "socket", Value: api.DefaultSocket, Usage: "unix socket of the API"},
				&cli.StringFlag{Name: "node-name", Usage: "this node's name (default: the host name)"},
				&cli.StringFlag{Name: "advertise", Usage: "the IP other cluster nodes reach this one at (default: the default route's address)"},
				&cli.StringFlag{Name: "bind", Usage: "the IP the cluster ports listen on (default: all)"},
				&cli.IntFlag{Name: "api-port", Usage: "HTTPS API port of a cluster member (default 7780)"},
				&cli.IntFlag{Name: "raft-port", Usage: "Raft port (default 7781)"},
				&cli.IntFlag{Name: "gossip-port", Usage: "gossip port, TCP and UDP (default 7782)"},
				&cli.StringSliceFlag{Name: "label", Usage: "a node label: key=value"},
				&cli.StringSliceFlag{Name: "taint", Usage: "a node taint: key[=value]:NoSchedule|PreferNoSchedule|NoExecute"},
				&cli.StringFlag{Name: "capacity", Usage: "what the node offers: cpu=N,memory=SIZE (default: the machine)"},
				&cli.StringFlag{Name: "reserve", Usage: "kept back from workloads: cpu=N,memory=SIZE"},
				&cli.BoolFlag{Name: "slow-links", Usage: "Raft and gossip timings for slow or lossy links (slower failover)"},
				&cli.StringFlag{Name: "stabilization-time", Hidden: true, Usage: "how long a node is healthy before it becomes a voter (default 10s)"},
			},
			Action: agentAction,
		},
		{
			Name: "demo", Usage: "Run a self-contained demo: an agent and a container serving a web page",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "port", Value: 8080, Usage: "host port of the demo page"},
				&cli.StringFlag{Name: "data-dir", Usage: "where the demo agent keeps its state (default: the demo's own)"},
			},
			Action: demoAction,
		},
		{
			Name: "demo-server", Hidden: true, Usage: "Serve the demo page (what the demo container runs)",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "port", Value: 8080, Usage: "port to listen on"},
				&cli.StringFlag{Name: "message", Value: "Hello from Kedge", Usage: "headline of the page"},
			},
			Action: demoServerAction,
		},
	}
}

// LoadAgentConfig reads the agent's YAML config file. A missing file is an
// empty config unless explicit (the user named it); unknown keys and
// malformed YAML are errors.
func LoadAgentConfig(path string, explicit bool) (*agent.Config, error) {
	cfg := &agent.Config{}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return cfg, nil
		}
		return nil, fmt.Errorf("read agent config: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, cfg); err != nil {
		return nil, fmt.Errorf("agent config %s: %w", path, err)
	}
	return cfg, nil
}

// agentConfig is the config file overridden by the flags, with defaults.
func agentConfig(c *cli.Context) (*agent.Config, error) {
	cfg, err := LoadAgentConfig(c.String("config"), c.IsSet("config"))
	if err != nil {
		return nil, err
	}
	if c.IsSet("data-dir") || cfg.DataDir == "" {
		cfg.DataDir = c.String("data-dir")
	}
	if c.IsSet("socket") || cfg.Socket == "" {
		cfg.Socket = c.String("socket")
	}
	if c.IsSet("node-name") {
		cfg.NodeName = c.String("node-name")
	}
	cc := &cfg.Cluster
	for flag, dst := range map[string]*string{"advertise": &cc.Advertise, "bind": &cc.BindAddr, "capacity": &cc.Capacity,
		"reserve": &cc.Reserve, "stabilization-time": &cc.StabilizationTime} {
		if c.IsSet(flag) {
			*dst = c.String(flag)
		}
	}
	for flag, dst := range map[string]*int{"api-port": &cc.APIPort, "raft-port": &cc.RaftPort, "gossip-port": &cc.GossipPort} {
		if c.IsSet(flag) {
			*dst = c.Int(flag)
		}
	}
	if c.IsSet("taint") {
		cc.Taints = c.StringSlice("taint")
	}
	if c.IsSet("slow-links") {
		cc.SlowLinks = c.Bool("slow-links")
	}
	for _, l := range c.StringSlice("label") {
		k, v, err := parseKeyValue("label", l, false)
		if err != nil {
			return nil, err
		}
		if cc.Labels == nil {
			cc.Labels = map[string]string{}
		}
		cc.Labels[k] = v
	}
	cfg.Logger = logger(c)
	cfg.Version = ClientVersion()
	return cfg, nil
}

func agentAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "%q accepts no arguments", c.Command.HelpName)
	}
	cfg, err := agentConfig(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := agent.Run(ctx, cfg); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

func demoAction(c *cli.Context) error {
	port := c.Int("port")
	if port < 1 || port > 65535 {
		return usagef(c, "--port %d: want 1-65535", port)
	}
	cfg := &agent.Config{DataDir: c.String("data-dir"), Logger: logger(c), Version: ClientVersion()}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := agent.Demo(ctx, cfg, agent.DemoOptions{Port: port}, c.App.Writer); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// demoPage is the demo container's page: self-contained, no external assets.
var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Message}}</title>
<style>
body{font-family:system-ui,sans-serif;background:#0f2a3d;color:#f4f7f9;display:flex;min-height:100vh;margin:0;align-items:center;justify-content:center}
main{background:#173f5c;padding:2.5rem 3rem;border-radius:12px;box-shadow:0 8px 30px #0006;text-align:center}
h1{margin:0 0 1rem;font-size:2.2rem}
dl{display:grid;grid-template-columns:auto auto;gap:.4rem 1.2rem;text-align:left;margin:0}
dt{color:#9fc3dc}dd{margin:0;font-family:ui-monospace,monospace}
</style></head>
<body><main><h1 id="message">{{.Message}}</h1>
<dl><dt>Container</dt><dd id="hostname">{{.Hostname}}</dd>
<dt>Time</dt><dd id="time">{{.Time}}</dd>
<dt>Requests</dt><dd id="requests">{{.Requests}}</dd></dl>
</main></body></html>
`))

// demoHandler serves the demo page and /healthz; count is its request counter.
func demoHandler(message string, count *atomic.Int64) http.Handler {
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		n := count.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = demoPage.Execute(w, map[string]any{
			"Message": message, "Hostname": host,
			"Time": time.Now().UTC().Format(time.RFC1123), "Requests": n,
		})
	})
	return mux
}

func demoServerAction(c *cli.Context) error {
	port := c.Int("port")
	if port < 0 || port > 65535 {
		return usagef(c, "--port %d: want 0-65535", port)
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("demo server: %w", err)
	}
	var count atomic.Int64
	srv := &http.Server{Handler: demoHandler(c.String("message"), &count), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(c.App.Writer, "demo server listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("demo server: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	<-errc
	return nil
}
