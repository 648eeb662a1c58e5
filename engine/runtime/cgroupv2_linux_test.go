//go:build linux

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeCgroupfs lets the cgroups library open files outside cgroupfs (and
// create them on write, as the kernel shows them) for the test's duration.
func fakeCgroupfs(t *testing.T) {
	cgroups.TestMode = true
	t.Cleanup(func() { cgroups.TestMode = false })
}

// fakeCgroup2 builds a cgroup v2 tree in a temp dir with the files the
// kernel would show for the container's cgroup (a plain directory cannot
// create them itself).
func fakeCgroup2(t *testing.T, path string) (root, dir string) {
	root = t.TempDir()
	dir = filepath.Join(root, path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"cgroup.controllers":     "cpuset cpu io memory pids",
		"cgroup.subtree_control": "",
	}
	for name, content := range files {
		for _, d := range []string{root, filepath.Dir(dir)} {
			if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	inner := map[string]string{
		"cgroup.controllers": "cpuset cpu io memory pids",
		"cgroup.procs":       "4242\n4343\n",
		"cgroup.freeze":      "0\n",
		"cgroup.events":      "populated 1\nfrozen 1\n",
		"memory.max":         "", "memory.swap.max": "", "memory.low": "",
		"memory.current":      "1048576\n",
		"memory.swap.current": "0\n",
		"memory.stat":         "anon 524288\nfile 4096\n",
		"memory.events":       "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n",
		"cpu.max":             "", "cpu.weight": "",
		"cpu.stat":    "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
		"cpuset.cpus": "", "cpuset.mems": "",
		"pids.max": "", "pids.current": "2\n",
		"io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
	}
	for name, content := range inner {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, dir
}

func readTrim(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func TestCgroupV2FakeTree(t *testing.T) {
	fakeCgroupfs(t)
	const path = "/kedge-abc/0123456789"
	root, dir := fakeCgroup2(t, path)
	if !isCgroup2(root) {
		t.Fatal("fake tree not detected as cgroup v2")
	}
	cg, err := openCgroup(root, path)
	if err != nil {
		t.Fatal(err)
	}
	v2, ok := cg.(*cgroupV2)
	if !ok {
		t.Fatalf("got %T, want the v2 implementation", cg)
	}
	mem, swap := int64(32<<20), int64(64<<20)
	quota, period, shares := int64(50000), uint64(100000), uint64(1024)
	pids := int64(10)
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &mem, Swap: &swap},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares, Cpus: "0-1", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: &pids},
	}
	if err := cg.create(res, nil); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.max": "33554432", "memory.swap.max": "33554432", "cpu.max": "50000 100000",
		"cpu.weight": "100", "pids.max": "10", "cpuset.cpus": "0-1", "cpuset.mems": "0",
	} {
		if got := readTrim(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := readTrim(t, filepath.Join(root, "cgroup.subtree_control")); !strings.Contains(got, "+memory") {
		t.Errorf("controllers not enabled for children at the root: %q", got)
	}

	st, err := cg.stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPUUsageNanos != 1500000 || st.MemoryUsage != 1048576 || st.PidsCurrent != 2 ||
		st.PidsLimit != 10 || st.OOMKills != 2 || st.BlockReadBytes != 4096 || st.BlockWriteByes != 8192 {
		t.Errorf("stats %+v", st)
	}
	got, err := cg.pids()
	if err != nil || len(got) != 2 || got[0] != 4242 {
		t.Errorf("pids %v %v", got, err)
	}
	if err := cg.freeze(true); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.freeze")); got != "1" {
		t.Errorf("cgroup.freeze = %q after freeze", got)
	}
	if err := cg.freeze(false); err != nil {
		t.Fatal(err)
	}
	if err := cg.addProc(99); err != nil {
		t.Fatal(err)
	}
	if f, err := v2.openDir(); err != nil {
		t.Errorf("open cgroup dir for CLONE_INTO_CGROUP: %v", err)
	} else {
		f.Close()
	}
}

func TestCgroupV2CreateRemovesWhatItMadeOnError(t *testing.T) {
	fakeCgroupfs(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("memory pids"), 0o644); err != nil {
		t.Fatal(err)
	}
	cg, err := openCgroup(root, "/kedge-x/ctr")
	if err != nil {
		t.Fatal(err)
	}
	mem := int64(1 << 20)
	// A plain directory has no cgroup.controllers: Set fails, and the
	// directories create made are removed again.
	if err := cg.create(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}}, nil); err == nil {
		t.Fatal("create on a tree without controller files succeeded")
	}
	if _, err := os.Stat(filepath.Join(root, "kedge-x")); !os.IsNotExist(err) {
		t.Errorf("create left %s behind: %v", filepath.Join(root, "kedge-x"), err)
	}
}

func TestCgroupsPathValidation(t *testing.T) {
	for _, p := range []string{"", "relative/path", "/", "/a/../../etc"} {
		if _, err := openCgroup(t.TempDir(), p); err == nil {
			t.Errorf("cgroups path %q accepted", p)
		}
	}
}

// TestCgroupV2Real runs a container with limits on a real cgroup v2 host.
func TestCgroupV2Real(t *testing.T) {
	needRoot(t)
	data, err := os.ReadFile(filepath.Join(defaultCgroupRoot, "cgroup.controllers"))
	if err != nil || !strings.Contains(string(data), "memory") {
		t.Skip("host has no cgroup v2 unified hierarchy with controllers at /sys/fs/cgroup (cgroup v1 or hybrid); the v2 code is covered by TestCgroupV2FakeTree")
	}
	spec := testSpec(t, busyboxRootfs(t), "sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max")
	mem, pids := int64(64<<20), int64(20)
	spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem}
	spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	cfg := newConfig(t, spec)
	out := outFile(t)
	p, err := Start(context.Background(), cfg, Stdio{Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(); err != nil || st.Code != 0 {
		t.Fatalf("exit %+v %v: %s", st, err, readOut(t, out))
	}
	if got := readOut(t, out); got != "67108864\n20\n" {
		t.Errorf("limits seen inside: %q", got)
	}
}
