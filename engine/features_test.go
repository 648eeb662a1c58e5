//go:build linux

package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"kedge/api"
	"kedge/internal/testimage"
	"kedge/net/dns"
)

func TestUserMountsAndReadOnlyRootfs(t *testing.T) {
	te := newTestEngine(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "in.txt"), []byte("from host\n"), 0o644)
	code, out, errOut := te.runToExit(api.ContainerConfig{
		User: "app",
		Cmd:  sh(`id -u; id -g; cat /host/in.txt; echo w > /scratch/f && echo tmpfs-ok; touch /rootfile 2>/dev/null || echo rootfs-ro; grep ' /scratch ' /proc/mounts | cut -d' ' -f3`),
		Mounts: []api.Mount{
			{Type: "bind", Source: host, Target: "/host", ReadOnly: true},
			{Type: "tmpfs", Target: "/scratch", TmpfsSize: 1 << 20, TmpfsMode: 0o1777},
		},
		Security: api.Security{ReadOnlyRootfs: true},
	})
	want := "1000\n1000\nfrom host\ntmpfs-ok\nrootfs-ro\ntmpfs\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, out %q (stderr %q), want %q", code, out, errOut, want)
	}
}

func TestInitReapsAndForwardsSignals(t *testing.T) {
	te := newTestEngine(t)
	// The init runs inside the container, so it must be the static kedge
	// binary, not this (possibly cgo-linked) test binary.
	te.Close()
	te.initBinary = staticKedge(t)
	te.open()
	id := te.run(api.ContainerConfig{Init: true, Cmd: sh("trap 'exit 0' TERM; touch /tmp/trap-set; while true; do sleep 0.05; done")})
	waitForFile(t, te, id, "/tmp/trap-set")
	var out bytes.Buffer
	if code, err := te.Exec(context.Background(), id, &api.ExecConfig{Cmd: sh("cat /proc/1/cmdline | tr '\\0' ' '")}, ExecIO{Stdout: &out}); err != nil || code != 0 {
		t.Fatalf("exec: %d %v", code, err)
	}
	if !strings.HasPrefix(out.String(), "/sbin/kedge-init") {
		t.Fatalf("pid 1 is %q, want kedge-init", out.String())
	}
	ten := 10
	start := time.Now()
	if err := te.Stop(context.Background(), id, &ten); err != nil {
		t.Fatal(err)
	}
	if c := mustInspect(t, te, id); c.State.ExitCode != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("stop through the init: exit %d after %v; want the TERM forwarded and exit 0", c.State.ExitCode, time.Since(start))
	}
}

var (
	staticOnce sync.Once
	staticPath string
	staticErr  error
)

// staticKedge builds the kedge binary with CGO_ENABLED=0, once per test run.
func staticKedge(t *testing.T) string {
	staticOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kedge-static")
		if err != nil {
			staticErr = err
			return
		}
		staticPath = filepath.Join(dir, "kedge")
		cmd := exec.Command("go", "build", "-o", staticPath, "kedge")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if staticErr != nil {
		t.Fatalf("build a static kedge: %v", staticErr)
	}
	return staticPath
}

func TestPauseTopStats(t *testing.T) {
	te := newTestEngine(t)
	id := te.run(api.ContainerConfig{Cmd: []string{"sleep", "60"}, Resources: api.Resources{Memory: 32 << 20}})
	ctx := context.Background()
	top, err := te.Top(id)
	if err != nil || len(top.Processes) != 1 || !strings.Contains(top.Processes[0][4], "sleep 60") {
		t.Fatalf("top = %+v %v", top, err)
	}
	st, err := te.Stats(id)
	if err != nil || st.MemoryLimit != 32<<20 || st.PidsCurrent != 1 {
		t.Fatalf("stats = %+v %v; want the 32 MiB limit and 1 pid", st, err)
	}
	if err := te.Pause(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if c := mustInspect(t, te, id); c.State.Status != api.StatePaused {
		t.Fatalf("status after pause: %s", c.State.Status)
	}
	if fs, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", te.cgroupParent(), id, "freezer.state")); err == nil {
		if strings.TrimSpace(string(fs)) != "FROZEN" {
			t.Fatalf("freezer.state = %q after pause, want FROZEN", fs)
		}
	} else if fs, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", te.cgroupParent(), id, "cgroup.freeze")); err != nil || strings.TrimSpace(string(fs)) != "1" {
		t.Fatalf("no frozen cgroup after pause: %q %v", fs, err)
	}
	if err := te.Pause(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if c := mustInspect(t, te, id); c.State.Status != api.StateRunning {
		t.Fatalf("status after unpause: %s", c.State.Status)
	}
}

