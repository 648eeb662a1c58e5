//go:build linux

package runtime

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestDevicesBindWhenMknodRefused runs createDevices where mknod is refused
// (a throwaway thread without CAP_MKNOD, in its own mount namespace): the
// host's nodes must be bind-mounted instead.
func TestDevicesBindWhenMknodRefused(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	var (
		err      error
		st       unix.Stat_t
		isDevice bool
	)
	onThrowawayThread(func() {
		if err = unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			return
		}
		if err = unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return
		}
		var caps capability.Capabilities
		if caps, err = capability.NewPid2(0); err != nil {
			return
		}
		if err = caps.Load(); err != nil {
			return
		}
		caps.Unset(capability.EFFECTIVE, capability.CAP_MKNOD)
		if err = caps.Apply(capability.CAPS); err != nil {
			return
		}
		var rootFile *os.File
		if rootFile, err = os.Open(root); err != nil {
			return
		}
		defer rootFile.Close()
		devs := []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}}
		if err = createDevices(rootFile, devs); err != nil {
			return
		}
		if err = unix.Stat(filepath.Join(root, "dev/null"), &st); err != nil {
			return
		}
		isDevice = st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
	})
	if err != nil {
		t.Fatal(err)
	}
	if !isDevice {
		t.Fatalf("dev/null is not the host's null device: mode %o rdev %d", st.Mode, st.Rdev)
	}
	// The bind mount lived only in the thread's mount namespace.
	var host unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "dev/null"), &host); err != nil {
		t.Fatal(err)
	}
	if host.Mode&unix.S_IFMT == unix.S_IFCHR {
		t.Error("the mknod fallback left a device visible on the host")
	}
}
