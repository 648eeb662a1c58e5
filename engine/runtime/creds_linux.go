//go:build linux

package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"kedge/security/profile"
)

// capsByName maps "CAP_CHOWN" style names to the capabilities the running
// kernel knows.
func capsByName() map[string]capability.Cap {
	known := capability.ListKnown()
	last, err := capability.LastCap()
	if err != nil {
		last = known[len(known)-1]
	}
	out := make(map[string]capability.Cap, len(known))
	for _, c := range known {
		if c <= last {
			out["CAP_"+strings.ToUpper(c.String())] = c
		}
	}
	return out
}

// capList converts capability names; an unknown name is an error, a name
// the kernel does not know yet is skipped (as runc does).
func capList(byName map[string]capability.Cap, names []string) ([]capability.Cap, error) {
	out := make([]capability.Cap, 0, len(names))
	for _, n := range names {
		c, ok := byName[strings.ToUpper(n)]
		if !ok {
			if strings.HasPrefix(strings.ToUpper(n), "CAP_") {
				continue
			}
			return nil, fmt.Errorf("unknown capability %q", n)
		}
		out = append(out, c)
	}
	return out, nil
}

// threadCaps holds the capability sets to apply to the calling thread.
type threadCaps struct {
	bounding, effective, permitted, inheritable, ambient []capability.Cap
}

func resolveCaps(c *specs.LinuxCapabilities) (threadCaps, error) {
	var t threadCaps
	if c == nil {
		return t, nil
	}
	byName := capsByName()
	var err error
	for _, set := range []struct {
		dst   *[]capability.Cap
		names []string
	}{
		{&t.bounding, c.Bounding}, {&t.effective, c.Effective}, {&t.permitted, c.Permitted},
		{&t.inheritable, c.Inheritable}, {&t.ambient, c.Ambient},
	} {
		if *set.dst, err = capList(byName, set.names); err != nil {
			return t, err
		}
	}
	return t, nil
}

// dropBounding limits the calling thread's bounding set.
func dropBounding(t threadCaps) error {
	caps, err := capability.NewPid2(0)
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	caps.Clear(capability.BOUNDING)
	caps.Set(capability.BOUNDING, t.bounding...)
	if err := caps.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("drop bounding capabilities: %w", err)
	}
	return nil
}

// applyCaps sets the calling thread's effective, permitted, inheritable and
// ambient sets.
func applyCaps(t threadCaps) error {
	caps, err := capability.NewPid2(0)
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	caps.Clear(capability.CAPS | capability.AMBIENT)
	caps.Set(capability.EFFECTIVE, t.effective...)
	caps.Set(capability.PERMITTED, t.permitted...)
	caps.Set(capability.INHERITABLE, t.inheritable...)
	caps.Set(capability.AMBIENT, t.ambient...)
	if err := caps.Apply(capability.CAPS | capability.AMBS); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	return nil
}

// rlimitType maps an OCI rlimit name to its resource.
func rlimitType(name string) (int, bool) {
	switch name {
	case "RLIMIT_AS":
		return unix.RLIMIT_AS, true
	case "RLIMIT_CORE":
		return unix.RLIMIT_CORE, true
	case "RLIMIT_CPU":
		return unix.RLIMIT_CPU, true
	case "RLIMIT_DATA":
		return unix.RLIMIT_DATA, true
	case "RLIMIT_FSIZE":
		return unix.RLIMIT_FSIZE, true
	case "RLIMIT_LOCKS":
		return unix.RLIMIT_LOCKS, true
	case "RLIMIT_MEMLOCK":
		return unix.RLIMIT_MEMLOCK, true
	case "RLIMIT_MSGQUEUE":
		return unix.RLIMIT_MSGQUEUE, true
	case "RLIMIT_NICE":
		return unix.RLIMIT_NICE, true
	case "RLIMIT_NOFILE":
		return unix.RLIMIT_NOFILE, true
	case "RLIMIT_NPROC":
		return unix.RLIMIT_NPROC, true
	case "RLIMIT_RSS":
		return unix.RLIMIT_RSS, true
	case "RLIMIT_RTPRIO":
		return unix.RLIMIT_RTPRIO, true
	case "RLIMIT_RTTIME":
		return unix.RLIMIT_RTTIME, true
	case "RLIMIT_SIGPENDING":
		return unix.RLIMIT_SIGPENDING, true
	case "RLIMIT_STACK":
		return unix.RLIMIT_STACK, true
	}
	return 0, false
}

// setRlimits applies rlimits to process pid (0: the caller). Raising a hard
// limit above the current one needs CAP_SYS_RESOURCE; that failure names the
// current hard limit.
func setRlimits(pid int, limits []specs.POSIXRlimit) error {
	for _, l := range limits {
		res, ok := rlimitType(l.Type)
		if !ok {
			return fmt.Errorf("unknown rlimit %q", l.Type)
		}
		want := unix.Rlimit{Cur: l.Soft, Max: l.Hard}
		if err := unix.Prlimit(pid, res, &want, nil); err != nil {
			var cur unix.Rlimit
			if errors.Is(err, unix.EPERM) && unix.Prlimit(pid, res, nil, &cur) == nil && l.Hard > cur.Max {
				return fmt.Errorf("set %s to %d/%d: hard limit above the host's %d (raising it needs CAP_SYS_RESOURCE): %w",
					l.Type, l.Soft, l.Hard, cur.Max, err)
			}
			return fmt.Errorf("set %s to %d/%d: %w", l.Type, l.Soft, l.Hard, err)
		}
	}
	return nil
}

// setThreadUser switches only the calling thread to u's uid, gid and groups,
// keeping its capabilities (PR_SET_KEEPCAPS) so the caller can set the
// process's sets afterwards.
func setThreadUser(u specs.User) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities: %w", err)
	}
	groups := make([]uint32, len(u.AdditionalGids)+1)
	copy(groups, u.AdditionalGids)
	var gp uintptr
	if len(u.AdditionalGids) > 0 {
		gp = uintptr(unsafe.Pointer(&groups[0]))
	}
	if _, _, e := unix.RawSyscall(sysSetgroups, uintptr(len(u.AdditionalGids)), gp, 0); e != 0 {
		return fmt.Errorf("set groups %v: %w", u.AdditionalGids, e)
	}
	if _, _, e := unix.RawSyscall(sysSetresgid, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("set gid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(sysSetresuid, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("set uid %d: %w", u.UID, e)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("reset keep capabilities: %w", err)
	}
	return nil
}

// setNoNewPrivs sets no_new_privs on the calling thread.
func setNoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}

// installSeccomp loads prog as a seccomp filter of the calling thread only
// (no TSYNC): the thread is about to exec, or to fork the process that does.
func installSeccomp(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return nil
	}
	return profile.InstallFilter(prog)
}

// lookPath resolves name like execvp does, through PATH from env, in the
// calling thread's root (the container's).
func lookPath(name string, env []string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty command: %w", ErrExecNotFound)
	}
	if strings.Contains(name, "/") {
		return name, checkExecutable(name)
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrExecPermission) {
			denied = true
		}
	}
	if denied {
		return "", fmt.Errorf("%q in PATH: %w", name, ErrExecPermission)
	}
	return "", fmt.Errorf("%q not in PATH %s: %w", name, path, ErrExecNotFound)
}

// checkExecutable reports whether path is an executable regular file.
func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return execError(path, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("exec %q: %w", path, ErrExecPermission)
	}
	return nil
}
