//go:build linux

package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kedge/api"
	"kedge/store"
)

// An agent restart neither stops nor restarts containers: the new engine
// adopts them (ps, logs, exec, stop work), and a container that ended while
// no agent ran keeps its exit code.
func TestAgentRestartAdoptsContainers(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	long := te.run(api.ContainerConfig{Name: "long", Cmd: sh("echo before; sleep 60")})
	short := te.run(api.ContainerConfig{Name: "short", Cmd: sh("read x; exit 5"), OpenStdin: true})
	before, _ := te.Inspect(long)
	shortPid := mustInspect(t, te, short).State.Pid

	te.Close() // the agent goes away; supervisors stay
	te.Engine = nil
	if err := syscall.Kill(before.State.Pid, 0); err != nil {
		t.Fatalf("container died with the agent: %v", err)
	}
	// The short one ends while no agent runs.
	syscall.Kill(shortPid, syscall.SIGKILL)
	waitFor(t, "the exit file of the container that ended", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(te.dataDir, "containers", short, "exit.json"))
		return err == nil
	})

	te.open()
	after := mustInspect(t, te, long)
	if !after.State.Running || after.State.Pid != before.State.Pid {
		t.Fatalf("after restart: running=%v pid=%d, want the same running process %d", after.State.Running, after.State.Pid, before.State.Pid)
	}
	if s := mustInspect(t, te, short); s.State.Running || s.State.ExitCode != 137 {
		t.Fatalf("container that ended meanwhile: %+v, want exited 137", s.State)
	}
	if out, _ := te.logs(long); out != "before\n" {
		t.Fatalf("logs after adoption = %q", out)
	}
	var got strings.Builder
	if code, err := te.Exec(ctx, long, &api.ExecConfig{Cmd: []string{"echo", "exec-ok"}}, ExecIO{Stdout: &got}); err != nil || code != 0 || got.String() != "exec-ok\n" {
		t.Fatalf("exec after adoption = %d %v %q", code, err, got.String())
	}
	zero := 0
	if err := te.Stop(ctx, long, &zero); err != nil {
		t.Fatal(err)
	}
	if s := mustInspect(t, te, long); s.State.Running || s.State.ExitCode != 137 {
		t.Fatalf("stop after adoption: %+v", s.State)
	}
}

// After a host reboot (supervisors gone, mounts gone, runtime dir cleared, a
// new boot id) the engine cleans up and restarts containers whose policy says so.
func TestSimulatedRebootRestartsByPolicy(t *testing.T) {
	te := newTestEngine(t)
	always := te.run(api.ContainerConfig{Name: "always", Cmd: []string{"sleep", "60"}, RestartPolicy: api.RestartPolicy{Name: "always"}})
	never := te.run(api.ContainerConfig{Name: "never", Cmd: []string{"sleep", "60"}})
	pids := []int{mustInspect(t, te, always).State.Pid, mustInspect(t, te, never).State.Pid}
	te.Close()
	te.Engine = nil
	// "Reboot": kill supervisors and containers, unmount, clear the run dir,
	// and pretend the boot id changed by editing the records.
	killSupervisors(t, te.runDir)
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGKILL)
	}
	for _, id := range []string{always, never} {
		unmountRootfs(filepath.Join(te.dataDir, "containers", id, "rootfs"))
		os.Remove(filepath.Join(te.dataDir, "containers", id, "exit.json"))
	}
	os.RemoveAll(te.runDir)
	os.MkdirAll(te.runDir, 0o700)
	setBootID(t, te.dataDir, "a-previous-boot")

	te.open()
	waitFor(t, "the always container to be restarted", 15*time.Second, func() bool {
		return mustInspect(t, te, always).State.Running
	})
	if s := mustInspect(t, te, never); s.State.Running || s.State.ExitCode != 255 {
		t.Fatalf("container without a restart policy after reboot: %+v, want exited 255", s.State)
	}
}

func TestRestartPolicyOnFailureWithLimit(t *testing.T) {
	te := newTestEngine(t)
	id := te.run(api.ContainerConfig{Cmd: sh("echo run; exit 1"), RestartPolicy: api.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}})
	waitFor(t, "two restarts", 20*time.Second, func() bool {
		c := mustInspect(t, te, id)
		return c.RestartCount == 2 && c.State.Status == api.StateExited
	})
	out, _ := te.logs(id)
	if n := strings.Count(out, "run\n"); n != 3 {
		t.Fatalf("ran %d times, want 3 (1 + 2 retries): %q", n, out)
	}
}

func mustInspect(t *testing.T, te *testEngine, id string) *api.Container {
	t.Helper()
	c, err := te.Inspect(id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// killSupervisors kills every process whose cwd or args name the run dir.
func killSupervisors(t *testing.T, runDir string) {
	t.Helper()
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid := atoi(p.Name())
		if pid <= 1 || pid == os.Getpid() {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if strings.Contains(string(cmd), "__shim") && strings.Contains(string(cmd), runDir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", p.Name(), "cwd")); err == nil && strings.HasPrefix(cwd, runDir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// setBootID rewrites the boot id stored in every container record, directly
// in the store, as if the containers had been started in another boot.
func setBootID(t *testing.T, dataDir, boot string) {
	t.Helper()
	db, err := store.Open(filepath.Join(dataDir, "kedge.db"), bucketContainers)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var recs []record
	db.ForEach(bucketContainers, func(_ string, raw []byte) error {
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		return nil
	})
	for _, r := range recs {
		r.BootID = boot
		if err := db.Put(bucketContainers, r.ID, &r); err != nil {
			t.Fatal(err)
		}
	}
}

// After an agent restart, an `always` container stopped by hand starts
// again; an `unless-stopped` one stays stopped (Docker's semantics).
func TestAlwaysVersusUnlessStoppedAcrossAgentRestart(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	always := te.run(api.ContainerConfig{Cmd: []string{"sleep", "60"}, RestartPolicy: api.RestartPolicy{Name: "always"}})
	unless := te.run(api.ContainerConfig{Cmd: []string{"sleep", "60"}, RestartPolicy: api.RestartPolicy{Name: "unless-stopped"}})
	zero := 0
	for _, id := range []string{always, unless} {
		if err := te.Stop(ctx, id, &zero); err != nil {
			t.Fatal(err)
		}
	}
	te.Close()
	te.Engine = nil
	te.open()
	waitFor(t, "the always container to start with the agent", 15*time.Second, func() bool {
		return mustInspect(t, te, always).State.Running
	})
	if mustInspect(t, te, unless).State.Running {
		t.Fatal("an unless-stopped container stopped by hand must stay stopped")
	}
}