func TestCopyInAndOut(t *testing.T) {
	te := newTestEngine(t)
	id := te.run(api.ContainerConfig{Cmd: []string{"sleep", "60"}})
	ctx := context.Background()
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	body := "copied in\n"
	tw.WriteHeader(&tar.Header{Name: "sub/file.txt", Mode: 0o640, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	// A hostile entry: it must land inside the container, not on the host.
	tw.WriteHeader(&tar.Header{Name: "../../../../../../tmp/kedge-escape-test", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	if err := te.CopyTo(ctx, id, "/data", &in); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/tmp/kedge-escape-test"); err == nil {
		os.Remove("/tmp/kedge-escape-test")
		t.Fatal("a ../ entry escaped the container")
	}
	var out bytes.Buffer
	if code, _ := te.Exec(ctx, id, &api.ExecConfig{Cmd: []string{"cat", "/data/sub/file.txt"}}, ExecIO{Stdout: &out}); code != 0 || out.String() != body {
		t.Fatalf("file copied in reads %q", out.String())
	}
	var arch bytes.Buffer
	if err := te.CopyFrom(ctx, id, "/data/sub", &arch); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&arch)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "sub/file.txt" {
			b, _ := io.ReadAll(tr)
			found = string(b) == body
		}
	}
	if !found {
		t.Fatal("copy out lacks sub/file.txt")
	}
	// From a stopped container too.
	zero := 0
	te.Stop(ctx, id, &zero)
	arch.Reset()
	if err := te.CopyFrom(ctx, id, "/data/sub/file.txt", &arch); err != nil {
		t.Fatalf("copy from a stopped container: %v", err)
	}
}

func TestHealthcheckMarksHealthy(t *testing.T) {
	te := newTestEngine(t)
	id := te.run(api.ContainerConfig{Cmd: []string{"sleep", "60"}, Healthcheck: &api.HealthConfig{Test: []string{"CMD-SHELL", "test -e /tmp/ready"}, Interval: 100 * time.Millisecond, Retries: 2}})
	waitFor(t, "unhealthy", 10*time.Second, func() bool {
		h := mustInspect(t, te, id).State.Health
		return h != nil && h.Status == "unhealthy"
	})
	te.Exec(context.Background(), id, &api.ExecConfig{Cmd: []string{"touch", "/tmp/ready"}}, ExecIO{})
	waitFor(t, "healthy", 10*time.Second, func() bool {
		h := mustInspect(t, te, id).State.Health
		return h != nil && h.Status == "healthy"
	})
}

func TestManyLayerImage(t *testing.T) {
	te := newTestEngine(t)
	var layers [][]byte
	for i := 0; i < 70; i++ {
		layers = append(layers, testimageLayer(t, i))
	}
	importMany(t, te, layers)
	code, out, errOut := te.runToExit(api.ContainerConfig{Image: "many:test", Cmd: sh("cat /layers/69 /layers/0")})
	if code != 0 || out != "69\n0\n" {
		t.Fatalf("70-layer image: exit %d, %q %q", code, out, errOut)
	}
}

// The supervisor, whose forks enter containers on exec, runs the kedge
// binary from a read-only mount: nothing in a container can write the host's
// binary through /proc/PID/exe (CVE-2019-5736), even via a `#!/proc/self/exe`
// script run by exec.
func TestSupervisorBinaryIsReadOnly(t *testing.T) {
	te := newTestEngine(t)
	id := te.run(api.ContainerConfig{Cmd: []string{"sleep", "60"}})
	pid := mustInspect(t, te, id).State.Pid
	st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	ppid := ""
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			ppid = strings.TrimSpace(v)
		}
	}
	var fs unix.Statfs_t
	if err := unix.Statfs("/proc/"+ppid+"/exe", &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Flags&unix.ST_RDONLY == 0 {
		t.Fatalf("supervisor %s runs its binary from a writable mount (flags %#x)", ppid, fs.Flags)
	}
}

