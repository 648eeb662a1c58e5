//go:build linux

package engine

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"kedge/api"
	"kedge/engine/reexec"
	"kedge/internal/testimage"
)

func TestMain(m *testing.M) {
	// The test binary is the re-exec target of the supervisor and the init.
	if code, ok := reexec.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	code := m.Run()
	if staticPath != "" {
		os.RemoveAll(filepath.Dir(staticPath))
	}
	os.Exit(code)
}

const busybox = "busybox:test"

// testEngine opens an engine on fresh directories with the busybox test image.
type testEngine struct {
	*Engine
	t       testing.TB
	dataDir string
	runDir  string
	// initBinary overrides the engine's InitBinary when set.
	initBinary string
	// bridgeSubnet overrides the engine's bridge subnet when set.
	bridgeSubnet string
}

func newTestEngine(t *testing.T) *testEngine {
	return newEngineFor(t)
}

func newBenchEngine(b *testing.B) *testEngine { return newEngineFor(b) }

func newEngineFor(t testing.TB) *testEngine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("engine tests run real containers and need root")
	}
	te := &testEngine{t: t, dataDir: t.TempDir(), runDir: t.TempDir()}
	te.open()
	testimage.BusyboxInto(t, te.images, busybox, nil)
	t.Cleanup(func() {
		if te.Engine == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, c := range te.List(true) {
			if err := te.Remove(ctx, c.ID, true, true); err != nil {
				t.Errorf("cleanup: remove %s: %v", c.Name, err)
			}
		}
		for _, p := range te.ListPods() {
			if err := te.RemovePod(ctx, p.ID, true); err != nil {
				t.Errorf("cleanup: remove pod %s: %v", p.Name, err)
			}
		}
		te.Close()
		te.assertNothingLeft()
	})
	return te
}

func (te *testEngine) open() {
	te.t.Helper()
	e, err := New(context.Background(), Options{DataDir: te.dataDir, RunDir: te.runDir, InitBinary: te.initBinary, BridgeSubnet: te.bridgeSubnet, Logger: testLogger(te.t)})
	if err != nil {
		te.t.Fatalf("open engine: %v", err)
	}
	te.Engine = e
}

