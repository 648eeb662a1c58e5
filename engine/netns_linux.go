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
func newNetNS(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("netns dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("netns file %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// This thread enters the new namespace and is never given back to
		// the Go scheduler (no UnlockOSThread): it exits with the goroutine.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := runtime.LoopbackUp(); err != nil {
			errc <- err
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return fmt.Errorf("new network namespace: %w", err)
	}
	return nil
}

// removeNetNS unmounts and deletes a namespace made by newNetNS; a missing
// one is fine.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}
