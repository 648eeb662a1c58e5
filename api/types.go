// Package api is Kedge's object model as it crosses the wire: the JSON types
// of the HTTP API served by the agent (over its unix socket, later over HTTPS),
// the stream framing used by attach, exec and logs, and the Go client the CLI
// uses. It imports nothing of the engine, so the CLI builds on every OS.
package api

import (
	"encoding/json"
	"time"
)

// ContainerConfig is everything `kedge create` / `kedge run` asks for.
type ContainerConfig struct {
	// Name is the container's unique name; empty means a generated one.
	Name string `json:"name,omitempty"`
	// Image is the image reference as the user gave it.
	Image string `json:"image"`
	// Entrypoint replaces the image's entrypoint when non-nil; an empty,
	// non-nil slice resets it.
	Entrypoint []string `json:"entrypoint"`
	// Cmd replaces the image's command when non-empty.
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	User       string            `json:"user,omitempty"`
	Hostname   string            `json:"hostname,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Tty gives the container a pseudo terminal; OpenStdin keeps stdin open.
	Tty       bool `json:"tty,omitempty"`
	OpenStdin bool `json:"open_stdin,omitempty"`
	// StopSignal overrides the image's STOPSIGNAL ("SIGTERM", "15").
	StopSignal string `json:"stop_signal,omitempty"`
	// StopTimeout is the grace period of stop, in seconds (default 10).
	StopTimeout *int `json:"stop_timeout,omitempty"`
	// Healthcheck overrides the image's HEALTHCHECK.
	Healthcheck *HealthConfig `json:"healthcheck,omitempty"`
	// Init runs a tiny init as pid 1 that reaps zombies and forwards signals.
	Init bool `json:"init,omitempty"`
	// AutoRemove deletes the container when it exits (--rm).
	AutoRemove bool `json:"auto_remove,omitempty"`

	Mounts        []Mount       `json:"mounts,omitempty"`
	Resources     Resources     `json:"resources"`
	Security      Security      `json:"security"`
	RestartPolicy RestartPolicy `json:"restart_policy"`
	Log           LogConfig     `json:"log"`
	// NetworkMode is "bridge" (the default: the node's bridge network, with
	// an address, outbound NAT and published ports), a user network's name,
	// "none", "host", or "container:NAME" to share a running container's
	// network namespace.
	NetworkMode string `json:"network_mode,omitempty"`
	// Ports are published ports (-p), on bridge and user networks only. A
	// HostPort of 0 asks for a free port, chosen at start.
	Ports []PortBinding `json:"ports,omitempty"`
	// PublishAllPorts publishes every port the image exposes on a free host
	// port (-P).
	PublishAllPorts bool `json:"publish_all_ports,omitempty"`
	// DNS, DNSSearch and DNSOptions replace the servers, search domains and
	// options of the container's resolv.conf (--dns, --dns-search, --dns-option).
	DNS        []string `json:"dns,omitempty"`
	DNSSearch  []string `json:"dns_search,omitempty"`
	DNSOptions []string `json:"dns_options,omitempty"`
	// ExtraHosts adds "name:address" lines to /etc/hosts (--add-host); the
	// address "host-gateway" means the host's address on the container's network.
	ExtraHosts []string `json:"extra_hosts,omitempty"`
	// IpcMode is "" or "private", "host", or "container:NAME".
	IpcMode string `json:"ipc_mode,omitempty"`
}

// PodConfig describes a pod: a sandbox of network and IPC namespaces that a
// group of containers share (NetworkMode and IpcMode "pod:NAME"). Its
// address and published ports belong to the pod, so they stay while its
// containers restart.
type PodConfig struct {
	Name     string `json:"name"`
	Hostname string `json:"hostname,omitempty"`
	// NetworkMode is "bridge" (default), a user network's name, "none" or "host".
	NetworkMode string            `json:"network_mode,omitempty"`
	Ports       []PortBinding     `json:"ports,omitempty"`
	DNS         []string          `json:"dns,omitempty"`
	DNSSearch   []string          `json:"dns_search,omitempty"`
	DNSOptions  []string          `json:"dns_options,omitempty"`
	ExtraHosts  []string          `json:"extra_hosts,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Pod is a pod as the engine reports it.
type Pod struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	Created         time.Time        `json:"created"`
	Config          PodConfig        `json:"config"`
	NetworkSettings *NetworkSettings `json:"network_settings,omitempty"`
	// Containers are the ids of the containers configured in the pod.
	Containers []string `json:"containers"`
}

