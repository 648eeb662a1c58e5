//go:build !linux

package runtime

import (
	"context"
	"errors"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var errUnsupported = errors.New("containers need Linux")

// Process is a container process; containers run only on Linux.
type Process struct{ Pid int }

// Wait reports that containers need Linux.
func (p *Process) Wait() (ExitStatus, error) { return ExitStatus{}, errUnsupported }

// Signal reports that containers need Linux.
func (p *Process) Signal(sig os.Signal) error { return errUnsupported }

// Start reports that containers need Linux.
func Start(ctx context.Context, cfg *Config, stdio Stdio) (*Process, error) {
	return nil, errUnsupported
}

// Exec reports that containers need Linux.
func Exec(ctx context.Context, cfg *Config, initPid int, proc *specs.Process, stdio Stdio) (*Process, error) {
	return nil, errUnsupported
}

// ReadStats reports that containers need Linux.
func ReadStats(cgroupsPath string) (*Stats, error) { return nil, errUnsupported }

// Freeze reports that containers need Linux.
func Freeze(cgroupsPath string, frozen bool) error { return errUnsupported }

// CgroupPids reports that containers need Linux.
func CgroupPids(cgroupsPath string) ([]int, error) { return nil, errUnsupported }

// RemoveCgroup reports that containers need Linux.
func RemoveCgroup(cgroupsPath string) error { return errUnsupported }

// RemoveCgroupIfEmpty reports that containers need Linux.
func RemoveCgroupIfEmpty(cgroupsPath string) error { return errUnsupported }

// InitMain reports that containers need Linux.
func InitMain(args []string) int { return 1 }

// LoopbackUp reports that containers need Linux.
func LoopbackUp() error { return errUnsupported }