// Flags as a user checks them from inside the container.
func TestFlagsSeenFromInside(t *testing.T) {
	te := newTestEngine(t)
	cases := []struct {
		name string
		cfg  api.ContainerConfig
		want []string
	}{
		{"cap-drop ALL", api.ContainerConfig{Security: api.Security{CapDrop: []string{"ALL"}}, Cmd: sh("grep CapEff /proc/self/status")}, []string{"CapEff:\t0000000000000000"}},
		{"cap-add NET_ADMIN", api.ContainerConfig{Security: api.Security{CapAdd: []string{"NET_ADMIN"}}, Cmd: sh("grep CapEff /proc/self/status")}, []string{"CapEff:\t00000000a80435fb"}},
		{"privileged", api.ContainerConfig{Security: api.Security{Privileged: true}, Cmd: sh("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")}, []string{"Seccomp:\t0", "NoNewPrivs:\t0"}},
		{"seccomp unconfined, nnp off", api.ContainerConfig{Security: api.Security{SecurityOpt: []string{"seccomp=unconfined", "no-new-privileges=false"}}, Cmd: sh("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")}, []string{"Seccomp:\t0", "NoNewPrivs:\t0"}},
		{"device", api.ContainerConfig{Security: api.Security{Devices: []api.Device{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", Permissions: "rwm"}}}, Cmd: sh("ls -l /dev/mynull; echo x > /dev/mynull && echo wrote")}, []string{"1,   3", "wrote"}},
		{"sysctl", api.ContainerConfig{Security: api.Security{Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}}, Cmd: sh("cat /proc/sys/net/ipv4/ip_forward")}, []string{"1"}},
		{"shm-size", api.ContainerConfig{Resources: api.Resources{ShmSize: 8 << 20}, Cmd: sh("df -k /dev/shm | tail -1")}, []string{" 8192 "}},
		{"ulimit", api.ContainerConfig{Resources: api.Resources{Ulimits: []api.Ulimit{{Name: "nofile", Soft: 512, Hard: 1024}}}, Cmd: sh("ulimit -n; ulimit -Hn")}, []string{"512\n1024"}},
		{"env, workdir, hostname", api.ContainerConfig{Env: []string{"GREETING=hi"}, WorkingDir: "/tmp/work", Hostname: "box", Cmd: sh("echo $GREETING; pwd; hostname")}, []string{"hi\n/tmp/work\nbox"}},
	}
	for _, c := range cases {
		code, out, errOut := te.runToExit(c.cfg)
		for _, w := range c.want {
			if code != 0 || !strings.Contains(out, w) {
				t.Errorf("%s: exit %d, out %q, stderr %q; want %q", c.name, code, out, errOut, w)
			}
		}
	}
}

// dockerArchive builds a docker-save archive of one layer with a Docker
// image config (which, unlike OCI's, carries HEALTHCHECK).
func dockerArchive(t *testing.T, ref string, layer []byte, config map[string]any) []byte {
	t.Helper()
	diff := sha256.Sum256(layer)
	diffID := "sha256:" + hex.EncodeToString(diff[:])
	cfg, _ := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH, "os": "linux", "config": config,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	cfgSum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{ref}, "Layers": []string{"layer.tar"}}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"layer.tar", layer}, {cfgName, cfg}, {"manifest.json", manifest}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
		tw.Write(f.data)
	}
	tw.Close()
	return buf.Bytes()
}

// An image's HEALTHCHECK and STOPSIGNAL apply to its containers.
func TestImageHealthcheckAndStopSignal(t *testing.T) {
	te := newTestEngine(t)
	archive := dockerArchive(t, "hc:test", testimage.BusyboxLayer(t), map[string]any{
		"Env":        testimage.DefaultEnv,
		"Cmd":        []string{"sh", "-c", "trap 'exit 7' USR1; touch /tmp/trap-set; while true; do sleep 0.05; done"},
		"StopSignal": "SIGUSR1",
		"Healthcheck": map[string]any{
			"Test": []string{"CMD-SHELL", "test -e /tmp/trap-set"}, "Interval": int64(100 * time.Millisecond), "Retries": 1,
		},
	})
	if _, err := te.images.Import(context.Background(), bytes.NewReader(archive)); err != nil {
		t.Fatal(err)
	}
	id := te.run(api.ContainerConfig{Image: "hc:test"})
	waitFor(t, "healthy from the image's HEALTHCHECK", 10*time.Second, func() bool {
		h := mustInspect(t, te, id).State.Health
		return h != nil && h.Status == "healthy"
	})
	ten := 10
	if err := te.Stop(context.Background(), id, &ten); err != nil {
		t.Fatal(err)
	}
	if c := mustInspect(t, te, id); c.State.ExitCode != 7 {
		t.Fatalf("stop used exit %d: want the image's STOPSIGNAL (SIGUSR1, trapped to exit 7)", c.State.ExitCode)
	}
}

