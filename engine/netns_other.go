//go:build !linux

package engine

func newNetNS(path string) error    { return errNeedsLinux }
func newIPCNS(path string) error    { return errNeedsLinux }
func removeNetNS(path string) error { return nil }
