//go:build linux

package shim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/engine/runtime"
)

// hostRuntime runs "containers" as plain host processes: the supervision
// logic (stdio, logs, attach, exec, exit files) is tested with it before and
// besides the real runtime. It has no cgroups.
type hostRuntime struct{}

var _ containerRuntime = hostRuntime{}

func (hostRuntime) Start(ctx context.Context, cfg *runtime.Config, stdio runtime.Stdio) (process, error) {
	return startHost(cfg.Spec.Process, stdio)
}

func (hostRuntime) Exec(ctx context.Context, cfg *runtime.Config, initPid int, proc *specs.Process, stdio runtime.Stdio) (process, error) {
	return startHost(proc, stdio)
}

func (hostRuntime) OOMKills(string) (uint64, error) { return 0, nil }
func (hostRuntime) RemoveCgroup(string) error       { return nil }

func startHost(p *specs.Process, stdio runtime.Stdio) (process, error) {
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Env, cmd.Dir = p.Env, p.Cwd
	if stdio.Console != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Console, stdio.Console, stdio.Console
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	} else {
		// A nil *os.File in an interface is not nil: set only real files.
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
	if err := cmd.Start(); err != nil {
		switch {
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%w: %v", runtime.ErrExecNotFound, err)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("%w: %v", runtime.ErrExecPermission, err)
		}
		return nil, err
	}
	return hostProcess{cmd}, nil
}

type hostProcess struct{ cmd *exec.Cmd }

func (h hostProcess) PID() int { return h.cmd.Process.Pid }

func (h hostProcess) Wait() (runtime.ExitStatus, error) {
	err := h.cmd.Wait()
	ws, ok := h.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return runtime.ExitStatus{}, err
	}
	if ws.Signaled() {
		return runtime.ExitStatus{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}, nil
	}
	return runtime.ExitStatus{Code: ws.ExitStatus()}, nil
}
