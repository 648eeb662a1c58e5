//go:build linux

package profile

import (
	"fmt"

	"github.com/moby/profiles/seccomp"
	"golang.org/x/sys/unix"
)

// dockerDefaultProfile is Docker's default profile, in Docker's format.
func dockerDefaultProfile() (*seccomp.Seccomp, error) {
	return seccomp.DefaultProfile(), nil
}

// hostKernel returns the running kernel's "<kernel>.<major>" version.
func hostKernel() (*seccomp.KernelVersion, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	return parseKernelRelease(unix.ByteSliceToString(uts.Release[:]))
}
