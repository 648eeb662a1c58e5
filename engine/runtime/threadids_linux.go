//go:build linux && !arm && !386

package runtime

import "golang.org/x/sys/unix"

// Raw syscall numbers of the per-thread credential calls (the libc and Go
// wrappers apply them to every thread; Exec wants only its locked thread).
const (
	sysSetgroups = unix.SYS_SETGROUPS
	sysSetresgid = unix.SYS_SETRESGID
	sysSetresuid = unix.SYS_SETRESUID
)