// assertNothingLeft checks that no mount, cgroup or supervisor of this
// engine outlives its containers.
func (te *testEngine) assertNothingLeft() {
	t := te.t
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), te.dataDir) {
		t.Errorf("mounts left under %s:\n%s", te.dataDir, grepLines(string(mi), te.dataDir))
	}
	key := AgentKey(te.dataDir)
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, root := range roots {
		parent := filepath.Join(root, "kedge-"+key)
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("cgroup left: %s/%s", parent, e.Name())
			}
		}
		if _, err := os.Stat(parent); err == nil {
			t.Errorf("the agent's parent cgroup %s outlives its last container", parent)
			os.Remove(parent)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(te.dataDir, "containers"))
	if len(entries) > 0 {
		t.Errorf("container dirs left: %d", len(entries))
	}
	// A clean shutdown with no container left keeps no bridge or rules.
	if _, err := net.InterfaceByName("kb-" + key); err == nil {
		t.Errorf("bridge kb-%s left after a clean shutdown", key)
	}
	if conn, err := nftables.New(); err == nil {
		tables, _ := conn.ListTables()
		for _, tb := range tables {
			if tb.Name == "kedge-"+key {
				t.Errorf("nftables table %s left after a clean shutdown", tb.Name)
			}
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// run creates and starts a container and returns its id.
func (te *testEngine) run(cfg api.ContainerConfig) string {
	te.t.Helper()
	if cfg.Image == "" {
		cfg.Image = busybox
	}
	ctx := context.Background()
	resp, err := te.Create(ctx, &cfg)
	if err != nil {
		te.t.Fatalf("create: %v", err)
	}
	if err := te.Start(ctx, resp.ID); err != nil {
		te.t.Fatalf("start: %v", err)
	}
	return resp.ID
}

// runToExit runs a container to its end and returns its exit code and logs.
func (te *testEngine) runToExit(cfg api.ContainerConfig) (int, string, string) {
	te.t.Helper()
	id := te.run(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := te.Wait(ctx, id)
	if err != nil {
		te.t.Fatalf("wait: %v", err)
	}
	stdout, stderr := te.logs(id)
	return res.StatusCode, stdout, stderr
}

func (te *testEngine) logs(id string) (string, string) {
	te.t.Helper()
	var out, errb bytes.Buffer
	err := te.Logs(context.Background(), id, api.LogsOptions{Tail: -1}, func(e api.LogEntry) error {
		if e.Stream == "stderr" {
			errb.WriteString(e.Log)
		} else {
			out.WriteString(e.Log)
		}
		return nil
	})
	if err != nil {
		te.t.Fatalf("logs: %v", err)
	}
	return out.String(), errb.String()
}

func sh(script string) []string { return []string{"sh", "-c", script} }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunLogsAndExitCodes(t *testing.T) {
	te := newTestEngine(t)
	code, out, errOut := te.runToExit(api.ContainerConfig{Cmd: sh("echo hello; echo oops >&2; exit 3")})
	if code != 3 || out != "hello\n" || errOut != "oops\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 3, hello, oops", code, out, errOut)
	}
}

func TestCommandNotFoundLeavesNothing(t *testing.T) {
	te := newTestEngine(t)
	resp, err := te.Create(context.Background(), &api.ContainerConfig{Image: busybox, Cmd: []string{"/no/such/binary"}})
	if err != nil {
		t.Fatal(err)
	}
	err = te.Start(context.Background(), resp.ID)
	if !errors.Is(err, api.ErrCommandNotFound) {
		t.Fatalf("start = %v, want ErrCommandNotFound", err)
	}
	c, _ := te.Inspect(resp.ID)
	if c.State.Running || c.State.ExitCode != 127 {
		t.Fatalf("state = %+v, want exited 127", c.State)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), resp.ID) {
		t.Fatalf("rootfs still mounted after a failed start")
	}
}

