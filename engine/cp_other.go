//go:build !linux

package engine

import (
	"archive/tar"
	"io"
)

func extractEntry(rootfs, target string, hdr *tar.Header, r io.Reader) error { return errNeedsLinux }
