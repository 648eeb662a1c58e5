//go:build linux

package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsFlag maps an OCI namespace type to its clone flag and /proc/PID/ns name.
// User and time namespaces are not supported: the runtime does not use them.
func nsFlag(t specs.LinuxNamespaceType) (flag uintptr, procName string, err error) {
	switch t {
	case specs.MountNamespace:
		return unix.CLONE_NEWNS, "mnt", nil
	case specs.PIDNamespace:
		return unix.CLONE_NEWPID, "pid", nil
	case specs.UTSNamespace:
		return unix.CLONE_NEWUTS, "uts", nil
	case specs.IPCNamespace:
		return unix.CLONE_NEWIPC, "ipc", nil
	case specs.NetworkNamespace:
		return unix.CLONE_NEWNET, "net", nil
	case specs.CgroupNamespace:
		return unix.CLONE_NEWCGROUP, "cgroup", nil
	}
	return 0, "", fmt.Errorf("namespace type %q is not supported", t)
}

// nsPlan splits the spec's namespaces into the ones to create (clone flags)
// and the ones to join (type -> path).
type nsPlan struct {
	clone uintptr
	join  []specs.LinuxNamespace
	// newCgroup is set when a new cgroup namespace is wanted; the init creates
	// it itself once it is inside its cgroup, so the namespace is rooted there.
	newCgroup bool
}

func planNamespaces(spec *specs.Spec) (nsPlan, error) {
	var p nsPlan
	if spec.Linux == nil {
		return p, nil
	}
	for _, ns := range spec.Linux.Namespaces {
		flag, _, err := nsFlag(ns.Type)
		if err != nil {
			return p, err
		}
		switch {
		case ns.Path != "":
			p.join = append(p.join, ns)
		case flag == unix.CLONE_NEWCGROUP:
			p.newCgroup = true
		default:
			p.clone |= flag
		}
	}
	return p, nil
}

// hasNewNamespace reports whether the spec asks for a new namespace of type t.
func hasNewNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t && ns.Path == "" {
			return true
		}
	}
	return false
}

// hasOwnNamespace reports whether the container does not share the host's
// namespace of type t: a new one, or a joined one (a pod's, a network
// namespace the engine made) that is not this process's own. Joined
// namespaces are compared by device and inode, as runc does for sysctls.
func hasOwnNamespace(spec *specs.Spec, t specs.LinuxNamespaceType, hostFile string) bool {
	if hasNewNamespace(spec, t) {
		return true
	}
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type != t || ns.Path == "" {
			continue
		}
		var joined, host unix.Stat_t
		if unix.Stat(ns.Path, &joined) != nil || unix.Stat(hostFile, &host) != nil {
			return false
		}
		return joined.Dev != host.Dev || joined.Ino != host.Ino
	}
	return false
}

// nsFile is an open namespace file to setns into.
type nsFile struct {
	f    *os.File
	flag uintptr
}

// openNamespaces opens the namespace files to join. Mount namespaces come
// last so paths are still resolved on the host while the others are opened
// and joined.
func openNamespaces(join []specs.LinuxNamespace) ([]nsFile, error) {
	var files, mnt []nsFile
	for _, ns := range join {
		flag, _, err := nsFlag(ns.Type)
		if err != nil {
			closeNamespaces(files)
			return nil, err
		}
		f, err := os.Open(ns.Path)
		if err != nil {
			closeNamespaces(files)
			closeNamespaces(mnt)
			return nil, fmt.Errorf("open %s namespace: %w", ns.Type, err)
		}
		if flag == unix.CLONE_NEWNS {
			mnt = append(mnt, nsFile{f, flag})
		} else {
			files = append(files, nsFile{f, flag})
		}
	}
	return append(files, mnt...), nil
}

func closeNamespaces(files []nsFile) {
	for _, n := range files {
		n.f.Close()
	}
}

// joinNamespaces setns's the calling thread, which must be locked and must
// never return to the Go scheduler, into files. A mount namespace needs the
// thread's fs information unshared first.
func joinNamespaces(files []nsFile) error {
	for _, n := range files {
		if n.flag == unix.CLONE_NEWNS {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs before joining mount namespace: %w", err)
			}
		}
		if err := unix.Setns(int(n.f.Fd()), int(n.flag)); err != nil {
			return fmt.Errorf("join namespace %s: %w", n.f.Name(), err)
		}
	}
	return nil
}

// onThrowawayThread runs f on a locked OS thread that is not the process's
// main thread, and lets that thread die afterwards instead of returning it
// to the scheduler: f may change per-thread state (namespaces, credentials,
// seccomp) that no other goroutine may inherit. The main thread is avoided
// because Go cannot end it (it would be parked forever, yet /proc/self
// describes it, so the whole process would seem to live in the container).
func onThrowawayThread(f func()) {
	done := make(chan struct{})
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Hold the main thread so the nested goroutine cannot run on
			// it, then hand it back untouched.
			defer goruntime.UnlockOSThread()
			onThrowawayThread(f)
			close(done)
			return
		}
		f()
		close(done)
		// Returning while locked ends the thread.
	}()
	<-done
}