func TestHardenedDefaultsFromInside(t *testing.T) {
	te := newTestEngine(t)
	code, out, errOut := te.runToExit(api.ContainerConfig{Cmd: sh(`grep -E '^(CapEff|CapBnd|CapInh|NoNewPrivs|Seccomp):' /proc/self/status; echo pid=$$; echo host=$(hostname); cat /proc/kcore | wc -c; touch /sys/x 2>&1 | grep -q Read-only && echo sys=ro; ls /proc/self/fd | wc -l`)})
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	want := []string{
		"CapEff:\t00000000a80425fb", "CapBnd:\t00000000a80425fb", "CapInh:\t0000000000000000",
		"NoNewPrivs:\t1", "Seccomp:\t2", "pid=1", "sys=ro",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("inside view lacks %q:\n%s", w, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := lines[len(lines)-1]; got != "4" { // 0, 1, 2 and ls's own directory fd
		t.Errorf("open fds in the container: %s, want 4 (0,1,2 and ls's dir)", got)
	}
	if !strings.Contains(out, "host=") || strings.Contains(out, "host=\n") {
		t.Errorf("no hostname: %s", out)
	}
}

func TestMemoryLimitOOMKill(t *testing.T) {
	te := newTestEngine(t)
	id := te.run(api.ContainerConfig{Cmd: sh("tail /dev/zero"), Resources: api.Resources{Memory: 16 << 20}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := te.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := te.Inspect(id)
	if res.StatusCode != 137 || !c.State.OOMKilled {
		t.Fatalf("exit %d, OOMKilled %v; want 137 and true", res.StatusCode, c.State.OOMKilled)
	}
}

func TestPidsLimitStopsForkBomb(t *testing.T) {
	te := newTestEngine(t)
	limit := int64(16)
	// A child shell forks until it cannot; the parent then counts the
	// container's processes with shell builtins only (no fork left to spare).
	code, out, _ := te.runToExit(api.ContainerConfig{
		Cmd:       sh(`sh -c 'for i in $(seq 40); do sleep 30 & done' 2>/dev/null; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo procs=$n; kill -9 -1`),
		Resources: api.Resources{PidsLimit: &limit},
	})
	var procs int
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "procs=") {
			procs = atoi(strings.TrimPrefix(l, "procs="))
		}
	}
	if procs > int(limit) || procs < 8 {
		t.Fatalf("exit %d: %d processes under a pids limit of %d (want the limit to stop the loop of 40): %q", code, procs, limit, out)
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

func TestVolumePersistsAcrossContainers(t *testing.T) {
	te := newTestEngine(t)
	vol := []api.Mount{{Type: "volume", Source: "data", Target: "/data"}}
	if code, out, errOut := te.runToExit(api.ContainerConfig{Cmd: sh("echo kept > /data/f"), Mounts: vol}); code != 0 {
		t.Fatalf("writer exit %d: %s %s", code, out, errOut)
	}
	for _, c := range te.List(true) {
		if err := te.Remove(context.Background(), c.ID, false, true); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := te.runToExit(api.ContainerConfig{Cmd: sh("cat /data/f"), Mounts: vol})
	if code != 0 || out != "kept\n" {
		t.Fatalf("reader: exit %d, %q; want the volume's content", code, out)
	}
	ro := []api.Mount{{Type: "volume", Source: "data", Target: "/data", ReadOnly: true}}
	if code, _, _ := te.runToExit(api.ContainerConfig{Cmd: sh("echo x > /data/g"), Mounts: ro}); code == 0 {
		t.Fatal("write to a :ro volume succeeded")
	}
}

func TestVolumeFilledFromImage(t *testing.T) {
	te := newTestEngine(t)
	layer := testimage.TarLayer(t, map[string]string{"srv/seed.txt": "from the image\n"})
	testimage.BusyboxInto(t, te.images, "seeded:test", func(c *ocispec.ImageConfig) {}, layer)
	code, out, _ := te.runToExit(api.ContainerConfig{Image: "seeded:test", Cmd: sh("cat /srv/seed.txt"), Mounts: []api.Mount{{Type: "volume", Source: "seed", Target: "/srv"}}})
	if code != 0 || out != "from the image\n" {
		t.Fatalf("exit %d, %q: a new volume must be filled from the image", code, out)
	}
}

func TestExecSharesNamespacesAndRestrictions(t *testing.T) {
	te := newTestEngine(t)
	id := te.run(api.ContainerConfig{Cmd: []string{"sleep", "60"}, Hostname: "inside"})
	var out bytes.Buffer
	code, err := te.Exec(context.Background(), id, &api.ExecConfig{Cmd: sh(`hostname; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; ps -o pid,comm | grep -c sleep`)}, ExecIO{Stdout: &out, Stderr: &out})
	if err != nil || code != 0 {
		t.Fatalf("exec = %d, %v: %s", code, err, out.String())
	}
	for _, w := range []string{"inside\n", "CapEff:\t00000000a80425fb", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("exec view lacks %q:\n%s", w, out.String())
		}
	}
	if _, err := te.Exec(context.Background(), id, &api.ExecConfig{Cmd: []string{"/nope"}}, ExecIO{}); !errors.Is(err, api.ErrCommandNotFound) {
		t.Fatalf("exec of a missing binary = %v, want ErrCommandNotFound", err)
	}
	code, _ = te.Exec(context.Background(), id, &api.ExecConfig{Cmd: sh("exit 7")}, ExecIO{})
	if code != 7 {
		t.Fatalf("exec exit code = %d, want 7", code)
	}
}

func TestStopUsesSignalThenKill(t *testing.T) {
	te := newTestEngine(t)
	// The shell ignores SIGTERM: stop must fall back to SIGKILL after the timeout.
	id := te.run(api.ContainerConfig{Cmd: sh("trap '' TERM; touch /tmp/trap-set; while true; do sleep 1; done")})
	waitForFile(t, te, id, "/tmp/trap-set")
	one := 1
	start := time.Now()
	if err := te.Stop(context.Background(), id, &one); err != nil {
		t.Fatal(err)
	}
	c, _ := te.Inspect(id)
	if c.State.Running || c.State.ExitCode != 137 {
		t.Fatalf("after stop: %+v, want exited 137", c.State)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("stop took %v: it did not wait for the grace period", d)
	}
	// A process that handles SIGTERM exits with its own code, fast.
	id = te.run(api.ContainerConfig{Cmd: sh("trap 'exit 42' TERM; touch /tmp/trap-set; while true; do sleep 0.1; done")})
	waitForFile(t, te, id, "/tmp/trap-set")
	ten := 10
	if err := te.Stop(context.Background(), id, &ten); err != nil {
		t.Fatal(err)
	}
	if c, _ := te.Inspect(id); c.State.ExitCode != 42 {
		t.Fatalf("after stop of a TERM handler: exit %d", c.State.ExitCode)
	}
}

func TestRemoveRunningNeedsForceAndCleansUp(t *testing.T) {
	te := newTestEngine(t)
	id := te.run(api.ContainerConfig{Cmd: []string{"sleep", "60"}})
	if err := te.Remove(context.Background(), id, false, false); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("rm of a running container = %v, want ErrConflict", err)
	}
	if err := te.Remove(context.Background(), id, true, false); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Inspect(id); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("inspect after rm = %v", err)
	}
	if _, err := os.Stat(te.containerDir(id)); !os.IsNotExist(err) {
		t.Fatalf("container dir left: %v", err)
	}
}

func TestNameClashAndBadInput(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	if _, err := te.Create(ctx, &api.ContainerConfig{Image: busybox, Name: "one", Cmd: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]api.ContainerConfig{
		"name clash":      {Image: busybox, Name: "one", Cmd: []string{"true"}},
		"unknown image":   {Image: "nope:latest", Cmd: []string{"true"}},
		"bad restart":     {Image: busybox, RestartPolicy: api.RestartPolicy{Name: "sometimes"}},
		"bad cap":         {Image: busybox, Cmd: []string{"true"}, Security: api.Security{CapAdd: []string{"CAP_FLY"}}},
		"ulimit too high": {Image: busybox, Cmd: []string{"true"}, Resources: api.Resources{Ulimits: []api.Ulimit{{Name: "nofile", Soft: 1 << 40, Hard: 1 << 40}}}},
		"relative bind":   {Image: busybox, Cmd: []string{"true"}, Mounts: []api.Mount{{Type: "bind", Source: "rel", Target: "/x"}}},
		"tiny memory":     {Image: busybox, Cmd: []string{"true"}, Resources: api.Resources{Memory: 1024}},
		"bad secopt":      {Image: busybox, Cmd: []string{"true"}, Security: api.Security{SecurityOpt: []string{"nonsense"}}},
	}
	for name, cfg := range cases {
		if _, err := te.Create(ctx, &cfg); err == nil {
			t.Errorf("%s: create succeeded", name)
		} else if !errors.Is(err, api.ErrInvalid) && !errors.Is(err, api.ErrConflict) && !errors.Is(err, api.ErrNotFound) {
			t.Errorf("%s: error %v has no API kind", name, err)
		}
	}
	if n := len(te.List(true)); n != 1 {
		t.Fatalf("%d containers after failed creates, want 1", n)
	}
}

func testimageLayer(t *testing.T, i int) []byte {
	return testimage.TarLayer(t, map[string]string{"layers/" + strconv.Itoa(i): strconv.Itoa(i) + "\n"})
}

func importMany(t *testing.T, te *testEngine, layers [][]byte) {
	testimage.BusyboxInto(t, te.images, "many:test", nil, layers...)
}

// waitForFile waits until path exists inside the running container.
func waitForFile(t *testing.T, te *testEngine, id, path string) {
	t.Helper()
	waitFor(t, path+" in the container", 10*time.Second, func() bool {
		code, _ := te.Exec(context.Background(), id, &api.ExecConfig{Cmd: []string{"test", "-e", path}}, ExecIO{})
		return code == 0
	})
}
