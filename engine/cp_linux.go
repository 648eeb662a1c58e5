//go:build linux

package engine

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// extractEntry writes one tar entry at target (a path inside rootfs) through
// file descriptors opened inside the root, never following a link out of it.
func extractEntry(rootfs, target string, hdr *tar.Header, r io.Reader) error {
	mode := os.FileMode(hdr.Mode).Perm()
	if hdr.Typeflag == tar.TypeDir {
		return pathrs.MkdirAll(rootfs, target, mode|0o700)
	}
	root, err := os.Open(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	parent, err := pathrs.MkdirAllHandle(root, path.Dir(target), 0o755)
	if err != nil {
		return err
	}
	defer parent.Close()
	base := path.Base(target)
	if base == "/" || base == "." || base == ".." {
		return fmt.Errorf("bad name")
	}
	pfd := int(parent.Fd())
	_ = unix.Unlinkat(pfd, base, 0)
	switch hdr.Typeflag {
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode))
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		_ = unix.Fchown(fd, hdr.Uid, hdr.Gid)
		_ = unix.Fchmod(fd, uint32(mode))
		return f.Close()
	case tar.TypeSymlink:
		return unix.Symlinkat(hdr.Linkname, pfd, base)
	}
	return nil // hard links, devices and fifos are not copied into containers
}
