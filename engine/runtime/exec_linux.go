//go:build linux

package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Exec runs proc inside the running container whose init is initPid: all of its
// namespaces and its cgroup, under proc's capabilities, seccomp (from
// cfg.Spec.Linux.Seccomp), no_new_privs, rlimits, user and cwd. It needs no
// binary inside the container besides proc.Args[0]. A proc without
// capabilities gets the container's (Spec.Process.Capabilities). initPid must
// not have been reaped yet (its pid could be reused); the caller that Started
// it and has not returned from its Wait guarantees that.
//
// It forks from a throwaway locked OS thread of the calling process that has
// joined the container's cgroup (v1: per thread; v2: CLONE_INTO_CGROUP where
// the seccomp profile and the user allow clone3 into it, else right after the
// fork) and namespaces, and taken on proc's bounding set, user and groups,
// capabilities, cwd (checked to be inside the container), no_new_privs and
// the seccomp filter; the child inherits all of them. That thread is never
// handed back to the Go scheduler. The calling process is made non-dumpable,
// so the forked child, a copy of the kedge binary until it execs, cannot be
// opened through /proc from inside the container, and every descriptor it
// holds is marked close-on-exec. Rlimits are applied to the child right after
// the fork, by the thread running as proc's user (so lowering them needs no
// CAP_SYS_RESOURCE).
func Exec(ctx context.Context, cfg *Config, initPid int, proc *specs.Process, stdio Stdio) (*Process, error) {
	if cfg == nil || cfg.Spec == nil || cfg.Spec.Linux == nil {
		return nil, errors.New("exec: no container spec")
	}
	if proc == nil || len(proc.Args) == 0 {
		return nil, fmt.Errorf("exec in container %s: no command", cfg.ID)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, err)
	}
	spec := cfg.Spec
	if proc.Capabilities == nil && spec.Process != nil && spec.Process.Capabilities != nil {
		// Never more than the container's own init was given.
		p := *proc
		p.Capabilities = spec.Process.Capabilities
		proc = &p
	}
	filter, err := compileSeccomp(spec.Linux.Seccomp)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, err)
	}
	caps, err := resolveCaps(proc.Capabilities)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, err)
	}
	var join []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		_, name, err := nsFlag(ns.Type)
		if err != nil {
			return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, err)
		}
		join = append(join, specs.LinuxNamespace{Type: ns.Type, Path: fmt.Sprintf("/proc/%d/ns/%s", initPid, name)})
	}
	files, err := openNamespaces(join)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, err)
	}
	defer closeNamespaces(files)
	var cg cgroup
	if spec.Linux.CgroupsPath != "" {
		if cg, err = openCgroup(defaultCgroupRoot, spec.Linux.CgroupsPath); err != nil {
			return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, err)
		}
	}
	var cgDir *os.File
	if v2, ok := cg.(*cgroupV2); ok {
		if cgDir, err = v2.openDir(); err != nil {
			return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, err)
		}
		defer cgDir.Close()
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("exec in container %s: make non-dumpable: %w", cfg.ID, err)
	}
	// os/exec passes only stdio to the child, but a descriptor this process
	// inherited without close-on-exec would leak into the container: mark
	// them all (harmless for Go code, whose descriptors already are).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, fmt.Errorf("exec in container %s: close descriptors on exec: %w", cfg.ID, err)
	}

	e := &execer{proc: proc, stdio: stdio, caps: caps, filter: filter, files: files, cg: cg, cgDir: cgDir}
	var r execResult
	onThrowawayThread(func() { r = e.run() })
	if r.err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, r.err)
	}
	p := r.cmd.Process
	fail := func(err error) (*Process, error) {
		_ = p.Kill()
		_, _ = p.Wait()
		return nil, fmt.Errorf("exec in container %s: %w", cfg.ID, err)
	}
	if v2, ok := cg.(*cgroupV2); ok && !r.inCgroup {
		if err := v2.addProc(p.Pid); err != nil {
			return fail(err)
		}
	}
	return &Process{Pid: p.Pid, proc: p}, nil
}

