//go:build linux

package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/security/profile"
)

// TestMain lets the test binary serve as the container init, as the kedge
// binary does through engine/reexec.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == InitCommand {
		os.Exit(InitMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// needRoot skips tests that create real containers when not root.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs a static busybox on the host (Debian: busybox-static) to build the test rootfs")
	}
}

// busyboxRootfs builds a minimal root filesystem from the host's busybox.
func busyboxRootfs(t testing.TB) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox")
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(string(list)) {
		if name == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(root, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\naudio:x:29:\nvideo:x:44:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// testID returns a random container id.
func testID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// defaultCaps returns Docker's default capabilities, or a fixed copy of them
// while security/profile returns nothing.
func defaultCaps() []string {
	if caps := profile.DefaultCapabilities(); len(caps) > 0 {
		return caps
	}
	return []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
}

// defaultSeccomp returns Docker's default profile, or nil (with a log line)
// while security/profile cannot provide or compile it.
func defaultSeccomp(t testing.TB, caps []string) *specs.LinuxSeccomp {
	s, err := profile.DefaultSeccomp(caps)
	if err == nil {
		_, err = profile.Compile(s, "amd64")
		if err == nil {
			return s
		}
	}
	t.Logf("running without seccomp: security/profile: %v", err)
	return nil
}

// testSpec is a runc-like default spec: the six namespaces, the default
// mounts, Docker's capabilities, masked and read-only paths and seccomp.
func testSpec(t testing.TB, root string, args ...string) *specs.Spec {
	caps := defaultCaps()
	id := testID()
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: root},
		Hostname: "box",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/kedge-test-" + id[:12] + "/" + id,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			Resources:     &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			MaskedPaths:   profile.DefaultMaskedPaths(),
			ReadonlyPaths: profile.DefaultReadonlyPaths(),
			Seccomp:       defaultSeccomp(t, caps),
		},
	}
}

// newConfig wraps a spec in a Config and removes the cgroup (and its test
// parent) when the test ends.
func newConfig(t testing.TB, spec *specs.Spec) *Config {
	t.Cleanup(func() {
		if err := RemoveCgroup(spec.Linux.CgroupsPath); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
		_ = RemoveCgroup(filepath.Dir(spec.Linux.CgroupsPath))
	})
	return &Config{ID: filepath.Base(spec.Linux.CgroupsPath), Spec: spec, StateDir: t.TempDir()}
}

// outFile is a file that collects a process's output.
func outFile(t testing.TB) *os.File {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readOut(t testing.TB, f *os.File) string {
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// run starts the container, waits for it and returns its combined output.
func run(t testing.TB, cfg *Config) (string, ExitStatus) {
	t.Helper()
	out := outFile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, cfg, Stdio{Stdout: out, Stderr: out})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	st, err := p.Wait()
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return readOut(t, out), st
}

// sh runs a busybox shell script in a default container and returns its output.
func sh(t testing.TB, script string) (string, ExitStatus) {
	t.Helper()
	spec := testSpec(t, busyboxRootfs(t), "/bin/sh", "-c", script)
	return run(t, newConfig(t, spec))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// statusLine returns the value of a /proc/PID/status field in out.
func statusLine(out, field string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
