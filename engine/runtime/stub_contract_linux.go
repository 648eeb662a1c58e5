//go:build linux

package runtime

// CONTRACT STUBS: replaced by the real implementation.

import (
	"context"
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var errTODO = errors.New("runtime: not implemented")

// Process is a container process started by Start or Exec. The caller must
// call Wait exactly once to reap it.
type Process struct {
	// Pid is the process id in the caller's pid namespace.
	Pid int
}

// Wait blocks until the process exits and reports how it ended.
func (p *Process) Wait() (ExitStatus, error) { return ExitStatus{}, errTODO }

// Start creates the container's namespaces and cgroup, prepares its root
// filesystem, and runs Spec.Process as its pid 1. It returns once the user's
// process has been exec'd (or failed to exec: ErrExecNotFound,
// ErrExecPermission, or another error that says what failed). On failure
// nothing is left behind: no process, no cgroup.
func Start(ctx context.Context, cfg *Config, stdio Stdio) (*Process, error) { return nil, errTODO }

// Exec runs proc inside the running container whose init is initPid: all of its
// namespaces and its cgroup, under proc's capabilities, seccomp (from
// cfg.Spec.Linux.Seccomp), no_new_privs, rlimits, user and cwd. It needs no
// binary inside the container besides proc.Args[0].
func Exec(ctx context.Context, cfg *Config, initPid int, proc *specs.Process, stdio Stdio) (*Process, error) {
	return nil, errTODO
}

// ReadStats reads the cgroup named by cgroupsPath (as in Spec.Linux.CgroupsPath).
func ReadStats(cgroupsPath string) (*Stats, error) { return nil, errTODO }

// Freeze pauses (true) or resumes (false) every process of the cgroup.
func Freeze(cgroupsPath string, frozen bool) error { return errTODO }

// CgroupPids lists the processes of the cgroup (host pids), for `top`.
func CgroupPids(cgroupsPath string) ([]int, error) { return nil, errTODO }

// RemoveCgroup deletes the cgroup in every hierarchy; a missing cgroup is not an error.
func RemoveCgroup(cgroupsPath string) error { return errTODO }

// InitMain is the entry point of "kedge __init": the container init inside new
// namespaces. It reads its configuration from the parent, sets up the
// container and execs the user's process; it returns only on failure.
func InitMain(args []string) int { return 1 }