// execer is the work done on Exec's locked thread.
type execer struct {
	proc   *specs.Process
	stdio  Stdio
	caps   threadCaps
	filter []bpf.RawInstruction
	files  []nsFile
	cg     cgroup
	cgDir  *os.File
	// returnTo are the tasks files of the thread's own v1 cgroups.
	returnTo []*os.File
}

type execResult struct {
	cmd      *exec.Cmd
	inCgroup bool
	err      error
}

func (e *execer) run() execResult {
	r := e.fork()
	if r.err == nil {
		// From this thread: it runs as the process's user, which is what
		// lets it lower the child's limits without CAP_SYS_RESOURCE.
		if err := setRlimits(r.cmd.Process.Pid, e.proc.Rlimits); err != nil {
			_ = r.cmd.Process.Kill()
			_, _ = r.cmd.Process.Wait()
			r = execResult{err: err}
		}
	}
	// The thread is about to die, but until it does it must not count as a
	// member of the container's cgroup.
	if err := returnThread(e.returnTo); err != nil && r.err == nil {
		r.err = err
	}
	return r
}

// fork does the thread's work: capabilities, cgroup, namespaces, user, cwd,
// no_new_privs, seccomp, then the fork the child inherits all of them from.
func (e *execer) fork() execResult {
	// The thread's root and cwd must be its own before it changes them
	// (joinNamespaces does this too when it enters a mount namespace).
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return execResult{err: fmt.Errorf("unshare fs: %w", err)}
	}
	// Capabilities first, while /proc/self is still this process: the
	// bounding and inheritable sets do not affect setns, which needs only
	// CAP_SYS_ADMIN in the effective set.
	if e.proc.Capabilities != nil {
		if err := dropBounding(e.caps); err != nil {
			return execResult{err: err}
		}
	}
	if v1, ok := e.cg.(*cgroupV1); ok {
		files, err := v1.openThreadReturn()
		if err != nil {
			return execResult{err: err}
		}
		e.returnTo = files
		if err := v1.addThread(); err != nil {
			return execResult{err: err}
		}
	}
	if err := joinNamespaces(e.files); err != nil {
		return execResult{err: err}
	}
	// From here on this thread's root and cwd are the container's.
	path, err := lookPath(e.proc.Args[0], e.proc.Env)
	if err != nil {
		return execResult{err: err}
	}
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the
	// process's own sets usually lack: load it while the thread has it.
	if !e.proc.NoNewPrivileges {
		if err := installSeccomp(e.filter); err != nil {
			return execResult{err: err}
		}
	}
	if err := setThreadUser(e.proc.User); err != nil {
		return execResult{err: err}
	}
	if e.proc.Capabilities != nil {
		if err := applyCaps(e.caps); err != nil {
			return execResult{err: err}
		}
	}
	// The child inherits this thread's cwd. Changing it here rather than in
	// the child means a cwd through /proc/self/fd cannot reach the caller's
	// descriptors: this process is not in the container's pid namespace.
	cwd := e.proc.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := chdirInside(cwd); err != nil {
		return execResult{err: err}
	}
	if e.proc.NoNewPrivileges {
		if err := setNoNewPrivs(); err != nil {
			return execResult{err: err}
		}
		if err := installSeccomp(e.filter); err != nil {
			return execResult{err: err}
		}
	}
	if e.cgDir != nil {
		cmd := e.command(path)
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(e.cgDir.Fd())
		err := cmd.Start()
		if err == nil {
			return execResult{cmd: cmd, inCgroup: true}
		}
		// Docker's seccomp profile answers clone3 with ENOSYS, and a
		// non-root user may not move into the cgroup: fork, then the
		// caller moves the child.
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
			return execResult{err: execError(path, err)}
		}
	}
	cmd := e.command(path)
	if err := cmd.Start(); err != nil {
		return execResult{err: execError(path, err)}
	}
	return execResult{cmd: cmd}
}

// command builds the os/exec command for the container process. User,
// capabilities and cwd come from the forking thread.
func (e *execer) command(path string) *exec.Cmd {
	cmd := &exec.Cmd{
		Path:        path,
		Args:        e.proc.Args,
		Env:         append([]string{}, e.proc.Env...),
		SysProcAttr: &syscall.SysProcAttr{},
	}
	setStdio(cmd, e.stdio)
	return cmd
}
