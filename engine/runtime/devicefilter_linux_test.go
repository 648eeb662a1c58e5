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

// evalDeviceFilter interprets the subset of eBPF the device filter uses,
// on the context (type, access, major, minor).
func evalDeviceFilter(t *testing.T, prog []ebpfInsn, typ, access, major, minor uint32) uint64 {
	var r [11]uint64
	ctx := [3]uint32{access<<16 | typ, major, minor}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.code {
		case ebpfLdxMemW:
			r[in.dst] = uint64(ctx[in.off/4])
		case ebpfMovReg:
			r[in.dst] = r[in.src]
		case ebpfMovImm:
			r[in.dst] = uint64(int64(in.imm))
		case ebpfAndImm:
			r[in.dst] &= uint64(int64(in.imm))
		case ebpfRshImm:
			r[in.dst] >>= uint(in.imm)
		case ebpfJneImm:
			if r[in.dst] != uint64(int64(in.imm)) {
				pc += int(in.off)
			}
		case ebpfJeqImm:
			if r[in.dst] == uint64(int64(in.imm)) {
				pc += int(in.off)
			}
		case ebpfExit:
			return r[0]
		default:
			t.Fatalf("unexpected opcode %#x", in.code)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

// referenceDeviceVerdict: the last matching rule decides; nothing matching
// means deny.
func referenceDeviceVerdict(rules []deviceRule, typ byte, access int32, major, minor int64) bool {
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if r.typ != 'a' && r.typ != typ || r.major >= 0 && r.major != major || r.minor >= 0 && r.minor != minor {
			continue
		}
		acc := deviceAccessBits(r.access)
		if r.allow && access&^acc == 0 {
			return true
		}
		if !r.allow && access&acc != 0 {
			return false
		}
	}
	return false
}

// FuzzDeviceFilter checks the generated program against the reference
// semantics for rule lists and requests derived from the fuzz input.
func FuzzDeviceFilter(f *testing.F) {
	f.Add([]byte{0, 1, 3, 7, 1, 1, 2, 3, 5, 7}, uint8(2), uint8(1), uint8(3), uint8(6))
	f.Add([]byte{1, 0, 0, 0, 255, 255}, uint8(1), uint8(8), uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, spec []byte, typ, major, minor, access uint8) {
		var rules []deviceRule
		for i := 0; i+4 < len(spec) && len(rules) < 20; i += 5 {
			b := spec[i : i+5]
			r := deviceRule{allow: b[0]&1 == 1, typ: "acb"[int(b[1])%3], major: int64(b[2]%5) - 1, minor: int64(b[3]%5) - 1}
			for j, c := range "rwm" {
				if b[4]&(1<<j) != 0 {
					r.access += string(c)
				}
			}
			if r.access == "" {
				r.access = "rwm"
			}
			rules = append(rules, r)
		}
		devType := []byte{'c', 'b'}[typ%2]
		bpfType := uint32(unix.BPF_DEVCG_DEV_CHAR)
		if devType == 'b' {
			bpfType = unix.BPF_DEVCG_DEV_BLOCK
		}
		acc := int32(access%7) + 1
		mj, mn := int64(major%4), int64(minor%4)
		got := evalDeviceFilter(t, deviceFilterProgram(rules), bpfType, uint32(acc), uint32(mj), uint32(mn)) == 1
		if want := referenceDeviceVerdict(rules, devType, acc, mj, mn); got != want {
			t.Fatalf("rules %v, request %c %d:%d acc %d: program says %v, reference %v", rules, devType, mj, mn, acc, got, want)
		}
	})
}
