//go:build linux

package runtime

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Process is a container process started by Start or Exec. The caller must
// call Wait exactly once to reap it.
type Process struct {
	// Pid is the process id in the caller's pid namespace.
	Pid int

	proc *os.Process
}

// Wait blocks until the process exits and reports how it ended.
func (p *Process) Wait() (ExitStatus, error) {
	if p == nil || p.proc == nil {
		return ExitStatus{}, errors.New("wait: no process")
	}
	st, err := p.proc.Wait()
	if err != nil {
		return ExitStatus{}, fmt.Errorf("wait for pid %d: %w", p.Pid, err)
	}
	return exitStatus(st.Sys().(syscall.WaitStatus)), nil
}

// Signal sends sig to the process. It goes through the process handle
// (a pidfd where the kernel has them), so it cannot hit a recycled pid.
func (p *Process) Signal(sig os.Signal) error {
	if p == nil || p.proc == nil {
		return errors.New("signal: no process")
	}
	if err := p.proc.Signal(sig); err != nil {
		return fmt.Errorf("signal pid %d: %w", p.Pid, err)
	}
	return nil
}

// exitStatus converts a wait status to Docker's convention.
func exitStatus(ws syscall.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}
