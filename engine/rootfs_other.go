//go:build !linux

package engine

import "errors"

var errNeedsLinux = errors.New("containers need Linux")

func mountOverlay(lowers []string, upper, work, target string) error { return errNeedsLinux }
func unmountRootfs(target string) error                              { return nil }
func bootID() string                                                 { return "" }
func hostRlimitHard(name string) uint64                              { return ^uint64(0) }
func cgroupVersion() int                                             { return 0 }
func deviceOf(path string) (string, int64, int64, uint32, error)     { return "", 0, 0, 0, errNeedsLinux }
func hostMemory() uint64                                             { return 0 }