// PortBinding publishes a container port on the host (-p [ip:]host:container[/proto]).
type PortBinding struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	// Protocol is "tcp" (default) or "udp".
	Protocol string `json:"protocol,omitempty"`
}

// NetworkSettings is a running container's place on the bridge network.
type NetworkSettings struct {
	IPAddress  string        `json:"ip_address,omitempty"`
	PrefixLen  int           `json:"prefix_len,omitempty"`
	Gateway    string        `json:"gateway,omitempty"`
	MacAddress string        `json:"mac_address,omitempty"`
	Ports      []PortBinding `json:"ports,omitempty"`
	// DNSServers, DNSSearch and DNSOptions are the resolver settings the
	// network's CNI plugins returned (networks of driver "cni"), which the
	// container's resolv.conf uses.
	DNSServers []string `json:"dns_servers,omitempty"`
	DNSSearch  []string `json:"dns_search,omitempty"`
	DNSOptions []string `json:"dns_options,omitempty"`
}

// Mount is a volume, bind mount or tmpfs in a container.
type Mount struct {
	// Type is "volume", "bind" or "tmpfs".
	Type string `json:"type"`
	// Source is the volume name (empty: anonymous) or the host path.
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// TmpfsSize in bytes and TmpfsMode for tmpfs mounts.
	TmpfsSize int64  `json:"tmpfs_size,omitempty"`
	TmpfsMode uint32 `json:"tmpfs_mode,omitempty"`
	// Options are extra mount options (tmpfs: "noexec", "nosuid" ...).
	Options []string `json:"options,omitempty"`
}

// Resources are a container's cgroup limits. Zero means the default.
type Resources struct {
	Memory     int64    `json:"memory,omitempty"`
	MemorySwap int64    `json:"memory_swap,omitempty"`
	NanoCPUs   int64    `json:"nano_cpus,omitempty"`
	CPUShares  int64    `json:"cpu_shares,omitempty"`
	CpusetCpus string   `json:"cpuset_cpus,omitempty"`
	PidsLimit  *int64   `json:"pids_limit,omitempty"`
	ShmSize    int64    `json:"shm_size,omitempty"`
	Ulimits    []Ulimit `json:"ulimits,omitempty"`
}

// Ulimit is one resource limit (--ulimit nofile=1024:2048).
type Ulimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// Security is a container's privilege settings.
type Security struct {
	CapAdd         []string          `json:"cap_add,omitempty"`
	CapDrop        []string          `json:"cap_drop,omitempty"`
	Privileged     bool              `json:"privileged,omitempty"`
	ReadOnlyRootfs bool              `json:"read_only_rootfs,omitempty"`
	SecurityOpt    []string          `json:"security_opt,omitempty"`
	Devices        []Device          `json:"devices,omitempty"`
	Sysctls        map[string]string `json:"sysctls,omitempty"`
}

// Device maps a host device into the container (--device /dev/fuse:/dev/fuse:rwm).
type Device struct {
	PathOnHost      string `json:"path_on_host"`
	PathInContainer string `json:"path_in_container"`
	Permissions     string `json:"permissions"`
}

// RestartPolicy says when the engine restarts an exited container.
type RestartPolicy struct {
	// Name is "no", "on-failure", "always" or "unless-stopped".
	Name              string `json:"name,omitempty"`
	MaximumRetryCount int    `json:"maximum_retry_count,omitempty"`
}

