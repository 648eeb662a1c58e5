//go:build linux

package profile

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// InstallFilter loads prog (from Compile) as a seccomp filter for the
// CALLING THREAD ONLY: seccomp(SECCOMP_SET_MODE_FILTER, 0, prog), without
// SECCOMP_FILTER_FLAG_TSYNC. The filter is inherited by threads and processes
// the thread creates afterwards and cannot be removed. The caller must have
// locked its goroutine to the thread (runtime.LockOSThread) and never unlock
// it, and must have set no_new_privs on that thread
// (prctl(PR_SET_NO_NEW_PRIVS)) or hold CAP_SYS_ADMIN; otherwise the kernel
// refuses with EACCES.
func InstallFilter(prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("install seccomp filter: %d instructions (want 1..%d): %w", len(prog), maxInsns, ErrInvalidProfile)
	}
	filters := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filters[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(filters)
	if errno != 0 {
		return fmt.Errorf("install seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return nil
}