// A full disk is a clear error that leaves nothing half-written.
func TestFullDiskImportIsCleanError(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	e, err := New(context.Background(), Options{DataDir: dir, RunDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.images.Import(context.Background(), bytes.NewReader(testimage.Busybox(t)))
	if err == nil {
		t.Fatal("importing a 2 MB image into 1 MB of disk succeeded")
	}
	if !strings.Contains(err.Error(), "space") && !strings.Contains(err.Error(), "disk") {
		t.Errorf("error does not say the disk is full: %v", err)
	}
	if imgs, _ := e.images.List(); len(imgs) != 0 {
		t.Errorf("a failed import left images: %v", imgs)
	}
	var left []string
	filepath.Walk(filepath.Join(dir, "image"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasSuffix(p, ".db") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("a failed import left files: %v", left)
	}
}

// Containers that share a network namespace (a pod) reach each other on
// localhost; one that shares the IPC namespace sees the other's queues.
func TestSharedNetworkAndIPCNamespaces(t *testing.T) {
	te := newTestEngine(t)
	server := te.run(api.ContainerConfig{Name: "server", Cmd: sh("mkdir -p /www && echo pod-ok > /www/index.html && touch /tmp/trap-set && exec httpd -f -p 127.0.0.1:8080 -h /www")})
	waitForFile(t, te, server, "/tmp/trap-set")
	waitFor(t, "the pod neighbour to reach the server on localhost", 10*time.Second, func() bool {
		c, o, _ := te.runToExit(api.ContainerConfig{NetworkMode: "container:server", Cmd: sh("wget -qO- http://127.0.0.1:8080/index.html")})
		return c == 0 && o == "pod-ok\n"
	})
	if c, _, e := te.runToExit(api.ContainerConfig{Cmd: sh("wget -qO- http://127.0.0.1:8080/index.html")}); c == 0 || !strings.Contains(e, "refused") {
		t.Fatalf("a container outside the pod: exit %d, %q; want connection refused on its own localhost", c, e)
	}
	srv := mustInspect(t, te, server)
	var a, b bytes.Buffer
	te.Exec(context.Background(), server, &api.ExecConfig{Cmd: []string{"readlink", "/proc/self/ns/ipc"}}, ExecIO{Stdout: &a})
	_, nb, _ := te.runToExit(api.ContainerConfig{IpcMode: "container:server", Cmd: []string{"readlink", "/proc/self/ns/ipc"}})
	b.WriteString(nb)
	if a.String() == "" || a.String() != b.String() {
		t.Fatalf("--ipc container:server: ipc namespaces %q vs %q", a.String(), b.String())
	}
	if _, err := te.Create(context.Background(), &api.ContainerConfig{Image: busybox, Cmd: []string{"true"}, NetworkMode: "container:"}); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("--network container: with no name = %v, want ErrInvalid", err)
	}
	zero := 0
	te.Stop(context.Background(), srv.ID, &zero)
	resp, err := te.Create(context.Background(), &api.ContainerConfig{Image: busybox, Cmd: []string{"true"}, NetworkMode: "container:server"})
	if err != nil {
		t.Fatal(err)
	}
	if err := te.Start(context.Background(), resp.ID); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("joining a stopped container = %v, want ErrConflict", err)
	}
}

// A container's resolv.conf names the host's real upstream servers, never a
// loopback stub it could not reach from its own network namespace.
func TestResolvConfHasRealUpstreams(t *testing.T) {
	te := newTestEngine(t)
	ups, err := dns.HostUpstreams()
	if err != nil || len(ups) == 0 {
		t.Skipf("this host has no usable upstream DNS server to compare with: %v", err)
	}
	_, out, _ := te.runToExit(api.ContainerConfig{Cmd: []string{"cat", "/etc/resolv.conf"}})
	for _, u := range ups {
		if !strings.Contains(out, "nameserver "+u) {
			t.Errorf("resolv.conf lacks the host's upstream %s:\n%s", u, out)
		}
	}
	if strings.Contains(out, "nameserver 127.") {
		t.Errorf("resolv.conf names a loopback stub:\n%s", out)
	}
}
