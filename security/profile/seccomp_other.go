//go:build !linux

package profile

import (
	"fmt"

	"github.com/moby/profiles/seccomp"
)

// dockerDefaultProfile fails off Linux: the moby package builds its default
// profile only there.
func dockerDefaultProfile() (*seccomp.Seccomp, error) {
	return nil, fmt.Errorf("docker default seccomp profile: %w", ErrUnsupported)
}

// hostKernel fails off Linux: profiles with minKernel rules cannot be resolved.
func hostKernel() (*seccomp.KernelVersion, error) {
	return nil, fmt.Errorf("kernel version: %w", ErrUnsupported)
}