// LogConfig sets log rotation (--log-opt max-size=10m --log-opt max-file=3).
type LogConfig struct {
	MaxSize  int64 `json:"max_size,omitempty"`
	MaxFiles int   `json:"max_files,omitempty"`
}

// HealthConfig is a health check (HEALTHCHECK or --health-cmd).
type HealthConfig struct {
	// Test is ["CMD", args...], ["CMD-SHELL", cmd] or ["NONE"].
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// Container states, as Docker names them.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateExited     = "exited"
	StateDead       = "dead"
	StateRemoving   = "removing"
)

// ContainerState is a container's current run state.
type ContainerState struct {
	Status     string    `json:"status"`
	Running    bool      `json:"running"`
	Paused     bool      `json:"paused"`
	Pid        int       `json:"pid"`
	ExitCode   int       `json:"exit_code"`
	OOMKilled  bool      `json:"oom_killed"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Health     *Health   `json:"health,omitempty"`
}

// Health is the result of a container's health checks.
type Health struct {
	// Status is "starting", "healthy" or "unhealthy".
	Status        string         `json:"status"`
	FailingStreak int            `json:"failing_streak"`
	Log           []HealthResult `json:"log,omitempty"`
}

// HealthResult is one health check run.
type HealthResult struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exit_code"`
	Output   string    `json:"output"`
}

// Container is what `inspect` and `ps` show of a container.
type Container struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Image   string          `json:"image"`
	ImageID string          `json:"image_id"`
	Created time.Time       `json:"created"`
	Config  ContainerConfig `json:"config"`
	State   ContainerState  `json:"state"`
	// Path and Args are the resolved command (entrypoint + cmd).
	Path         string   `json:"path"`
	Args         []string `json:"args"`
	RestartCount int      `json:"restart_count"`
	LogPath      string   `json:"log_path"`
	// Mounts are the container's resolved mounts (volumes with their host paths).
	Mounts []MountPoint `json:"mounts,omitempty"`
	// NetworkSettings is set while a bridge-network container runs.
	NetworkSettings *NetworkSettings `json:"network_settings,omitempty"`
}

// MountPoint is a resolved mount of a container.
type MountPoint struct {
	Type        string `json:"type"`
	Name        string `json:"name,omitempty"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
}

// CreateResponse answers a container create.
type CreateResponse struct {
	ID       string   `json:"id"`
	Warnings []string `json:"warnings,omitempty"`
}

// WaitResponse answers a wait: the container's exit code.
type WaitResponse struct {
	StatusCode int    `json:"status_code"`
	Error      string `json:"error,omitempty"`
}

// ExecConfig is a process to run in a container (`kedge exec`).
type ExecConfig struct {
	Cmd        []string `json:"cmd"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	Tty        bool     `json:"tty,omitempty"`
	Stdin      bool     `json:"stdin,omitempty"`
	Detach     bool     `json:"detach,omitempty"`
	Privileged bool     `json:"privileged,omitempty"`
}

// Stats is one reading of a container's resource use.
type Stats struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Time          time.Time `json:"time"`
	CPUUsageNanos uint64    `json:"cpu_usage_nanos"`
	// SystemNanos is wall time scaled by the CPUs, to compute a CPU percentage
	// from two readings as `docker stats` does.
	OnlineCPUs  int    `json:"online_cpus"`
	MemoryUsage uint64 `json:"memory_usage"`
	MemoryLimit uint64 `json:"memory_limit"`
	PidsCurrent uint64 `json:"pids_current"`
	BlockRead   uint64 `json:"block_read"`
	BlockWrite  uint64 `json:"block_write"`
}

// Top lists a container's processes.
type Top struct {
	Titles    []string   `json:"titles"`
	Processes [][]string `json:"processes"`
}

