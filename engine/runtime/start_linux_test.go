//go:build linux

package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestStartEcho(t *testing.T) {
	needRoot(t)
	out, st := sh(t, "echo hello; echo $$; hostname")
	if st.Code != 0 {
		t.Fatalf("exit %d, output %q", st.Code, out)
	}
	if out != "hello\n1\nbox\n" {
		t.Fatalf("output %q, want hello, pid 1, hostname box", out)
	}
}

func TestStartUserGroupsCwdEnvRlimits(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "sh", "-c", "id; pwd; echo $FOO; ulimit -n; grep CapEff /proc/self/status")
	spec.Process.User = specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{29, 44}}
	spec.Process.Cwd = "/work/dir"
	spec.Process.Env = append(spec.Process.Env, "FOO=bar")
	spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 321, Hard: 654}}
	out, st := run(t, newConfig(t, spec))
	if st.Code != 0 {
		t.Fatalf("exit %d: %s", st.Code, out)
	}
	for _, want := range []string{
		"uid=65534(nobody) gid=65534(nogroup) groups=29(audio),44(video)\n",
		"/work/dir\n", "bar\n", "321\n", "CapEff:\t0000000000000000\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestExitCodeAndSignal(t *testing.T) {
	needRoot(t)
	if _, st := sh(t, "exit 42"); st.Code != 42 || st.Signal != 0 {
		t.Errorf("exit %+v, want code 42", st)
	}
	spec := testSpec(t, busyboxRootfs(t), "sleep", "30")
	p, err := Start(context.Background(), newConfig(t, spec), Stdio{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(); err != nil || st.Code != 137 || st.Signal != syscall.SIGKILL {
		t.Errorf("killed container: %+v %v, want 137 and SIGKILL", st, err)
	}
}

func TestReadonlyRootSysctlAndHostNetwork(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "sh", "-c", `
touch /x 2>/dev/null && echo root=rw || echo root=ro
touch /tmp/y && echo tmp=rw
cat /proc/sys/kernel/shmmni
readlink /proc/self/ns/net`)
	spec.Root.Readonly = true
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=1777"}})
	spec.Linux.Sysctl = map[string]string{"kernel.shmmni": "1234"}
	// --network host: no network namespace entry.
	spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
		return ns.Type == specs.NetworkNamespace
	})
	out, st := run(t, newConfig(t, spec))
	if st.Code != 0 {
		t.Fatalf("exit %d: %s", st.Code, out)
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	for _, want := range []string{"root=ro\n", "tmp=rw\n", "1234\n", hostNet + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	bad := testSpec(t, busyboxRootfs(t), "true")
	bad.Linux.Sysctl = map[string]string{"vm.swappiness": "1"}
	if _, err := Start(context.Background(), newConfig(t, bad), Stdio{}); err == nil || !strings.Contains(err.Error(), "not namespaced") {
		t.Errorf("a host sysctl was not refused clearly: %v", err)
	}
}

func TestConsole(t *testing.T) {
	needRoot(t)
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptm.Close()
	spec := testSpec(t, busyboxRootfs(t), "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo is-a-tty; ps -o pid,tty | head -3")
	cfg := newConfig(t, spec)
	p, err := Start(context.Background(), cfg, Stdio{Console: pts})
	pts.Close()
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&buf, ptm)
	}()
	if st, err := p.Wait(); err != nil || st.Code != 0 {
		t.Fatalf("exit %+v %v", st, err)
	}
	<-done
	if !strings.Contains(buf.String(), "is-a-tty") {
		t.Errorf("console output %q", buf.String())
	}
}

func TestStartCancelledLeavesNothing(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "true")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	kidsBefore := len(childPids(t))
	if _, err := Start(ctx, newConfig(t, spec), Stdio{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("start with a cancelled context: %v", err)
	}
	if _, err := os.Stat(filepath.Join(defaultCgroupRoot, "memory", spec.Linux.CgroupsPath)); err == nil {
		t.Error("cgroup left behind")
	}
	if kids := childPids(t); len(kids) > kidsBefore {
		t.Errorf("child processes left: %v", kids)
	}
}

