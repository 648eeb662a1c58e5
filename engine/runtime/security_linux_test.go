//go:build linux

package runtime

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Docker's 14 default capabilities as a /proc/PID/status mask.
const dockerCapMask = "00000000a80425fb"

func TestSecurityFromInside(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "/bin/sh", "-c", `
grep -E '^(CapInh|CapEff|CapBnd|CapPrm|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
echo "keys=[$(cat /proc/keys 2>&1 | head -c 20)]"
echo "acpi=[$(ls /proc/acpi 2>&1)]"
touch /sys/x 2>/dev/null && echo sys=rw || echo sys=ro
echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo procsys=rw || echo procsys=ro
echo fds-begin
ls /proc/1/fd
echo fds-end
echo "firmware=[$(ls /sys/firmware 2>&1)]"
echo "pid=$$"
echo "host=$(hostname)"
ls -l /dev/null /dev/zero /dev/ptmx /dev/fd | awk '{print $1, $NF}'
mount | grep -c ' /sys/fs/cgroup/' | sed 's/^/cgroupmounts=/'
`)
	out, st := run(t, newConfig(t, spec))
	if st.Code != 0 {
		t.Fatalf("exit %d: %s", st.Code, out)
	}
	t.Log(out)
	want := map[string]string{
		"CapInh": "0000000000000000", "CapEff": dockerCapMask, "CapBnd": dockerCapMask,
		"CapPrm": dockerCapMask, "CapAmb": "0000000000000000", "NoNewPrivs": "1",
	}
	if spec.Linux.Seccomp != nil {
		want["Seccomp"] = "2"
	}
	for k, v := range want {
		if got := statusLine(out, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, line := range []string{"firmware=[]", "keys=[]", "acpi=[]", "sys=ro", "procsys=ro", "fds-begin\n0\n1\n2\nfds-end", "pid=1", "host=box"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("output lacks %q", line)
		}
	}
	if !strings.Contains(out, "crw-rw-rw- /dev/null") || !strings.Contains(out, "pts/ptmx") {
		t.Errorf("device nodes not as expected:\n%s", out)
	}
	if strings.Contains(out, "cgroupmounts=0") {
		t.Errorf("no cgroup hierarchies mounted under /sys/fs/cgroup")
	}
}

