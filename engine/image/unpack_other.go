//go:build !linux

package image

import (
	"context"
	"errors"
	"io"
)

// unpackLayer is only implemented on Linux, where overlayfs uses its output.
func unpackLayer(ctx context.Context, r io.Reader, dir string, lim unpackLimits) (unpackResult, error) {
	return unpackResult{}, errors.New("unpack: layers can only be unpacked on linux")
}
