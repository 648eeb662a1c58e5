package cli

// The flags of `run` and `create`, and their translation into an
// api.ContainerConfig.

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

// containerFlags are the flags shared by run and create.
func containerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "assign a name to the container"},
		&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo terminal"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (K=V, or K to pass the CLI's)"},
		&cli.StringSliceFlag{Name: "env-file", Usage: "read environment variables from a file"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group] to run as"},
		&cli.StringFlag{Name: "entrypoint", Usage: "override the image's entrypoint (\"\" resets it)"},
		&cli.StringFlag{Name: "hostname", Usage: "container host name"},
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "mount a volume: name:/path[:ro], /host:/path[:ro|rw] or /path"},
		&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs: /path[:size=64m,mode=1777,noexec]"},
		&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (512m, 1g)"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit (-1: unlimited swap)"},
		&cli.StringFlag{Name: "cpus", Usage: "number of CPUs (1.5)"},
		&cli.Int64Flag{Name: "cpu-shares", Usage: "relative CPU weight"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on (0-1, 0,2)"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "process limit (-1: unlimited)"},
		&cli.StringSliceFlag{Name: "ulimit", Usage: "resource limit: name=soft[:hard]"},
		&cli.StringFlag{Name: "restart", Value: "no", Usage: "restart policy: no, always, unless-stopped, on-failure[:N]"},
		&cli.BoolFlag{Name: "read-only", Usage: "mount the root filesystem read-only"},
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add a capability"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a capability"},
		&cli.StringSliceFlag{Name: "security-opt", Usage: "no-new-privileges[=BOOL], seccomp=unconfined|PROFILE.json"},
		&cli.BoolFlag{Name: "privileged", Usage: "give the container extended privileges"},
		&cli.StringSliceFlag{Name: "device", Usage: "map a host device: /dev/x[:/dev/y[:rwm]]"},
		&cli.StringSliceFlag{Name: "sysctl", Usage: "set a namespaced sysctl: key=value"},
		&cli.StringFlag{Name: "shm-size", Usage: "size of /dev/shm (64m)"},
		&cli.BoolFlag{Name: "init", Usage: "run an init as pid 1 that reaps zombies and forwards signals"},
		&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set a label: key=value"},
		&cli.StringFlag{Name: "health-cmd", Usage: "command to check health (run with /bin/sh -c)"},
		&cli.DurationFlag{Name: "health-interval", Usage: "time between health checks"},
		&cli.DurationFlag{Name: "health-timeout", Usage: "maximum time of one check"},
		&cli.IntFlag{Name: "health-retries", Usage: "consecutive failures to be unhealthy"},
		&cli.DurationFlag{Name: "health-start-period", Usage: "start-up time before failures count"},
		&cli.BoolFlag{Name: "no-healthcheck", Usage: "disable the image's health check"},
		&cli.StringSliceFlag{Name: "log-opt", Usage: "log rotation: max-size=10m, max-file=3"},
		&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Usage: "network: bridge (default), none, host, a network made with `network create`, container:NAME (share another container's network namespace) or pod:NAME"},
		&cli.StringFlag{Name: "ipc", Usage: "IPC namespace: private (default), host, container:NAME or pod:NAME"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port: [ip:][hostPort:]containerPort[/tcp|udp] (no host port: a free one)"},
		&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish every port the image exposes on a free host port"},
		&cli.StringSliceFlag{Name: "dns", Usage: "a DNS server for the container's resolv.conf"},
		&cli.StringSliceFlag{Name: "dns-search", Usage: "a DNS search domain (\".\" for none)"},
		&cli.StringSliceFlag{Name: "dns-option", Usage: "a resolv.conf option (ndots:2, ...)"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "add a host-to-IP line to /etc/hosts: NAME:IP (IP may be host-gateway)"},
		&cli.StringFlag{Name: "stop-signal", Usage: "signal that stops the container"},
		&cli.IntFlag{Name: "stop-timeout", Usage: "seconds to wait before killing on stop"},
		&cli.StringFlag{Name: "pull", Value: "missing", Usage: "pull the image: missing, always or never"},
	}
}

// configSources are what building a config reads besides the flags, so
// tests can supply them.
type configSources struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
}

// osSources reads the CLI's own environment and files.
var osSources = configSources{lookupEnv: os.LookupEnv, readFile: os.ReadFile}

