//go:build linux

package engine

import (
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// maxMountData is the kernel's limit on mount(2) option data (one page).
const maxMountData = 4096

// mountOverlay mounts the read-only layers (lowest first) under the container's
// read-write upper dir at target. When the absolute paths would overflow the
// option page (images of 60+ layers), the layers are passed as
// /proc/self/fd/N of O_PATH descriptors, which the kernel resolves at mount time.
func mountOverlay(lowers []string, upper, work, target string) error {
	if mounted, _ := mountinfo.Mounted(target); mounted {
		return nil
	}
	if len(lowers) == 0 {
		return fmt.Errorf("mount rootfs: the image has no layers")
	}
	// overlayfs lists the top layer first.
	ordered := make([]string, len(lowers))
	for i, l := range lowers {
		ordered[len(lowers)-1-i] = l
	}
	data := overlayData(ordered, upper, work)
	if len(data) >= maxMountData {
		fds := make([]int, 0, len(ordered))
		defer func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}()
		short := make([]string, len(ordered))
		for i, l := range ordered {
			fd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("mount rootfs: open layer %s: %w", l, err)
			}
			fds = append(fds, fd)
			short[i] = fmt.Sprintf("/proc/self/fd/%d", fd)
		}
		data = overlayData(short, upper, work)
		if len(data) >= maxMountData {
			return fmt.Errorf("mount rootfs: %d layers are too many for one overlay mount", len(lowers))
		}
	}
	if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
		return fmt.Errorf("mount rootfs overlay on %s: %w", target, err)
	}
	return nil
}

func overlayData(lowers []string, upper, work string) string {
	return "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work + ",index=off"
}

// unmountRootfs detaches the container's rootfs mount; a path that is not
// mounted is fine.
func unmountRootfs(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount rootfs %s: %w", target, err)
	}
	return nil
}

// bootID identifies the current boot, to notice a host reboot.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// hostRlimitHard reads the host's hard limit of an RLIMIT_* name.
func hostRlimitHard(name string) uint64 {
	res, ok := map[string]int{
		"RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_DATA": unix.RLIMIT_DATA,
		"RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
		"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE,
		"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
		"RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
		"RLIMIT_AS": unix.RLIMIT_AS,
	}[name]
	if !ok {
		return ^uint64(0)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(res, &rl); err != nil {
		return ^uint64(0)
	}
	return rl.Max
}

// cgroupVersion reports 2 on a unified-only host, else 1.
func cgroupVersion() int {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2
	}
	return 1
}

// deviceOf stats a host device for --device.
func deviceOf(path string) (typ string, major, minor int64, mode uint32, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", 0, 0, 0, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return "", 0, 0, 0, fmt.Errorf("%s is not a device", path)
	}
	return typ, int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), st.Mode &^ unix.S_IFMT, nil
}

// hostMemory is the host's total memory in bytes (0 if unknown): an
// unlimited container's limit as `stats` shows it, like Docker.
func hostMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}
