//go:build linux

package cni

import (
	"os"

	"golang.org/x/sys/unix"
)

func unmount(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		return err
	}
	return os.Remove(path)
}
