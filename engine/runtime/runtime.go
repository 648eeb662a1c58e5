// Package runtime starts and enters Linux containers described by an OCI
// runtime spec (github.com/opencontainers/runtime-spec): namespaces, mounts,
// pivot_root, a minimal /dev, masked /proc and /sys paths, capabilities,
// no_new_privs, seccomp, rlimits, the user, and the container's cgroup.
//
// It is a library, not a daemon: the per-container supervisor (engine/shim)
// calls Start to create a container's first process and Exec to add processes
// to it. The container init is the kedge binary re-executed as
// "kedge __init" inside the new namespaces; it prepares the root filesystem and
// then execs the user's process, so nothing of kedge stays inside the container.
//
// The contract with callers:
//   - Spec.Root.Path is an absolute path to an already prepared root filesystem
//     (the engine mounts the overlay there); Spec.Root.Readonly is honoured.
//   - Spec.Linux.CgroupsPath ("/parent/name", relative to each hierarchy root)
//     names the cgroup that Start creates, configures from Spec.Linux.Resources
//     and puts the init in before the user's process runs. Both cgroup v1 and v2.
//   - Spec.Process.Capabilities, NoNewPrivileges, Rlimits, User, Cwd, Env, Args,
//     OOMScoreAdj, Spec.Linux.Seccomp (compiled by security/profile),
//     MaskedPaths, ReadonlyPaths, Sysctl, Devices, Mounts and Hostname are
//     applied as runc applies them. A new mount namespace is required; user
//     and time namespaces are not supported; a namespace with a Path is joined.
//
// How Start runs (start_linux.go, init_linux.go):
//
//	parent: validate, compile seccomp, create+configure cgroup,
//	        open the kedge binary through a detached read-only bind mount (fd 5)
//	        fork "kedge __init" from that handle with clone flags (from a throwaway thread that
//	        joined Path namespaces and, on v1, the cgroup; CLONE_INTO_CGROUP on v2)
//	        -> config pipe (fd 3): spec + packed BPF program
//	init:   non-dumpable, lock thread, read config, unshare cgroupns,
//	        rprivate /, bind rootfs, Spec.Mounts (targets resolved in the rootfs
//	        with filepath-securejoin, mounted through /proc/self/fd/N), /dev nodes,
//	        pivot_root(".", ".") + detach, sysctl, masked and read-only paths,
//	        ro root, hostname, rlimits, close host path fds, bounding caps,
//	        user, caps, cwd, no_new_privs, seccomp, execve
//	        -> status pipe (fd 4, close-on-exec): EOF on success, else the error
//
// Exec (exec_linux.go) forks from a throwaway locked thread of the calling
// process that joined the container's cgroup (v1 per thread; v2 through
// CLONE_INTO_CGROUP when allowed, else right after the fork) and namespaces
// (mnt after unshare(CLONE_FS)), and took on the process's bounding set, user,
// capabilities, cwd, no_new_privs and seccomp filter; the child inherits them
// all, so nothing but the command is needed in the container. That thread never
// returns to the Go scheduler, and it is never the main thread.
//
// Device access is limited to the standard nodes plus Spec.Linux.Devices and
// Resources.Devices: through the devices controller on v1, and on v2 through
// an eBPF program built from the same rules (devicefilter_linux.go).
//
// Known limits: an Exec'd process gets its rlimits (and on v2, when
// CLONE_INTO_CGROUP is refused, its cgroup) right after the fork, so a few
// instructions of it may run under the caller's.
package runtime

import (
	"errors"
	"os"
	"syscall"
)

// InitCommand is the argv[1] under which the kedge binary runs the container
// init (see engine/reexec).
const InitCommand = "__init"

// Sentinel errors. Callers map them to Docker's exit codes: ErrExecNotFound to
// 127, ErrExecPermission to 126, anything else to 125.
var (
	// ErrExecNotFound means the container's command does not exist in its rootfs.
	ErrExecNotFound = errors.New("executable file not found")
	// ErrExecPermission means the container's command exists but cannot be run.
	ErrExecPermission = errors.New("permission denied running executable")
)

// Stdio holds the standard streams handed to a container process. A nil file
// means /dev/null. When Console is set (a pty slave) it becomes the process's
// controlling terminal and stdin/stdout/stderr, and the other fields are ignored.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
	Console               *os.File
}

// ExitStatus is how a container process ended.
type ExitStatus struct {
	// Code is the exit code as Docker reports it: the process's code, or
	// 128+n when it was killed by signal n.
	Code int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
}
