//go:build linux && (arm || 386)

package runtime

import "golang.org/x/sys/unix"

// Raw syscall numbers of the per-thread credential calls; on 32-bit arm and
// 386 the 32-bit id variants.
const (
	sysSetgroups = unix.SYS_SETGROUPS32
	sysSetresgid = unix.SYS_SETRESGID32
	sysSetresuid = unix.SYS_SETRESUID32
)
