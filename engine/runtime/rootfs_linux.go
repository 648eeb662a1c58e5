//go:build linux

package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// procFd is the magic link through which the init mounts onto a target it
// resolved inside the rootfs, so a symlink swapped in later cannot redirect
// the mount to the host (CVE-2021-30465).
func procFd(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// prepareRootfs runs in the init's new mount namespace, before pivot_root:
// it stops propagation to the host, binds the rootfs onto itself and mounts
// Spec.Mounts under it.
func prepareRootfs(spec *specs.Spec) error {
	prop := unix.MS_PRIVATE | unix.MS_REC
	if spec.Linux != nil {
		prop = int(rootPropagation(spec.Linux.RootfsPropagation))
	}
	if err := unix.Mount("", "/", "", uintptr(prop), ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	rootPath := spec.Root.Path
	if err := unix.Mount(rootPath, rootPath, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s onto itself: %w", rootPath, err)
	}
	root, err := os.OpenFile(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer root.Close()
	for _, m := range spec.Mounts {
		if err := mountEntry(root, spec, m); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Type, m.Destination, err)
		}
	}
	if hasDevTmpfs(spec) {
		if err := createDevices(root, containerDevices(spec)); err != nil {
			return err
		}
		if err := createDevSymlinks(root); err != nil {
			return err
		}
	}
	return nil
}

// isBindMount reports whether m is a bind mount.
func isBindMount(m specs.Mount, o mountOptions) bool {
	return m.Type == "bind" || o.flags&unix.MS_BIND != 0
}

// mountTarget creates the mount point inside root (a directory, or a file
// when a file is bind-mounted) and returns an O_PATH handle to it.
func mountTarget(root *os.File, dest string, file bool) (*os.File, error) {
	if !file {
		return pathrs.MkdirAllHandle(root, dest, 0o755)
	}
	dir, err := pathrs.MkdirAllHandle(root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	base := filepath.Base(dest)
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0o644)
	if err != nil && !errors.Is(err, unix.EISDIR) {
		return nil, fmt.Errorf("create mount point %s: %w", dest, err)
	}
	if err == nil {
		unix.Close(fd)
	}
	return pathrs.OpenatInRoot(root, dest)
}

func mountEntry(root *os.File, spec *specs.Spec, m specs.Mount) error {
	if !filepath.IsAbs(m.Destination) {
		return fmt.Errorf("destination must be absolute")
	}
	o := parseMountOptions(m.Options)
	bind := isBindMount(m, o)
	file := false
	if bind {
		st, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		file = !st.IsDir()
	}
	target, err := mountTarget(root, m.Destination, file)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer target.Close()

	switch {
	case bind:
		if err := unix.Mount(m.Source, procFd(target), "", o.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return err
		}
		if extra := o.flags &^ (unix.MS_BIND | unix.MS_REC); extra != 0 {
			if err := remountInRoot(root, m.Destination, extra); err != nil {
				return err
			}
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if err := mountCgroupfs(root, target, m.Destination, o); err != nil {
			return err
		}
	case m.Type == "sysfs":
		err := unix.Mount(m.Source, procFd(target), m.Type, o.flags, o.data)
		if errors.Is(err, unix.EPERM) && !hasNewNamespace(spec, specs.NetworkNamespace) {
			// A shared network namespace cannot mount its own sysfs: give
			// a read-only view of the host's instead.
			if err = unix.Mount("/sys", procFd(target), "", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				err = remountInRoot(root, m.Destination, o.flags|unix.MS_RDONLY)
			}
		}
		if err != nil {
			return err
		}
	default:
		if err := unix.Mount(m.Source, procFd(target), m.Type, o.flags, o.data); err != nil {
			return err
		}
	}
	if len(o.propagation) > 0 {
		mounted, err := pathrs.OpenatInRoot(root, m.Destination)
		if err != nil {
			return fmt.Errorf("reopen mount point: %w", err)
		}
		defer mounted.Close()
		for _, p := range o.propagation {
			if err := unix.Mount("", procFd(mounted), "", p, ""); err != nil {
				return fmt.Errorf("set propagation: %w", err)
			}
		}
	}
	return nil
}

// remountInRoot re-resolves dest (now the top of the mount stack) and
// remounts it with flags, keeping it a bind mount.
func remountInRoot(root *os.File, dest string, flags uintptr) error {
	mounted, err := pathrs.OpenatInRoot(root, dest)
	if err != nil {
		return fmt.Errorf("reopen mount point: %w", err)
	}
	defer mounted.Close()
	return remountBind(procFd(mounted), flags)
}

// remountBind remounts the bind mount at path with flags, keeping the
// nosuid/nodev/noexec flags the mount already has (the kernel refuses to
// clear locked ones).
func remountBind(path string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err == nil {
		for _, f := range [...][2]uintptr{{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC}} {
			if uintptr(st.Flags)&f[0] != 0 {
				flags |= f[1]
			}
		}
	}
	if err := unix.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return nil
}

// mountCgroupfs mounts the cgroup filesystem: cgroup2 on a v2 host; on a v1
// host a tmpfs holding one mount per host hierarchy, each showing the
// container's cgroup as its root thanks to the cgroup namespace.
func mountCgroupfs(root, target *os.File, dest string, o mountOptions) error {
	flags := o.flags | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if isCgroup2(defaultCgroupRoot) {
		return unix.Mount("cgroup2", procFd(target), "cgroup2", flags, "")
	}
	if err := unix.Mount("tmpfs", procFd(target), "tmpfs", flags&^unix.MS_RDONLY, "mode=755"); err != nil {
		return err
	}
	dir, err := pathrs.OpenatInRoot(root, dest)
	if err != nil {
		return fmt.Errorf("reopen cgroup tmpfs: %w", err)
	}
	defer dir.Close()
	base := procFd(dir)
	entries, err := os.ReadDir(defaultCgroupRoot)
	if err != nil {
		return fmt.Errorf("list host cgroup hierarchies: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		at := filepath.Join(base, name)
		if e.Type()&os.ModeSymlink != 0 {
			if link, err := os.Readlink(filepath.Join(defaultCgroupRoot, name)); err == nil && !strings.Contains(link, "/") {
				_ = os.Symlink(link, at)
			}
			continue
		}
		if !e.IsDir() {
			continue
		}
		fstype, data := "cgroup", name
		switch name {
		case "unified":
			fstype, data = "cgroup2", ""
		case "systemd":
			data = "none,name=systemd"
		}
		if err := os.Mkdir(at, 0o755); err != nil {
			return fmt.Errorf("create cgroup mount point %s: %w", name, err)
		}
		if err := unix.Mount("cgroup", at, fstype, flags, data); err != nil {
			return fmt.Errorf("mount cgroup hierarchy %s: %w", name, err)
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return remountBind(base, flags)
	}
	return nil
}

// pivotRoot makes the rootfs the root of the mount namespace and detaches
// the host's root. It never uses chroot.
func pivotRoot(rootPath string) error {
	fd, err := unix.Open(rootPath, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("chdir rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The old root is now stacked under the new one at "."; make it a slave
	// so that detaching it cannot propagate anything to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// maskPaths hides paths: files get /dev/null bound over them, directories
// an empty read-only tmpfs. Missing paths are skipped. Runs after pivot_root.
func maskPaths(paths []string) error {
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("mask %s: %w", p, err)
		}
		var err error
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=000")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// readonlyPaths bind-mounts each path onto itself read-only. Missing paths
// are skipped. Runs after pivot_root.
func readonlyPaths(paths []string) error {
	for _, p := range paths {
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("bind %s read-only: %w", p, err)
		}
		if err := remountBind(p, unix.MS_RDONLY|unix.MS_REC); err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return nil
}
