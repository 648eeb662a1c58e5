//go:build linux

package shim

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/engine/runtime"
)

// containerRuntime is what the supervisor needs from engine/runtime. It is an
// interface so that the supervision logic can be tested with host processes;
// realRuntime is the implementation every real supervisor uses.
type containerRuntime interface {
	// Start creates the container and runs its init (runtime.Start).
	Start(ctx context.Context, cfg *runtime.Config, stdio runtime.Stdio) (process, error)
	// Exec adds a process to the container (runtime.Exec).
	Exec(ctx context.Context, cfg *runtime.Config, initPid int, proc *specs.Process, stdio runtime.Stdio) (process, error)
	// OOMKills counts the OOM kills in the container's cgroup so far.
	OOMKills(cgroupsPath string) (uint64, error)
	// RemoveCgroup deletes the container's cgroup (runtime.RemoveCgroup).
	RemoveCgroup(cgroupsPath string) error
}

// process is a started container process; Wait is called exactly once.
type process interface {
	PID() int
	Wait() (runtime.ExitStatus, error)
}

// realRuntime is containerRuntime over engine/runtime.
type realRuntime struct{}

var _ containerRuntime = realRuntime{}

func (realRuntime) Start(ctx context.Context, cfg *runtime.Config, stdio runtime.Stdio) (process, error) {
	p, err := runtime.Start(ctx, cfg, stdio)
	if err != nil {
		return nil, err
	}
	return runtimeProcess{p}, nil
}

func (realRuntime) Exec(ctx context.Context, cfg *runtime.Config, initPid int, proc *specs.Process, stdio runtime.Stdio) (process, error) {
	p, err := runtime.Exec(ctx, cfg, initPid, proc, stdio)
	if err != nil {
		return nil, err
	}
	return runtimeProcess{p}, nil
}

func (realRuntime) OOMKills(cgroupsPath string) (uint64, error) {
	st, err := runtime.ReadStats(cgroupsPath)
	if err != nil {
		return 0, err
	}
	return st.OOMKills, nil
}

func (realRuntime) RemoveCgroup(cgroupsPath string) error { return runtime.RemoveCgroup(cgroupsPath) }

type runtimeProcess struct{ p *runtime.Process }

func (r runtimeProcess) PID() int                          { return r.p.Pid }
func (r runtimeProcess) Wait() (runtime.ExitStatus, error) { return r.p.Wait() }