// Image is what `image ls` and `image inspect` show.
type Image struct {
	ID           string      `json:"id"`
	RepoTags     []string    `json:"repo_tags"`
	RepoDigests  []string    `json:"repo_digests,omitempty"`
	Created      time.Time   `json:"created"`
	Size         int64       `json:"size"`
	Config       ImageConfig `json:"config"`
	Architecture string      `json:"architecture,omitempty"`
	OS           string      `json:"os,omitempty"`
}

// ImageConfig is the runnable part of an image's config.
type ImageConfig struct {
	User         string            `json:"user,omitempty"`
	ExposedPorts []string          `json:"exposed_ports,omitempty"`
	Env          []string          `json:"env,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Volumes      []string          `json:"volumes,omitempty"`
	WorkingDir   string            `json:"working_dir,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	StopSignal   string            `json:"stop_signal,omitempty"`
	Healthcheck  *HealthConfig     `json:"healthcheck,omitempty"`
}

// PullRequest asks the agent to pull or push an image.
type PullRequest struct {
	Ref      string `json:"ref"`
	Insecure bool   `json:"insecure,omitempty"`
	Platform string `json:"platform,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// Progress is one line of a pull or push progress stream.
type Progress struct {
	Layer   string `json:"layer,omitempty"`
	Current int64  `json:"current,omitempty"`
	Total   int64  `json:"total,omitempty"`
	Done    bool   `json:"done,omitempty"`
	Status  string `json:"status,omitempty"`
	// Error ends the stream with a failure.
	Error string `json:"error,omitempty"`
	// ImageID ends the stream with success.
	ImageID string `json:"image_id,omitempty"`
}

// RemoveResponse lists what an image remove or prune did.
type RemoveResponse struct {
	Lines     []string `json:"lines"`
	Reclaimed int64    `json:"reclaimed,omitempty"`
}

// Volume is a named volume.
type Volume struct {
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Mountpoint string            `json:"mountpoint"`
	CreatedAt  time.Time         `json:"created_at"`
	Labels     map[string]string `json:"labels,omitempty"`
	// UsedBy lists the ids of containers that mount it.
	UsedBy []string `json:"used_by,omitempty"`
}

// Network is a container network on the node: the built-in none, host and
// bridge, or a user network (`kedge network create`): driver "bridge", on
// kedge's own CNI plugin, whose containers reach each other by name, or
// driver "cni", run by the third-party plugins of a user's conflist.
type Network struct {
	Name string `json:"name"`
	// Driver is "bridge" (the default for a user network), "cni", "host" or "none".
	Driver  string            `json:"driver"`
	Subnet  string            `json:"subnet,omitempty"`
	Gateway string            `json:"gateway,omitempty"`
	Bridge  string            `json:"bridge,omitempty"`
	Created time.Time         `json:"created,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Containers are the ids of the containers configured on it.
	Containers []string `json:"containers,omitempty"`
	// CNIConfig is the conflist of a "cni" network (required to create one;
	// its "name" must be the network's name).
	CNIConfig json.RawMessage `json:"cni_config,omitempty"`
	// Plugins are the plugin types of a "cni" network's conflist, in order.
	Plugins []string `json:"plugins,omitempty"`
}

// Event is something that happened on the node (`kedge events`).
type Event struct {
	Time   time.Time         `json:"time"`
	Type   string            `json:"type"`
	Action string            `json:"action"`
	ID     string            `json:"id"`
	Attrs  map[string]string `json:"attributes,omitempty"`
}

// Version describes a kedge binary.
type Version struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Info describes the agent's node.
type Info struct {
	Version       Version `json:"version"`
	DataDir       string  `json:"data_dir"`
	CgroupVersion int     `json:"cgroup_version"`
	Containers    int     `json:"containers"`
	Running       int     `json:"running"`
	Images        int     `json:"images"`
}

// Error is the body of every failed API call.
type Error struct {
	Message string `json:"message"`
}
