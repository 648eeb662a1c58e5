//go:build linux

package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kedge/internal/testimage"
)

// TestSmokeRealAgent builds kedge, runs and pauses a container on a real
// agent in a host, kills the agent and the container's supervisor, and
// checks that Close removes the orphaned container's processes, mounts and
// cgroups.
func TestSmokeRealAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kedge and starts a real agent; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("lab: needs root (network namespaces, nftables, mounts); run the tests as root")
	}
	t.Parallel()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		t.Skipf("no go toolchain to build kedge with (%v)", err)
	}
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "busybox.tar")
	if err := os.WriteFile(archive, testimage.Busybox(t), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "kedge")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kedge: %v\n%s", err, out)
	}
	l := NewTest(t, Config{Hosts: 1, Binary: bin})
	h := l.Hosts[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", h.PID())); ns != fmt.Sprintf("net:[%d]", nsInode(h.NetNS)) {
		t.Errorf("the agent runs in %s, want the host's namespace", ns)
	}
	for _, args := range [][]string{{"version"}, {"load", "-i", archive}, {"run", "-d", "--name", "c1", "busybox", "sleep", "1000"}, {"pause", "c1"}} {
		if _, err := h.Exec(ctx, bin, args...); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.cgroupPids()) == 0 {
		t.Fatal("no process in the host's containers' cgroups")
	}
	if mps, _ := mountsUnder(l.Dir); len(mps) == 0 {
		t.Fatal("the container mounted nothing under the lab dir")
	}
	if err := h.Kill9(); err != nil {
		t.Fatal(err)
	}
	if err := h.KillSupervisors(); err != nil {
		t.Fatal(err)
	}
	var refs []procRef
	for _, pid := range h.cgroupPids() {
		if r, err := refOf(pid); err == nil {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		t.Fatal("the container died with its supervisor; want it orphaned")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if r.alive() {
			t.Errorf("container process %d survives Close", r.pid)
		}
	}
	if dirs := h.cgroupDirs(); len(dirs) > 0 {
		t.Errorf("cgroups survive Close: %v", dirs)
	}
	if mps, _ := mountsUnder(l.Dir); len(mps) > 0 {
		t.Errorf("mounts survive Close: %v", mps)
	}
}
