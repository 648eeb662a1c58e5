//go:build !linux

package shim

import (
	"context"
	"errors"
)

var errUnsupported = errors.New("containers need Linux")

// Start reports that containers need Linux.
func Start(ctx context.Context, opts Options) (*Client, error) { return nil, errUnsupported }

// Main reports that containers need Linux.
func Main(args []string) int { return 1 }
