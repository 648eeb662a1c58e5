//go:build linux

package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup2Dir returns a fresh cgroup2 directory for the test: under the
// unified hierarchy, which a v1 hybrid host also mounts (device filters work
// on any cgroup2 cgroup, controllers or not).
func cgroup2Dir(t *testing.T) string {
	for _, root := range []string{defaultCgroupRoot, filepath.Join(defaultCgroupRoot, "unified")} {
		var st unix.Statfs_t
		if unix.Statfs(root, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			continue
		}
		dir := filepath.Join(root, "kedge-devtest-"+testID()[:12])
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("cannot create a cgroup2 directory: %v", err)
		}
		t.Cleanup(func() { _ = os.Remove(dir) })
		return dir
	}
	t.Skip("no cgroup2 hierarchy mounted")
	return ""
}

func TestDeviceFilterV2(t *testing.T) {
	needRoot(t)
	dir := cgroup2Dir(t)
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The default rules (deny all, allow the standard nodes), with the
	// caller's extra rule denying /dev/full and allowing /dev/loop0 reads.
	res := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
	}}
	rules := deviceRules(res, nil)
	rules = append(rules, newDeviceRule(false, "c", ptr(int64(1)), ptr(int64(7)), "rwm"))
	if err := attachDeviceFilter(f, rules); err != nil {
		t.Fatal(err)
	}
	// Attaching again replaces rather than stacks.
	if err := attachDeviceFilter(f, rules); err != nil {
		t.Fatal(err)
	}
	nodes := t.TempDir()
	for name, dev := range map[string][2]uint32{"null": {1, 3}, "full": {1, 7}, "mem": {1, 1}} {
		if err := unix.Mknod(filepath.Join(nodes, name), unix.S_IFCHR|0o666, int(unix.Mkdev(dev[0], dev[1]))); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`cd %s
for n in null full mem; do (: < $n) 2>/dev/null && echo $n=open || echo $n=denied; done
mknod sda b 8 0 && echo mknod=ok || echo mknod=denied
(: < sda) 2>/dev/null && echo sda=open || echo sda=denied`, nodes)
	cmd := exec.Command("busybox", "sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "null=open\nfull=denied\nmem=denied\nmknod=ok\nsda=denied\n"
	if string(out) != want {
		t.Errorf("device access:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(string(out), "sda=open") {
		t.Error("a block device of the host could be opened")
	}
}

func TestDeviceRuleStrings(t *testing.T) {
	rules := deviceRules(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Major: ptr(int64(10)), Minor: ptr(int64(229)), Access: "rw"},
	}}, []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}})
	var got []string
	for _, r := range rules {
		got = append(got, fmt.Sprint(r.allow, " ", r))
	}
	s := strings.Join(got, "\n")
	for _, want := range []string{"false a *:* rwm", "true c 10:229 rw", "true c *:* m", "true c 136:* rwm", "true c 10:229 rwm"} {
		if !strings.Contains(s, want) {
			t.Errorf("rules lack %q:\n%s", want, s)
		}
	}
	if !strings.HasPrefix(s, "false a *:* rwm") {
		t.Errorf("rules must start by denying everything:\n%s", s)
	}
}
