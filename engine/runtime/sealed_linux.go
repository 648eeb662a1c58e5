//go:build linux

package runtime

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SealedBinary opens path through a detached, read-only bind mount of it
// (open_tree + mount_setattr). Executing the init through this handle makes
// /proc/<init>/exe refer to a file on a read-only mount, so nothing in the
// container can reopen the host's kedge binary for writing through it
// (CVE-2019-5736), even in the instant before the init makes itself
// non-dumpable. The mount vanishes with its last reference.
func SealedBinary(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", path, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("make %s read-only: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// noMountAPI reports whether err means the kernel lacks the new mount API
// (before 5.12 for mount_setattr), in which case the plain path is used and
// the init's non-dumpable flag remains the protection.
func noMountAPI(err error) bool {
	return errors.Is(err, unix.ENOSYS)
}
