//go:build !linux

package cni

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"
	current "github.com/containernetworking/cni/pkg/types/100"
)

func add(*skel.CmdArgs) (*current.Result, error)  { return nil, ErrUnsupported }
func del(*skel.CmdArgs, func(string) error) error { return ErrUnsupported }
func check(*skel.CmdArgs) error                   { return ErrUnsupported }
func gc(*skel.CmdArgs) error                      { return ErrUnsupported }
func status(*skel.CmdArgs) error                  { return ErrUnsupported }

// Remove needs Linux.
func (n *Network) Remove(ctx context.Context) error { return ErrUnsupported }

func deleteLink(string) error { return ErrUnsupported }
