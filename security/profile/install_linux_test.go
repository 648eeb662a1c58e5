//go:build linux

package profile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func init() {
	helpers["seccomp-default"] = seccompDefaultHelper
}

// seccompDefaultHelper runs in a re-executed test binary: it loads Docker's
// default filter on its locked thread, then reports what syscalls do, one
// "name: result" line each, and exits 0 when every result is as expected.
func seccompDefaultHelper() int {
	runtime.LockOSThread() // never unlocked: the filter stays on this thread
	fail := 0
	check := func(what string, got, want error) {
		ok := errors.Is(got, want) || (got == nil && want == nil)
		if !ok {
			fail++
		}
		fmt.Printf("%s: got %v, want %v, ok=%v\n", what, got, want, ok)
	}
	s, err := DefaultSeccomp(DefaultCapabilities())
	if err != nil {
		fmt.Println("DefaultSeccomp:", err)
		return 1
	}
	prog, err := Compile(s, runtime.GOARCH)
	if err != nil {
		fmt.Println("Compile:", err)
		return 1
	}
	// Another thread that exists before the filter is loaded must stay
	// unfiltered: InstallFilter is for the calling thread only.
	ready, start, other := make(chan struct{}), make(chan struct{}), make(chan string)
	go func() {
		runtime.LockOSThread() // its own thread, which exits with it
		close(ready)
		<-start
		st, err := os.ReadFile("/proc/thread-self/status")
		if err != nil {
			other <- err.Error()
			return
		}
		other <- string(st)
	}()
	<-ready
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("no_new_privs:", err)
		return 1
	}
	if err := InstallFilter(prog); err != nil {
		fmt.Println("InstallFilter:", err)
		return 1
	}

	st, err := os.ReadFile("/proc/thread-self/status")
	if err != nil || !strings.Contains(string(st), "Seccomp:\t2\n") {
		fmt.Printf("thread status: want Seccomp: 2, err %v\n", err)
		fail++
	}
	close(start)
	if st := <-other; !strings.Contains(st, "Seccomp:\t0\n") {
		fmt.Println("other thread: want Seccomp: 0, the filter leaked to it")
		fail++
	} else {
		fmt.Println("other thread: unfiltered, ok=true")
	}
	_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	check("clone3", errnoOrNil(e), unix.ENOSYS)
	check("unshare(CLONE_NEWNS)", unix.Unshare(unix.CLONE_NEWNS), unix.EPERM)
	_, e2 := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	check("keyctl", e2, unix.EPERM)
	_, e2 = unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
	check("socket(AF_VSOCK)", e2, unix.EPERM)
	fd, e2 := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	check("socket(AF_UNIX)", e2, nil)
	if e2 == nil {
		unix.Close(fd)
	}
	_, _, e = unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	check("personality(0xffffffff) (query)", errnoOrNil(e), nil)
	_, _, e = unix.Syscall(unix.SYS_PERSONALITY, 0x123, 0, 0)
	check("personality(0x123)", errnoOrNil(e), unix.EPERM)
	_, _, e = unix.Syscall(unix.SYS_REBOOT, 0, 0, 0)
	check("reboot", errnoOrNil(e), unix.EPERM)
	pid, _, e := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	check("getpid", errnoOrNil(e), nil)
	if int(pid) != os.Getpid() {
		fmt.Printf("getpid = %d, want %d\n", pid, os.Getpid())
		fail++
	}
	// fork+exec from this thread: the child inherits the filter.
	check("exec /bin/true", exec.Command("/bin/true").Run(), nil)
	out, err := exec.Command("/bin/cat", "/proc/self/status").Output()
	check("exec cat", err, nil)
	if !strings.Contains(string(out), "Seccomp:\t2\n") {
		fmt.Println("child status: want Seccomp: 2")
		fail++
	}
	if fail > 0 {
		return 1
	}
	return 0
}

func errnoOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// TestInstallFilterKernel loads Docker's default filter into a real kernel,
// in a re-executed copy of the test binary, and checks what it allows.
func TestInstallFilterKernel(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: cannot check seccomp state")
	}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil || !strings.Contains(string(st), "Seccomp:") {
		t.Skip("kernel without seccomp")
	}
	if _, err := os.Stat("/bin/true"); err != nil {
		t.Skip("no /bin/true to exec")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=seccomp-default")
	out, err := cmd.CombinedOutput()
	t.Logf("helper output:\n%s", out)
	if err != nil {
		t.Fatalf("helper under Docker's default filter failed: %v", err)
	}
}

// TestInstallFilterRejectsEmpty checks argument validation.
func TestInstallFilterRejectsEmpty(t *testing.T) {
	if err := InstallFilter(nil); !errors.Is(err, ErrInvalidProfile) {
		t.Errorf("InstallFilter(nil) = %v, want ErrInvalidProfile", err)
	}
}
