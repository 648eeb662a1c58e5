//go:build linux

package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func ptr[T any](v T) *T { return &v }

// defaultDevices are the nodes every container's /dev gets when the spec
// lists none, as runc and Docker create them.
func defaultDevices() []specs.LinuxDevice {
	mode := os.FileMode(0o666)
	uid, gid := uint32(0), uint32(0)
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3), dev("/dev/zero", 1, 5), dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0),
	}
}

// containerDevices is the list of nodes to create in /dev.
func containerDevices(spec *specs.Spec) []specs.LinuxDevice {
	devs := defaultDevices()
	if spec.Linux == nil {
		return devs
	}
	seen := make(map[string]bool, len(spec.Linux.Devices))
	for _, d := range spec.Linux.Devices {
		seen[d.Path] = true
	}
	out := append([]specs.LinuxDevice(nil), spec.Linux.Devices...)
	for _, d := range devs {
		if !seen[d.Path] {
			out = append(out, d)
		}
	}
	return out
}

// deviceRule is one device cgroup rule: allow or deny access (a subset of
// "rwm") to nodes of a type ('a' for all, 'c', 'b') and major:minor (-1 for
// any).
type deviceRule struct {
	allow        bool
	typ          byte
	major, minor int64
	access       string
}

// newDeviceRule builds a rule from the OCI fields.
func newDeviceRule(allow bool, typ string, major, minor *int64, access string) deviceRule {
	r := deviceRule{allow: allow, typ: 'a', major: -1, minor: -1, access: access}
	if typ != "" {
		r.typ = typ[0]
	}
	if major != nil {
		r.major = *major
	}
	if minor != nil {
		r.minor = *minor
	}
	if r.access == "" {
		r.access = "rwm"
	}
	return r
}

// String renders the rule in the v1 devices controller's syntax.
func (r deviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", r.typ, num(r.major), num(r.minor), r.access)
}

// deviceRules builds the device cgroup rules as runc does: deny everything,
// then the spec's own rules in order, then allow mknod of any node (using it
// still needs an allow), the standard nodes, the ptys, /dev/net/tun and the
// spec's devices. Later rules take precedence.
func deviceRules(res *specs.LinuxResources, devices []specs.LinuxDevice) []deviceRule {
	rules := []deviceRule{newDeviceRule(false, "a", nil, nil, "rwm")}
	if res != nil {
		for _, d := range res.Devices {
			rules = append(rules, newDeviceRule(d.Allow, d.Type, d.Major, d.Minor, d.Access))
		}
	}
	allow := func(typ string, major, minor int64, access string) {
		var mj, mn *int64
		if major >= 0 {
			mj = ptr(major)
		}
		if minor >= 0 {
			mn = ptr(minor)
		}
		rules = append(rules, newDeviceRule(true, typ, mj, mn, access))
	}
	allow("c", -1, -1, "m")
	allow("b", -1, -1, "m")
	for _, n := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {136, -1}, {10, 200}} {
		allow("c", n[0], n[1], "rwm")
	}
	for _, d := range devices {
		allow(d.Type, d.Major, d.Minor, "rwm")
	}
	return rules
}

// writeDeviceRules applies rules to a v1 devices cgroup directory.
func writeDeviceRules(dir string, rules []deviceRule) error {
	for _, r := range rules {
		file := "devices.deny"
		if r.allow {
			file = "devices.allow"
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(r.String()), 0); err != nil {
			return fmt.Errorf("write %q to %s: %w", r.String(), file, err)
		}
	}
	return nil
}

// createDevices makes the device nodes under the rootfs before pivot_root.
// Every parent directory is resolved inside root, and nodes are created
// relative to that handle, so a symlink in the image cannot redirect them.
// When mknod is refused the host's node is bind-mounted instead.
func createDevices(root *os.File, devs []specs.LinuxDevice) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		if err := createDevice(root, d); err != nil {
			return fmt.Errorf("create device %s: %w", d.Path, err)
		}
	}
	return nil
}

func createDevice(root *os.File, d specs.LinuxDevice) error {
	dir, err := pathrs.MkdirAllHandle(root, filepath.Dir(d.Path), 0o755)
	if err != nil {
		return err
	}
	defer dir.Close()
	base := filepath.Base(d.Path)
	err = mknodDevice(int(dir.Fd()), base, d)
	if err == nil || (!errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES)) {
		return err
	}
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0o666)
	if err != nil {
		return fmt.Errorf("mknod refused; create bind target: %w", err)
	}
	unix.Close(fd)
	target, err := pathrs.OpenatInRoot(root, d.Path)
	if err != nil {
		return fmt.Errorf("mknod refused; open bind target: %w", err)
	}
	defer target.Close()
	if err := unix.Mount(d.Path, procFd(target), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mknod refused; bind host node: %w", err)
	}
	return nil
}

func mknodDevice(dirfd int, name string, d specs.LinuxDevice) error {
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		mode |= unix.S_IFCHR
	case "b":
		mode |= unix.S_IFBLK
	case "p":
		mode |= unix.S_IFIFO
	default:
		return fmt.Errorf("device type %q not supported", d.Type)
	}
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if err := unix.Mknodat(dirfd, name, mode, int(dev)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return err
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	return unix.Fchownat(dirfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

// devSymlinks are the links runc creates in /dev: target, name.
func devSymlinks() [5][2]string {
	return [...][2]string{
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	}
}

// createDevSymlinks makes the /dev links, relative to a handle on the
// container's /dev resolved inside root.
func createDevSymlinks(root *os.File) error {
	dev, err := pathrs.OpenatInRoot(root, "/dev")
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer dev.Close()
	for _, l := range devSymlinks() {
		if err := unix.Symlinkat(l[0], int(dev.Fd()), l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}
