//go:build linux

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMemoryLimitOOMKill(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "/bin/sh", "-c", "exec tail /dev/zero")
	limit := int64(32 << 20)
	spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	cfg := newConfig(t, spec)
	p, err := Start(context.Background(), cfg, Stdio{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 137 || st.Signal != 9 {
		t.Fatalf("exit %+v, want 137 (SIGKILL by the OOM killer)", st)
	}
	stats, err := ReadStats(spec.Linux.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	if stats.OOMKills < 1 {
		t.Errorf("OOM kills = %d, want >= 1", stats.OOMKills)
	}
	if stats.MemoryLimit != uint64(limit) {
		t.Errorf("memory limit = %d, want %d", stats.MemoryLimit, limit)
	}
}

func TestPidsLimitStopsForkBomb(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "/bin/sh", "-c",
		"i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo forked")
	limit := int64(10)
	spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	out, _ := run(t, newConfig(t, spec))
	if !strings.Contains(out, "can't fork") && !strings.Contains(out, "Resource temporarily unavailable") {
		t.Fatalf("40 forks under pids.max=10 all succeeded: %q", out)
	}
}

func TestCPULimitsAndStats(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "/bin/sh", "-c", `
grep Cpus_allowed_list /proc/self/status
cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null
echo ready > /tmp/ready; exec sleep 30`)
	quota, period, shares := int64(50000), uint64(100000), uint64(512)
	spec.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "0", Mems: "0", Quota: &quota, Period: &period, Shares: &shares}
	cfg := newConfig(t, spec)
	out := outFile(t)
	p, err := Start(context.Background(), cfg, Stdio{Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the container to start", func() bool {
		_, err := os.Stat(filepath.Join(spec.Root.Path, "tmp/ready"))
		return err == nil
	})
	pids, err := CgroupPids(spec.Linux.CgroupsPath)
	if err != nil || !slices.Contains(pids, p.Pid) {
		t.Errorf("CgroupPids = %v, %v; want it to contain %d", pids, err, p.Pid)
	}
	stats, err := ReadStats(spec.Linux.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	if stats.CPUUsageNanos == 0 || stats.MemoryUsage == 0 || stats.PidsCurrent != 1 {
		t.Errorf("stats look empty: %+v", stats)
	}
	if err := Freeze(spec.Linux.CgroupsPath, true); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(defaultCgroupRoot, "freezer", spec.Linux.CgroupsPath, "freezer.state"))
	if err != nil || strings.TrimSpace(string(state)) != "FROZEN" {
		t.Errorf("freezer state %q, %v", state, err)
	}
	if err := Freeze(spec.Linux.CgroupsPath, false); err != nil {
		t.Fatal(err)
	}
	// Removing the cgroup of a running container kills it first.
	if err := RemoveCgroup(spec.Linux.CgroupsPath); err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait()
	if err != nil || st.Code != 137 {
		t.Errorf("after RemoveCgroup: %+v, %v; want 137", st, err)
	}
	if err := RemoveCgroup(spec.Linux.CgroupsPath); err != nil {
		t.Errorf("removing a missing cgroup: %v", err)
	}
	got := readOut(t, out)
	for _, want := range []string{"Cpus_allowed_list:\t0\n", "50000\n", "512\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
