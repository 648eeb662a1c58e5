package engine

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/api"
	"kedge/engine/tini"
	"kedge/security/profile"
)

// specInput is everything buildSpec needs, resolved beforehand (image config,
// user ids, host limits), so that building the OCI spec is a pure function.
type specInput struct {
	ID          string
	Config      *api.ContainerConfig
	Image       imageConfig
	RootfsPath  string
	CgroupsPath string
	// User is the resolved uid/gid/groups of the container's user.
	UID, GID       uint32
	AdditionalGIDs []uint32
	Home           string
	// HostNofileHard is the host's hard RLIMIT_NOFILE, for clamping defaults.
	HostNofileHard uint64
	// HostRlimitHard gives the host's hard limit of an RLIMIT_* name.
	HostRlimitHard func(name string) uint64
	// Mounts are the resolved user mounts (volumes resolved to host dirs).
	Mounts []specs.Mount
	// EtcFiles are the host files bind-mounted at /etc/hostname, hosts, resolv.conf.
	EtcFiles map[string]string
	// Devices are the resolved --device entries.
	Devices []specs.LinuxDevice
	// DefaultPidsLimit applies when the container sets none (<= 0: none).
	DefaultPidsLimit int64
	// DefaultMemory applies when the container sets none.
	DefaultMemory int64
	// JoinNetNS and JoinIPCNS are the namespace files of the container whose
	// network or IPC namespace this one shares (--network/--ipc container:NAME).
	JoinNetNS, JoinIPCNS string
	// HeldCaps are the capabilities the agent holds (nil: unknown). A
	// privileged container gets those of all it asks for; asking by name for
	// one not held is an error rather than a start that fails later.
	HeldCaps []string
	// InitBinary is the host path of the kedge binary, mounted read-only at
	// tini.Path and run as pid 1 when the container asks for --init.
	InitBinary string
}

// imageConfig is the part of an image's config the spec needs.
type imageConfig struct {
	User       string
	Env        []string
	Entrypoint []string
	Cmd        []string
	WorkingDir string
	StopSignal string
}

