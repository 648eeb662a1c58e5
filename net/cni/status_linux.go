//go:build linux

package cni

import (
	"github.com/containernetworking/cni/pkg/skel"
)

// status is CNI STATUS: the plugin is ready whenever its configuration is valid.
func status(a *skel.CmdArgs) error {
	_, err := parseConfig(a.StdinData)
	return err
}