// hashFile returns the sha256 of path.
func hashFile(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// copyTestBinary copies the running test binary so that, unlike the running
// one, it is not protected by ETXTBSY once no init runs from it.
func copyTestBinary(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kedge")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// CVE-2019-5736: a process in the container keeps trying to open the exe of
// every process it can see (for reading, to keep the file for a later write,
// and for writing) while inits re-executed from the host binary join its pid
// namespace and execs enter it; the host binary must stay unchanged.
func TestHostBinaryNotWritable(t *testing.T) {
	needRoot(t)
	binary := copyTestBinary(t)
	before := hashFile(t, binary)
	root := busyboxRootfs(t)
	spec := testSpec(t, root, "/bin/sh", "-c", `
while [ ! -e /tmp/stop ]; do
  for p in /proc/[0-9]*; do
    l=$(readlink $p/exe 2>/dev/null)
    case "$l" in ""|/bin/busybox) continue;; esac
    echo "$p $l" >> /tmp/seen
    (exec 3< $p/exe) 2>/dev/null && echo "read $p $l" >> /tmp/opened
    echo pwned 2>/dev/null >> $p/exe && echo "wrote $p $l" >> /tmp/opened
  done
done
echo done`)
	cfg := newConfig(t, spec)
	cfg.Binary = binary
	out := outFile(t)
	ctx := context.Background()
	attacker, err := Start(ctx, cfg, Stdio{Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	// Inits of other containers sharing the attacker's pid namespace.
	neighbourRoot := busyboxRootfs(t)
	for i := 0; i < 8; i++ {
		s := testSpec(t, neighbourRoot, "/bin/true")
		for j, ns := range s.Linux.Namespaces {
			if ns.Type == specs.PIDNamespace {
				s.Linux.Namespaces[j].Path = fmt.Sprintf("/proc/%d/ns/pid", attacker.Pid)
			}
		}
		c := newConfig(t, s)
		c.Binary = binary
		p, err := Start(ctx, c, Stdio{})
		if err != nil {
			t.Fatalf("start neighbour: %v", err)
		}
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		// And execs into the attacker's container.
		e, err := Exec(ctx, cfg, attacker.Pid, &specs.Process{Args: []string{"/bin/true"}, Cwd: "/", Env: spec.Process.Env,
			Capabilities: spec.Process.Capabilities, NoNewPrivileges: true}, Stdio{})
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		if _, err := e.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	stop, err := Exec(ctx, cfg, attacker.Pid, &specs.Process{Args: []string{"/bin/sh", "-c", "cat /tmp/opened 2>/dev/null; touch /tmp/stop"}, Cwd: "/", Env: spec.Process.Env}, Stdio{Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stop.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := attacker.Wait(); err != nil {
		t.Fatal(err)
	}
	got := readOut(t, out)
	if strings.Contains(got, "read ") || strings.Contains(got, "wrote ") {
		t.Errorf("container opened a foreign exe:\n%s", got)
	}
	if after := hashFile(t, binary); after != before {
		t.Fatalf("host binary changed: %s -> %s", before, after)
	}
}

// CVE-2024-21626: a cwd through /proc/self/fd/N must not reach a host
// directory through a descriptor leaked into the init.
func TestNoLeakedDirectoryAsCwd(t *testing.T) {
	needRoot(t)
	root := busyboxRootfs(t)
	for fd := 3; fd < 12; fd++ {
		spec := testSpec(t, root, "/bin/sh", "-c", "pwd; ls")
		spec.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", fd)
		out := outFile(t)
		p, err := Start(context.Background(), newConfig(t, spec), Stdio{Stdout: out, Stderr: out})
		if err != nil {
			continue // refused: good
		}
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		t.Errorf("cwd /proc/self/fd/%d was accepted; the container saw:\n%s", fd, readOut(t, out))
	}
}

// CVE-2021-30465 class: a mount destination that is a symlink in the image
// is resolved inside the rootfs, never on the host.
func TestSymlinkedMountTargetStaysInRootfs(t *testing.T) {
	needRoot(t)
	root := busyboxRootfs(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "marker"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An absolute symlink to a host path, and a relative one climbing out.
	if err := os.Symlink(hostDir, filepath.Join(root, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, hostDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../..", filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "vol"), []byte("volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := testSpec(t, root, "/bin/sh", "-c", "cat "+hostDir+"/vol; ls /up/ | grep -c . ; cat /vol2/vol")
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/abs", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/up/vol2", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
	)
	out, st := run(t, newConfig(t, spec))
	if st.Code != 0 {
		t.Fatalf("exit %d: %s", st.Code, out)
	}
	if !strings.HasPrefix(out, "volume\n") || !strings.HasSuffix(out, "volume\n") {
		t.Errorf("mounts not resolved inside the rootfs: %q", out)
	}
	// The host directory was neither mounted over nor written to.
	entries, err := os.ReadDir(hostDir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "marker" {
		t.Errorf("host directory touched: %v %v", entries, err)
	}
	if _, err := os.Stat(filepath.Join(root, hostDir)); err != nil {
		t.Errorf("mount point was not created inside the rootfs: %v", err)
	}
	if _, err := os.Stat("/vol2"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mount point created on the host's /: %v", err)
	}
}

func TestStartMissingBinaryLeavesNothing(t *testing.T) {
	needRoot(t)
	root := busyboxRootfs(t)
	kidsBefore := len(childPids(t))
	spec := testSpec(t, root, "/bin/nonexistent")
	cfg := newConfig(t, spec)
	_, err := Start(context.Background(), cfg, Stdio{})
	if !errors.Is(err, ErrExecNotFound) {
		t.Fatalf("start of a missing binary: %v, want ErrExecNotFound", err)
	}
	spec2 := testSpec(t, root, "nonexistent-in-path")
	if _, err := Start(context.Background(), newConfig(t, spec2), Stdio{}); !errors.Is(err, ErrExecNotFound) {
		t.Fatalf("start of a missing PATH command: %v, want ErrExecNotFound", err)
	}
	if err := os.WriteFile(filepath.Join(root, "noexec"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec3 := testSpec(t, root, "/noexec")
	if _, err := Start(context.Background(), newConfig(t, spec3), Stdio{}); !errors.Is(err, ErrExecPermission) {
		t.Fatalf("start of a non-executable: %v, want ErrExecPermission", err)
	}
	// No cgroup directories left.
	for _, sub := range v1Subsystems() {
		p := filepath.Join(defaultCgroupRoot, sub, spec.Linux.CgroupsPath)
		if _, err := os.Stat(p); err == nil {
			t.Errorf("cgroup %s left behind", p)
		}
	}
	// No mounts visible on the host.
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), root) {
		t.Errorf("mounts of %s left in the host's mountinfo", root)
	}
	// No child process left (the failed init is reaped).
	if kids := childPids(t); len(kids) > kidsBefore {
		t.Errorf("child processes left: %v", kids)
	}
}

// childPids lists the test process's children.
func childPids(t *testing.T) []string {
	t.Helper()
	var kids []string
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		d, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		kids = append(kids, strings.Fields(string(d))...)
	}
	return kids
}

func TestRlimitAboveHostHardLimitFails(t *testing.T) {
	needRoot(t)
	spec := testSpec(t, busyboxRootfs(t), "/bin/true")
	spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1 << 30, Hard: 1 << 30}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Start(ctx, newConfig(t, spec), Stdio{})
	if err == nil {
		var cur [2]uint64
		_ = cur
		t.Skip("this host lets root raise RLIMIT_NOFILE (CAP_SYS_RESOURCE)")
	}
	if !strings.Contains(err.Error(), "RLIMIT_NOFILE") || !strings.Contains(err.Error(), "hard limit") {
		t.Fatalf("error does not explain the rlimit: %v", err)
	}
}

func TestSealedBinary(t *testing.T) {
	needRoot(t)
	binary := copyTestBinary(t)
	f, err := SealedBinary(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_WRONLY, 0)
	if err == nil {
		w.Close()
		t.Fatal("the sealed binary opened for writing")
	}
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("opening the sealed binary for writing: %v, want EROFS", err)
	}
	// The host file itself stays writable by the host.
	if w, err := os.OpenFile(binary, os.O_WRONLY, 0); err != nil {
		t.Errorf("host copy not writable from the host: %v", err)
	} else {
		w.Close()
	}
}