// buildConfig turns the run/create flags and IMAGE [CMD...] into a config.
// Every error wraps api.ErrInvalid and names the flag.
func buildConfig(c *cli.Context, src configSources) (*api.ContainerConfig, error) {
	args := c.Args().Slice()
	cfg := &api.ContainerConfig{
		Image: args[0], Cmd: args[1:], Name: c.String("name"), AutoRemove: c.Bool("rm"),
		OpenStdin: c.Bool("interactive"), Tty: c.Bool("tty"), WorkingDir: c.String("workdir"),
		User: c.String("user"), Hostname: c.String("hostname"), Init: c.Bool("init"),
	}
	if c.IsSet("entrypoint") {
		cfg.Entrypoint = []string{}
		if ep := c.String("entrypoint"); ep != "" {
			cfg.Entrypoint = []string{ep}
		}
	}
	for _, f := range c.StringSlice("env-file") {
		b, err := src.readFile(f)
		if err != nil {
			return nil, fmt.Errorf("--env-file: %w", err)
		}
		env, err := parseEnvFile(bytes.NewReader(b), src.lookupEnv)
		if err != nil {
			return nil, fmt.Errorf("--env-file %s: %w", f, err)
		}
		cfg.Env = append(cfg.Env, env...)
	}
	for _, e := range c.StringSlice("env") {
		kv, ok, err := parseEnv(e, src.lookupEnv)
		if err != nil {
			return nil, err
		}
		if ok {
			cfg.Env = append(cfg.Env, kv)
		}
	}
	if err := addMounts(c, cfg); err != nil {
		return nil, err
	}
	if err := addResources(c, &cfg.Resources); err != nil {
		return nil, err
	}
	if err := addSecurity(c, &cfg.Security, src); err != nil {
		return nil, err
	}
	var err error
	if cfg.RestartPolicy, err = parseRestart(c.String("restart")); err != nil {
		return nil, err
	}
	if cfg.AutoRemove && cfg.RestartPolicy.Name != "no" {
		return nil, fmt.Errorf("--rm and --restart %s conflict: %w", cfg.RestartPolicy.Name, api.ErrInvalid)
	}
	if cfg.Log, err = parseLogOpts(c.StringSlice("log-opt")); err != nil {
		return nil, err
	}
	for _, l := range c.StringSlice("label") {
		k, v, err := parseKeyValue("label", l, true)
		if err != nil {
			return nil, err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels[k] = v
	}
	if cfg.Healthcheck, err = healthConfig(c); err != nil {
		return nil, err
	}
	switch n := c.String("network"); {
	case n == "" || n == "none" || n == "host" || n == "bridge" || (strings.HasPrefix(n, "container:") && len(n) > len("container:")) ||
		(strings.HasPrefix(n, "pod:") && len(n) > len("pod:")) || networkNameRE.MatchString(n):
		cfg.NetworkMode = n // a user network's name is checked by the agent
	default:
		return nil, fmt.Errorf("--network %q: want bridge, none, host, container:NAME, pod:NAME or a network's name: %w", n, api.ErrInvalid)
	}
	for _, p := range c.StringSlice("publish") {
		pb, err := parsePublish(p)
		if err != nil {
			return nil, err
		}
		cfg.Ports = append(cfg.Ports, pb)
	}
	cfg.PublishAllPorts = c.Bool("publish-all")
	cfg.DNS, cfg.DNSSearch, cfg.DNSOptions = c.StringSlice("dns"), c.StringSlice("dns-search"), c.StringSlice("dns-option")
	cfg.ExtraHosts = c.StringSlice("add-host")
	switch n := c.String("ipc"); {
	case n == "" || n == "private" || n == "host" || (strings.HasPrefix(n, "container:") && len(n) > len("container:")) || (strings.HasPrefix(n, "pod:") && len(n) > len("pod:")):
		cfg.IpcMode = n
	default:
		return nil, fmt.Errorf("--ipc %q: want private, host, container:NAME or pod:NAME: %w", n, api.ErrInvalid)
	}
	if c.IsSet("stop-signal") {
		if cfg.StopSignal, err = parseSignal(c.String("stop-signal")); err != nil {
			return nil, err
		}
	}
	if c.IsSet("stop-timeout") {
		t := c.Int("stop-timeout")
		cfg.StopTimeout = &t
	}
	return cfg, nil
}

func addMounts(c *cli.Context, cfg *api.ContainerConfig) error {
	for _, v := range c.StringSlice("volume") {
		m, err := parseVolume(v)
		if err != nil {
			return err
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}
	for _, v := range c.StringSlice("tmpfs") {
		m, err := parseTmpfs(v)
		if err != nil {
			return err
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}
	return nil
}

func addResources(c *cli.Context, r *api.Resources) error {
	size := func(flag string) (int64, error) {
		if !c.IsSet(flag) {
			return 0, nil
		}
		n, err := api.ParseSize(c.String(flag))
		if err != nil {
			return 0, fmt.Errorf("--%s: %w", flag, err)
		}
		return n, nil
	}
	var err error
	if r.Memory, err = size("memory"); err != nil {
		return err
	}
	if c.String("memory-swap") == "-1" {
		r.MemorySwap = -1
	} else if r.MemorySwap, err = size("memory-swap"); err != nil {
		return err
	}
	if r.MemorySwap > 0 && r.Memory == 0 {
		return fmt.Errorf("--memory-swap needs --memory: %w", api.ErrInvalid)
	}
	if r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return fmt.Errorf("--memory-swap must not be below --memory: %w", api.ErrInvalid)
	}
	if r.ShmSize, err = size("shm-size"); err != nil {
		return err
	}
	if c.IsSet("cpus") {
		if r.NanoCPUs, err = parseCPUs(c.String("cpus")); err != nil {
			return err
		}
	}
	if r.CPUShares = c.Int64("cpu-shares"); r.CPUShares < 0 {
		return fmt.Errorf("--cpu-shares %d: must not be negative: %w", r.CPUShares, api.ErrInvalid)
	}
	r.CpusetCpus = c.String("cpuset-cpus")
	if c.IsSet("pids-limit") {
		p := c.Int64("pids-limit")
		r.PidsLimit = &p
	}
	for _, u := range c.StringSlice("ulimit") {
		ul, err := parseUlimit(u)
		if err != nil {
			return err
		}
		r.Ulimits = append(r.Ulimits, ul)
	}
	return nil
}

func addSecurity(c *cli.Context, s *api.Security, src configSources) error {
	s.CapAdd, s.CapDrop = c.StringSlice("cap-add"), c.StringSlice("cap-drop")
	s.Privileged, s.ReadOnlyRootfs = c.Bool("privileged"), c.Bool("read-only")
	for _, o := range c.StringSlice("security-opt") {
		v, err := parseSecurityOpt(o, src.readFile)
		if err != nil {
			return err
		}
		s.SecurityOpt = append(s.SecurityOpt, v)
	}
	for _, d := range c.StringSlice("device") {
		dev, err := parseDevice(d)
		if err != nil {
			return err
		}
		s.Devices = append(s.Devices, dev)
	}
	for _, kv := range c.StringSlice("sysctl") {
		k, v, err := parseKeyValue("sysctl", kv, false)
		if err != nil {
			return err
		}
		if s.Sysctls == nil {
			s.Sysctls = map[string]string{}
		}
		s.Sysctls[k] = v
	}
	return nil
}

// healthConfig builds the health check from the --health-* flags; nil when
// none is given (the image's applies).
func healthConfig(c *cli.Context) (*api.HealthConfig, error) {
	if c.Bool("no-healthcheck") {
		for _, f := range []string{"health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period"} {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--no-healthcheck conflicts with --%s: %w", f, api.ErrInvalid)
			}
		}
		return &api.HealthConfig{Test: []string{"NONE"}}, nil
	}
	h := &api.HealthConfig{
		Interval: c.Duration("health-interval"), Timeout: c.Duration("health-timeout"),
		StartPeriod: c.Duration("health-start-period"), Retries: c.Int("health-retries"),
	}
	if h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 || h.Retries < 0 {
		return nil, fmt.Errorf("--health-* values must not be negative: %w", api.ErrInvalid)
	}
	if cmd := c.String("health-cmd"); cmd != "" {
		h.Test = []string{"CMD-SHELL", cmd}
	}
	if h.Test == nil && h.Interval == 0 && h.Timeout == 0 && h.StartPeriod == 0 && h.Retries == 0 {
		return nil, nil
	}
	return h, nil
}

// pullPolicy validates --pull.
func pullPolicy(c *cli.Context) (string, error) {
	switch p := c.String("pull"); p {
	case "missing", "always", "never":
		return p, nil
	default:
		return "", fmt.Errorf("--pull %s: want missing, always or never: %w", strconv.Quote(p), api.ErrInvalid)
	}
}

// networkNameRE is the form of a user network's name.
var networkNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)