// defaultPath is Docker's PATH for images that set none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// commandLine resolves the container's command from its config and image, as
// Docker does: an overridden entrypoint drops the image's cmd.
func commandLine(cfg *api.ContainerConfig, img imageConfig) ([]string, error) {
	ep, cmd := img.Entrypoint, img.Cmd
	if cfg.Entrypoint != nil {
		ep, cmd = cfg.Entrypoint, nil
		if len(ep) == 1 && ep[0] == "" {
			ep = nil
		}
	}
	if len(cfg.Cmd) > 0 {
		cmd = cfg.Cmd
	}
	args := append(append([]string{}, ep...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified (the image has no entrypoint or cmd): %w", api.ErrInvalid)
	}
	return args, nil
}

// mergeEnv overlays the container's env on the image's by key and makes sure
// PATH and HOSTNAME are set.
func mergeEnv(image, user []string, hostname string, tty bool) []string {
	order := []string{}
	vals := map[string]string{}
	set := func(kv string) {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return
		}
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	set("PATH=" + defaultPath)
	set("HOSTNAME=" + hostname)
	for _, kv := range image {
		set(kv)
	}
	for _, kv := range user {
		set(kv)
	}
	if tty {
		if _, ok := vals["TERM"]; !ok {
			set("TERM=xterm")
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out
}

// securityOpts is the parsed --security-opt list.
type securityOpts struct {
	NoNewPrivileges bool
	Seccomp         string // "" default, "unconfined", or a profile (JSON)
}

func parseSecurityOpts(opts []string) (securityOpts, error) {
	so := securityOpts{NoNewPrivileges: true}
	for _, o := range opts {
		k, v, hasV := strings.Cut(o, "=")
		if !hasV {
			k, v, hasV = strings.Cut(o, ":") // Docker's old "no-new-privileges:true"
		}
		switch k {
		case "no-new-privileges":
			if !hasV {
				so.NoNewPrivileges = true
				continue
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, fmt.Errorf("security-opt %q: want no-new-privileges=true|false: %w", o, api.ErrInvalid)
			}
			so.NoNewPrivileges = b
		case "seccomp", "seccomp-profile":
			if v == "" {
				return so, fmt.Errorf("security-opt %q: want seccomp=unconfined or a profile: %w", o, api.ErrInvalid)
			}
			so.Seccomp = v
		case "apparmor", "label":
			// Not supported on kedge's hosts; accepted and ignored like Docker without AppArmor/SELinux.
		default:
			return so, fmt.Errorf("security-opt %q: unknown option (known: no-new-privileges, seccomp): %w", o, api.ErrInvalid)
		}
	}
	return so, nil
}

// rlimitNames maps Docker's --ulimit names to RLIMIT_ names.
var rlimitNames = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
	"nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
	"rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
	"stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

// rlimits builds the container's rlimits: a nofile default clamped to the
// host's hard limit, and the user's --ulimit values, refused when above the
// host's hard limit (root here lacks CAP_SYS_RESOURCE, so raising would fail
// later with a less clear error).
func rlimits(in *specInput) ([]specs.POSIXRlimit, error) {
	byType := map[string]specs.POSIXRlimit{}
	nofile := uint64(1048576)
	if in.HostNofileHard > 0 && in.HostNofileHard < nofile {
		nofile = in.HostNofileHard
	}
	byType["RLIMIT_NOFILE"] = specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: nofile, Hard: nofile}
	for _, u := range in.Config.Resources.Ulimits {
		typ, ok := rlimitNames[u.Name]
		if !ok {
			return nil, fmt.Errorf("ulimit %q: unknown name: %w", u.Name, api.ErrInvalid)
		}
		if u.Soft < 0 || u.Hard < 0 {
			// -1 means unlimited, as Docker takes it.
			if u.Soft < 0 {
				u.Soft = -1
			}
			if u.Hard < 0 {
				u.Hard = -1
			}
		}
		soft, hard := uint64(u.Soft), uint64(u.Hard)
		if soft > hard {
			return nil, fmt.Errorf("ulimit %s: soft limit %d is above hard limit %d: %w", u.Name, u.Soft, u.Hard, api.ErrInvalid)
		}
		if in.HostRlimitHard != nil {
			if max := in.HostRlimitHard(typ); hard > max {
				return nil, fmt.Errorf("ulimit %s=%d:%d: hard limit is above the host's hard limit %d, which kedge cannot raise: %w", u.Name, u.Soft, u.Hard, max, api.ErrInvalid)
			}
		}
		byType[typ] = specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}
	}
	keys := make([]string, 0, len(byType))
	for k := range byType {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]specs.POSIXRlimit, 0, len(keys))
	for _, k := range keys {
		out = append(out, byType[k])
	}
	return out, nil
}

// buildSpec turns a container's resolved configuration into an OCI runtime spec
// with kedge's hardened defaults.
func buildSpec(in *specInput) (*specs.Spec, error) {
	cfg := in.Config
	args, err := commandLine(cfg, in.Image)
	if err != nil {
		return nil, err
	}
	so, err := parseSecurityOpts(cfg.Security.SecurityOpt)
	if err != nil {
		return nil, err
	}
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = in.ID[:12]
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = in.Image.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("working directory %q: must be absolute: %w", cwd, api.ErrInvalid)
	}
	caps := profile.DefaultCapabilities()
	if cfg.Security.Privileged {
		caps = profile.AllCapabilities()
	}
	if caps, err = profile.ApplyCapabilityChanges(caps, cfg.Security.CapAdd, cfg.Security.CapDrop); err != nil {
		return nil, fmt.Errorf("capabilities: %v: %w", err, api.ErrInvalid)
	}
	if caps, err = limitToHeld(caps, in.HeldCaps, cfg); err != nil {
		return nil, err
	}
	rl, err := rlimits(in)
	if err != nil {
		return nil, err
	}
	env := mergeEnv(in.Image.Env, cfg.Env, hostname, cfg.Tty)
	if in.Home != "" && !hasEnv(env, "HOME") {
		env = append(env, "HOME="+in.Home)
	}

	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: in.RootfsPath, Readonly: cfg.Security.ReadOnlyRootfs},
		Process: &specs.Process{
			Terminal: cfg.Tty,
			User:     specs.User{UID: in.UID, GID: in.GID, AdditionalGids: in.AdditionalGIDs},
			Args:     args,
			Env:      env,
			Cwd:      cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         rl,
			NoNewPrivileges: so.NoNewPrivileges && !cfg.Security.Privileged,
		},
		Hostname: hostname,
		Mounts:   defaultMounts(cfg),
		Linux: &specs.Linux{
			CgroupsPath: in.CgroupsPath,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			Resources: resources(in),
			Devices:   in.Devices,
			Sysctl:    cfg.Security.Sysctls,
		},
		Annotations: map[string]string{"kedge.io/container-id": in.ID},
	}
	switch {
	case cfg.NetworkMode == "host":
	case in.JoinNetNS != "" || strings.HasPrefix(cfg.NetworkMode, "container:"):
		// Another container's namespace, or the one made for a CNI network.
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: in.JoinNetNS})
	default:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	switch {
	case cfg.IpcMode == "host":
	case in.JoinIPCNS != "" || strings.HasPrefix(cfg.IpcMode, "container:"):
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: in.JoinIPCNS})
	default:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	if !cfg.Security.Privileged {
		s.Linux.MaskedPaths = profile.DefaultMaskedPaths()
		s.Linux.ReadonlyPaths = profile.DefaultReadonlyPaths()
		switch so.Seccomp {
		case "unconfined":
		case "":
			if s.Linux.Seccomp, err = profile.DefaultSeccomp(caps); err != nil {
				return nil, fmt.Errorf("seccomp profile: %w", err)
			}
		default:
			if s.Linux.Seccomp, err = profile.LoadSeccompJSON([]byte(so.Seccomp), caps); err != nil {
				return nil, fmt.Errorf("seccomp profile: %v: %w", err, api.ErrInvalid)
			}
		}
	}
	for _, dst := range []string{"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"} {
		if src, ok := in.EtcFiles[dst]; ok {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}})
		}
	}
	s.Mounts = append(s.Mounts, in.Mounts...)
	if cfg.Init && in.InitBinary != "" {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: tini.Path, Type: "bind", Source: in.InitBinary, Options: []string{"bind", "ro", "nodev"}})
		s.Process.Args = append([]string{tini.Path, "--"}, s.Process.Args...)
	}
	return s, nil
}

