//go:build linux

package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// startSleeper starts a default container that waits until /tmp/stop exists.
func startSleeper(t *testing.T) (*Config, *Process) {
	t.Helper()
	return startSleeperNamed(t, "box")
}

// startSleeperNamed is startSleeper with a hostname.
func startSleeperNamed(t *testing.T, hostname string) (*Config, *Process) {
	t.Helper()
	spec := testSpec(t, busyboxRootfs(t), "/bin/sh", "-c",
		"echo $$ > /tmp/ready; while [ ! -e /tmp/stop ]; do usleep 10000; done")
	spec.Hostname = hostname
	cfg := newConfig(t, spec)
	p, err := Start(context.Background(), cfg, Stdio{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(spec.Root.Path, "tmp/stop"), nil, 0o644)
		_, _ = p.Wait()
	})
	waitFor(t, "the container to start", func() bool {
		_, err := os.Stat(filepath.Join(spec.Root.Path, "tmp/ready"))
		return err == nil
	})
	return cfg, p
}

// execProc is a process spec like Docker's exec: the container's env and caps.
func execProc(cfg *Config, args ...string) *specs.Process {
	p := *cfg.Spec.Process
	p.Args = args
	return &p
}

func execOut(t *testing.T, cfg *Config, initPid int, proc *specs.Process) (string, ExitStatus) {
	t.Helper()
	out := outFile(t)
	p, err := Exec(context.Background(), cfg, initPid, proc, Stdio{Stdout: out, Stderr: out})
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	st, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return readOut(t, out), st
}

func TestExecSeesTheContainer(t *testing.T) {
	needRoot(t)
	cfg, init := startSleeper(t)
	proc := execProc(cfg, "sh", "-c", `
hostname; cat /proc/1/cmdline | tr '\0' ' '; echo
grep -E '^(CapInh|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
pwd; ls -l /proc/self/fd
readlink /proc/self/ns/net; readlink /proc/1/ns/net
cat /proc/self/cgroup | grep memory`)
	proc.Cwd = "/tmp"
	out, st := execOut(t, cfg, init.Pid, proc)
	if st.Code != 0 {
		t.Fatalf("exit %d: %s", st.Code, out)
	}
	t.Log(out)
	lines := strings.Split(out, "\n")
	if lines[0] != "box" || !strings.HasPrefix(lines[1], "/bin/sh -c") {
		t.Errorf("exec does not see the container's hostname and pid 1:\n%s", out)
	}
	want := map[string]string{"CapInh": "0000000000000000", "CapEff": dockerCapMask, "CapBnd": dockerCapMask, "NoNewPrivs": "1"}
	if cfg.Spec.Linux.Seccomp != nil {
		want["Seccomp"] = "2"
	}
	for k, v := range want {
		if got := statusLine(out, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(out, "\n/tmp\n") {
		t.Errorf("cwd is not /tmp:\n%s", out)
	}
	for _, line := range lines {
		if f := strings.Fields(line); len(f) > 8 && strings.HasPrefix(f[0], "l") && len(f[0]) == 10 && f[8] != "0" && f[8] != "1" && f[8] != "2" && f[8] != "3" {
			t.Errorf("descriptor leaked into the exec'd process: %s", line)
		}
	}
	ns := lines[len(lines)-4 : len(lines)-2]
	if len(ns) != 2 || ns[0] != ns[1] {
		t.Errorf("exec is not in the container's network namespace: %v", ns)
	}
	if !strings.Contains(out, ":memory:/\n") {
		t.Errorf("exec is not in the container's (namespaced) memory cgroup:\n%s", out)
	}
	// The caller's other threads are untouched by the thread that forked.
	status := make(chan string, 1)
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		data, _ := os.ReadFile("/proc/thread-self/status")
		status <- string(data)
	}()
	self := <-status
	if statusLine(self, "Seccomp") != "0" || statusLine(self, "NoNewPrivs") != "0" || statusLine(self, "CapEff") == dockerCapMask {
		t.Errorf("the caller's threads got the container's restrictions:\n%s", self)
	}
}

func TestExecMissingBinary(t *testing.T) {
	needRoot(t)
	cfg, init := startSleeper(t)
	_, err := Exec(context.Background(), cfg, init.Pid, execProc(cfg, "no-such-command"), Stdio{})
	if !errors.Is(err, ErrExecNotFound) {
		t.Fatalf("exec of a missing command: %v, want ErrExecNotFound", err)
	}
	_, err = Exec(context.Background(), cfg, init.Pid, execProc(cfg, "/etc/passwd"), Stdio{})
	if !errors.Is(err, ErrExecPermission) {
		t.Fatalf("exec of a non-executable: %v, want ErrExecPermission", err)
	}
	// A process spec without capabilities gets the container's, not the
	// caller's full set.
	out, _ := execOut(t, cfg, init.Pid, &specs.Process{Args: []string{"grep", "CapBnd", "/proc/self/status"}, Cwd: "/"})
	if statusLine(out, "CapBnd") != dockerCapMask {
		t.Errorf("exec without capabilities: %q", out)
	}
}

func TestExecUserAndExitCode(t *testing.T) {
	needRoot(t)
	cfg, init := startSleeper(t)
	proc := execProc(cfg, "sh", "-c", "id; grep CapEff /proc/self/status; exit 3")
	proc.User = specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{29}}
	out, st := execOut(t, cfg, init.Pid, proc)
	if st.Code != 3 {
		t.Errorf("exit %d, want 3", st.Code)
	}
	if !strings.Contains(out, "uid=65534(nobody) gid=65534(nogroup) groups=29(audio)") {
		t.Errorf("id: %q", out)
	}
	if statusLine(out, "CapEff") != "0000000000000000" {
		t.Errorf("a non-root exec kept capabilities: %q", out)
	}
}

func TestSeccompWithoutNoNewPrivs(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; echo > /tmp/ready; while [ ! -e /tmp/stop ]; do usleep 10000; done")
	if spec.Linux.Seccomp == nil {
		t.Skip("security/profile provides no seccomp profile")
	}
	spec.Process.NoNewPrivileges = false
	spec.Process.User = specs.User{UID: 65534, GID: 65534}
	cfg := newConfig(t, spec)
	out := outFile(t)
	p, err := Start(context.Background(), cfg, Stdio{Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = os.WriteFile(filepath.Join(spec.Root.Path, "tmp/stop"), nil, 0o644)
		_, _ = p.Wait()
		if got := readOut(t, out); got != "NoNewPrivs:\t0\nSeccomp:\t2\n" {
			t.Errorf("init without no_new_privs: %q", got)
		}
	}()
	waitFor(t, "the container to start", func() bool {
		_, err := os.Stat(filepath.Join(spec.Root.Path, "tmp/ready"))
		return err == nil
	})
	got, st := execOut(t, cfg, p.Pid, execProc(cfg, "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"))
	if st.Code != 0 || got != "NoNewPrivs:\t0\nSeccomp:\t2\n" {
		t.Errorf("exec without no_new_privs: %q (exit %d)", got, st.Code)
	}
}
