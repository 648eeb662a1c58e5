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
	"golang.org/x/sys/unix"
)

// Start creates the container's namespaces and cgroup, prepares its root
// filesystem, and runs Spec.Process as its pid 1. It returns once the user's
// process has been exec'd (or failed to exec: ErrExecNotFound,
// ErrExecPermission, or another error that says what failed). On failure
// nothing is left behind: no process, no cgroup.
//
// The init is Config.Binary re-executed as "kedge __init" with clone flags for
// the new namespaces (namespaces with a Path are joined by the forking thread
// first). Start creates and configures the cgroup before the clone, puts the
// init into it (CLONE_INTO_CGROUP on v2), and only then sends the init its
// configuration, so nothing of the container runs outside its limits.
func Start(ctx context.Context, cfg *Config, stdio Stdio) (_ *Process, retErr error) {
	if cfg == nil {
		return nil, errors.New("start container: no config")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
	}
	spec := cfg.Spec
	if err := validateSpec(spec); err != nil {
		return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
	}
	plan, err := planNamespaces(spec)
	if err != nil {
		return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
	}
	filter, err := compileSeccomp(spec.Linux.Seccomp)
	if err != nil {
		return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
	}
	payload, err := encodeInitConfig(spec, filter)
	if err != nil {
		return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
	}

	var cg cgroup
	if spec.Linux.CgroupsPath != "" {
		if cg, err = openCgroup(defaultCgroupRoot, spec.Linux.CgroupsPath); err != nil {
			return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
		}
		if err := cg.create(spec.Linux.Resources, spec.Linux.Devices); err != nil {
			_ = cg.destroy()
			return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
		}
		defer func() {
			if retErr != nil {
				_ = cg.destroy()
			}
		}()
	}

	configR, configW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start container %s: config pipe: %w", cfg.ID, err)
	}
	defer configW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		configR.Close()
		return nil, fmt.Errorf("start container %s: status pipe: %w", cfg.ID, err)
	}
	defer errR.Close()

	binary := cfg.Binary
	if binary == "" {
		binary = "/proc/self/exe"
	}
	exePath := binary
	extra := []*os.File{configR, errW}
	if sealed, err := SealedBinary(binary); err == nil {
		defer sealed.Close()
		// Passed at a fixed descriptor: os/exec's child may reuse other
		// numbers for its own bookkeeping before it execs.
		extra = append(extra, sealed)
		exePath = fmt.Sprintf("/proc/self/fd/%d", initBinaryFd)
	} else if !noMountAPI(err) {
		configR.Close()
		errW.Close()
		return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
	}
	cmd := &exec.Cmd{
		Path: exePath,
		Args: []string{"kedge", InitCommand},
		// The init needs no environment (the process gets Spec's); a
		// single P and no GC make the short-lived Go runtime start and
		// exec (which must reap every other thread) faster.
		Env:         []string{"GOMAXPROCS=1", "GOGC=off"},
		ExtraFiles:  extra,
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: plan.clone},
	}
	setStdio(cmd, stdio)
	if v2, ok := cg.(*cgroupV2); ok {
		dir, err := v2.openDir()
		if err != nil {
			configR.Close()
			errW.Close()
			return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
		}
		defer dir.Close()
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(dir.Fd())
	}

	v1, _ := cg.(*cgroupV1)
	if len(plan.join) > 0 || v1 != nil {
		err = startOnThread(cmd, plan.join, v1)
	} else {
		err = cmd.Start()
	}
	configR.Close()
	errW.Close()
	if err != nil {
		return nil, fmt.Errorf("start container %s: run init %s: %w", cfg.ID, binary, err)
	}
	proc := cmd.Process
	fail := func(err error) (*Process, error) {
		_ = proc.Kill()
		_, _ = proc.Wait()
		return nil, fmt.Errorf("start container %s: %w", cfg.ID, err)
	}

	stop := context.AfterFunc(ctx, func() { _ = proc.Kill() })
	_, werr := configW.Write(payload)
	configW.Close()
	ierr := readInitError(errR)

	if !stop() {
		return fail(ctx.Err())
	}
	if ierr != nil {
		return fail(ierr)
	}
	if werr != nil {
		return fail(fmt.Errorf("send init config: %w", werr))
	}
	return &Process{Pid: proc.Pid, proc: proc}, nil
}

// setStdio wires the process's standard streams; a console becomes the
// controlling terminal of a new session.
func setStdio(cmd *exec.Cmd, stdio Stdio) {
	if stdio.Console != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Console, stdio.Console, stdio.Console
		cmd.SysProcAttr.Setsid = true
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
		return
	}
	// Assign only non-nil files: a typed nil *os.File in an io.Reader would
	// not be treated as "no stream" by os/exec.
	if stdio.Stdin != nil {
		cmd.Stdin = stdio.Stdin
	}
	if stdio.Stdout != nil {
		cmd.Stdout = stdio.Stdout
	}
	if stdio.Stderr != nil {
		cmd.Stderr = stdio.Stderr
	}
}

// startOnThread starts cmd from a throwaway thread that first joins the
// given namespaces (a pid namespace only applies to children) and, on
// cgroup v1, the container's cgroups (v1 places threads individually), so
// that the child is born inside them. The thread returns to its own cgroups
// before it dies.
func startOnThread(cmd *exec.Cmd, join []specs.LinuxNamespace, v1 *cgroupV1) error {
	files, err := openNamespaces(join)
	if err != nil {
		return err
	}
	defer closeNamespaces(files)
	onThrowawayThread(func() {
		var back []*os.File
		if v1 != nil {
			if back, err = v1.openThreadReturn(); err != nil {
				return
			}
			defer func() {
				if rerr := returnThread(back); rerr != nil && err == nil {
					err = rerr
				}
			}()
			if err = v1.addThread(); err != nil {
				return
			}
		}
		if err = joinNamespaces(files); err == nil {
			err = cmd.Start()
		}
	})
	return err
}

// killPid sends SIGKILL to pid.
func killPid(pid int) error { return unix.Kill(pid, unix.SIGKILL) }
