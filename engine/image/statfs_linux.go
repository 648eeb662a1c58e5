//go:build linux

package image

import (
	"math"

	"golang.org/x/sys/unix"
)

// freeSpace is the space available to us on dir's filesystem.
func freeSpace(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return math.MaxInt64
	}
	return int64(st.Bavail) * int64(st.Bsize) //nolint:unconvert // Bsize is int32 on 32-bit arm
}