func TestOOMScoreAdjAndExecConsole(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "sh", "-c", "cat /proc/self/oom_score_adj; echo > /tmp/ready; while [ ! -e /tmp/stop ]; do usleep 10000; done")
	adj := 500
	spec.Process.OOMScoreAdj = &adj
	cfg := newConfig(t, spec)
	out := outFile(t)
	p, err := Start(context.Background(), cfg, Stdio{Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = os.WriteFile(filepath.Join(spec.Root.Path, "tmp/stop"), nil, 0o644)
		_, _ = p.Wait()
		if got := readOut(t, out); got != "500\n" {
			t.Errorf("oom_score_adj %q, want 500", got)
		}
	}()
	waitFor(t, "the container to start", func() bool {
		_, err := os.Stat(filepath.Join(spec.Root.Path, "tmp/ready"))
		return err == nil
	})
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptm.Close()
	proc := *spec.Process
	proc.Args = []string{"sh", "-c", "[ -t 0 ] && echo exec-tty"}
	e, err := Exec(context.Background(), cfg, p.Pid, &proc, Stdio{Console: pts})
	pts.Close()
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&buf, ptm)
	}()
	if st, err := e.Wait(); err != nil || st.Code != 0 {
		t.Fatalf("exec exit %+v %v", st, err)
	}
	<-done
	if !strings.Contains(buf.String(), "exec-tty") {
		t.Errorf("exec console output %q", buf.String())
	}
}

func TestBindMountsFileAndDirectory(t *testing.T) {
	needRoot(t)
	hostDir := t.TempDir()
	hostFile := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hostFile, []byte("10.0.0.1 db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := testSpec(t, busyboxRootfs(t), "sh", "-c", `
cat /etc/hosts
echo data > /data/file && echo dir=rw
(echo x >> /etc/hosts) 2>/dev/null && echo file=rw || echo file=ro
stat -c %a /scratch`)
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: hostFile, Options: []string{"rbind", "ro", "nosuid", "nodev"}},
		specs.Mount{Destination: "/data", Type: "bind", Source: hostDir, Options: []string{"rbind", "rw", "noexec"}},
		specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=710"}},
	)
	out, st := run(t, newConfig(t, spec))
	if st.Code != 0 {
		t.Fatalf("exit %d: %s", st.Code, out)
	}
	if out != "10.0.0.1 db\ndir=rw\nfile=ro\n710\n" {
		t.Errorf("output %q", out)
	}
	if data, err := os.ReadFile(filepath.Join(hostDir, "file")); err != nil || string(data) != "data\n" {
		t.Errorf("write through the bind mount: %q %v", data, err)
	}
}

func TestConcurrentStarts(t *testing.T) {
	needRoot(t)
	const n = 4
	cfgs := make([]*Config, n)
	outs := make([]*os.File, n)
	for i := range cfgs {
		cfgs[i] = newConfig(t, testSpec(t, busyboxRootfs(t), "sh", "-c", "ls /proc/1/fd; hostname"))
		cfgs[i].Spec.Hostname = fmt.Sprintf("box%d", i)
		outs[i] = outFile(t)
	}
	errs := make(chan error, n)
	for i := range cfgs {
		go func() {
			p, err := Start(context.Background(), cfgs[i], Stdio{Stdout: outs[i], Stderr: outs[i]})
			if err == nil {
				_, err = p.Wait()
			}
			errs <- err
		}()
	}
	for range cfgs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range cfgs {
		if got, want := readOut(t, outs[i]), fmt.Sprintf("0\n1\n2\nbox%d\n", i); got != want {
			t.Errorf("container %d: %q, want %q (a descriptor of a sibling leaked?)", i, got, want)
		}
	}
}

// TestJoinNamespacesByPath is the pod shape: a second container joins the
// first one's network, IPC, UTS and pid namespaces by path.
func TestJoinNamespacesByPath(t *testing.T) {
	needRoot(t)
	_, sandbox := startSleeperNamed(t, "pod")
	spec := testSpec(t, busyboxRootfs(t), "sh", "-c", "hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; grep -c /tmp/stop /proc/1/cmdline")
	for i, ns := range spec.Linux.Namespaces {
		switch ns.Type {
		case specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.PIDNamespace:
			_, name, _ := nsFlag(ns.Type)
			spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/%s", sandbox.Pid, name)
		}
	}
	spec.Hostname = ""
	out, st := run(t, newConfig(t, spec))
	if st.Code != 0 {
		t.Fatalf("exit %d: %s", st.Code, out)
	}
	netns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", sandbox.Pid))
	ipcns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", sandbox.Pid))
	want := "pod\n" + netns + "\n" + ipcns + "\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("joined container sees %q, want prefix %q", out, want)
	}
	// Its pid 1 is the sandbox's shell: one pid namespace.
	if !strings.HasSuffix(out, "\n1\n") {
		t.Errorf("pid namespace not shared: %q", out)
	}
}
