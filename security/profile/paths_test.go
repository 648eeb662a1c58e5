package profile

import (
	"path"
	"slices"
	"strings"
	"testing"
)

func TestDefaultPaths(t *testing.T) {
	masked, ro := DefaultMaskedPaths(), DefaultReadonlyPaths()
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/scsi", "/sys/devices/virtual/powercap"} {
		if !slices.Contains(masked, p) {
			t.Errorf("masked paths lack %s", p)
		}
	}
	for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq"} {
		if !slices.Contains(ro, p) {
			t.Errorf("read-only paths lack %s", p)
		}
	}
	for _, p := range append(masked, ro...) {
		if path.Clean(p) != p || !(strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/sys/")) {
			t.Errorf("%q is not a clean path under /proc or /sys", p)
		}
	}
	masked[0] = "x"
	if DefaultMaskedPaths()[0] == "x" {
		t.Error("DefaultMaskedPaths returned shared storage")
	}
}