// limitToHeld keeps the capabilities the agent can give: all of the held ones
// for --privileged and --cap-add ALL, an error for a named one it lacks.
func limitToHeld(caps, held []string, cfg *api.ContainerConfig) ([]string, error) {
	if held == nil {
		return caps, nil
	}
	has := make(map[string]bool, len(held))
	for _, c := range held {
		has[c] = true
	}
	wide := cfg.Security.Privileged
	for _, a := range cfg.Security.CapAdd {
		if strings.EqualFold(a, "ALL") {
			wide = true
		}
	}
	out := caps[:0:0]
	for _, c := range caps {
		switch {
		case has[c]:
			out = append(out, c)
		case !wide:
			return nil, fmt.Errorf("capability %s: the agent itself does not hold it, so no container can have it: %w", c, api.ErrInvalid)
		}
	}
	return out, nil
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// defaultMounts are the kernel filesystems every container gets (runc's
// defaults, with Docker's /dev/shm size).
func defaultMounts(cfg *api.ContainerConfig) []specs.Mount {
	shm := cfg.Resources.ShmSize
	if shm <= 0 {
		shm = 64 << 20
	}
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	if cfg.Security.Privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev"}
	}
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shm, 10)}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// resources maps the container's limits, with the node's defaults, to the spec.
func resources(in *specInput) *specs.LinuxResources {
	r := in.Config.Resources
	out := &specs.LinuxResources{}
	mem := r.Memory
	if mem == 0 {
		mem = in.DefaultMemory
	}
	if mem > 0 {
		out.Memory = &specs.LinuxMemory{Limit: &mem}
		if r.MemorySwap != 0 {
			swap := r.MemorySwap
			out.Memory.Swap = &swap
		}
	}
	if r.NanoCPUs > 0 || r.CPUShares > 0 || r.CpusetCpus != "" {
		out.CPU = &specs.LinuxCPU{Cpus: r.CpusetCpus}
		if r.NanoCPUs > 0 {
			period := uint64(100000)
			quota := r.NanoCPUs * int64(period) / 1e9
			out.CPU.Period, out.CPU.Quota = &period, &quota
		}
		if r.CPUShares > 0 {
			shares := uint64(r.CPUShares)
			out.CPU.Shares = &shares
		}
	}
	pids := in.DefaultPidsLimit
	if r.PidsLimit != nil {
		pids = *r.PidsLimit
	}
	if pids > 0 {
		out.Pids = &specs.LinuxPids{Limit: &pids}
	}
	return out
}
