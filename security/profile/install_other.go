//go:build !linux

package profile

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// InstallFilter fails with ErrUnsupported: seccomp exists only on Linux.
func InstallFilter(prog []bpf.RawInstruction) error {
	return fmt.Errorf("install seccomp filter: %w", ErrUnsupported)
}
