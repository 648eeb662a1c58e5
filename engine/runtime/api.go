package runtime

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Config is one container as the runtime sees it.
type Config struct {
	// ID is the container id (64 hex characters).
	ID string
	// Spec describes the container; see the package doc for the contract.
	Spec *specs.Spec
	// StateDir is a private, existing directory for the runtime's own files.
	StateDir string
	// Binary is the kedge executable to re-execute as the init; empty means
	// /proc/self/exe.
	Binary string
}

// Stats is a point-in-time reading of a container's cgroup.
type Stats struct {
	Time           time.Time `json:"time"`
	CPUUsageNanos  uint64    `json:"cpu_usage_nanos"`
	MemoryUsage    uint64    `json:"memory_usage"`
	MemoryLimit    uint64    `json:"memory_limit"`
	MemoryCache    uint64    `json:"memory_cache"`
	PidsCurrent    uint64    `json:"pids_current"`
	PidsLimit      uint64    `json:"pids_limit"`
	BlockReadBytes uint64    `json:"block_read_bytes"`
	BlockWriteByes uint64    `json:"block_write_bytes"`
	OOMKills       uint64    `json:"oom_kills"`
}
