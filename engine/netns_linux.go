//go:build linux

package engine

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"golang.org/x/sys/unix"

	"kedge/engine/runtime"
)

// newNetNS makes a network namespace that outlives any process in it,
// bind-mounted at path (as `ip netns add` does), with lo up. Containers on a
// bridge network join it; it is made before the container so that the
// network can be attached before the container's command runs.
func newNetNS(path string) error {
	return newNamespaceFile(path, unix.CLONE_NEWNET, "net", runtime.LoopbackUp)
}

// newIPCNS makes an IPC namespace bind-mounted at path: a pod's, which its
// containers share.
func newIPCNS(path string) error {
	return newNamespaceFile(path, unix.CLONE_NEWIPC, "ipc", nil)
}

// newNamespaceFile unshares a namespace of kind on a thread of its own,
// runs setup inside it and pins it at path with a bind mount.
func newNamespaceFile(path string, flag int, kind string, setup func() error) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("%s namespace dir: %w", kind, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%s namespace file %s: %w", kind, path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// This thread enters the new namespace and is never given back to
		// the Go scheduler (no UnlockOSThread): it exits with the goroutine.
		goruntime.LockOSThread()
		if err := unix.Unshare(flag); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if setup != nil {
			if err := setup(); err != nil {
				errc <- err
				return
			}
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), unix.Gettid(), kind)
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return fmt.Errorf("new %s namespace: %w", kind, err)
	}
	return nil
}

// removeNetNS unmounts and deletes a namespace made by newNetNS or
// newIPCNS; a missing one is fine.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}
