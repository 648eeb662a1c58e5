//go:build linux && (amd64 || arm64 || arm)

package profile

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSyscallTableNative compares the table of the build's own GOARCH with
// golang.org/x/sys/unix's constants for it.
func TestSyscallTableNative(t *testing.T) {
	plan, err := planFor(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	for name, nr := range map[string]uint32{
		"getpid": unix.SYS_GETPID, "clone": unix.SYS_CLONE, "clone3": unix.SYS_CLONE3,
		"keyctl": unix.SYS_KEYCTL, "unshare": unix.SYS_UNSHARE, "personality": unix.SYS_PERSONALITY,
		"seccomp": unix.SYS_SECCOMP, "execve": unix.SYS_EXECVE, "socket": unix.SYS_SOCKET,
	} {
		if got := plan.abi.table[name]; got != nr {
			t.Errorf("%s: table %d, x/sys %d", name, got, nr)
		}
	}
}
