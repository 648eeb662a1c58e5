//go:build linux

package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/engine/logs"
	"kedge/engine/runtime"
)

// Extra re-exec entry points of the test binary.
const (
	// fakeCommand runs the supervisor over hostRuntime.
	fakeCommand = "__shim_fake"
	// agentCommand plays the agent: it starts a supervisor, prints the
	// container's pid and blocks until killed.
	agentCommand = "__shim_test_agent"
)

// The test binary is the re-exec target of both the supervisor and the
// container init.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case runtime.InitCommand:
			os.Exit(runtime.InitMain(os.Args[2:]))
		case Command:
			os.Exit(Main(os.Args[2:]))
		case fakeCommand:
			os.Exit(run(os.Args[2:], hostRuntime{}, testLinger))
		case agentCommand:
			os.Exit(agentMain(os.Args[2:]))
		}
	}
	code := m.Run()
	if os.Geteuid() == 0 {
		runtime.RemoveCgroup(testCgroupParent())
	}
	os.Exit(code)
}

// agentMain is the fake agent: args are the options JSON and the supervisor
// command.
func agentMain(args []string) int {
	var opts Options
	if err := json.Unmarshal([]byte(args[0]), &opts); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	c, err := launch(context.Background(), opts, args[1])
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println(c.Pid())
	select {} // until killed
}

// testLinger is how long a test supervisor (host backend) waits for the
// attach that takes its held output.
const testLinger = time.Second

// backend is a way to run containers: host processes or the real runtime.
type backend struct {
	name    string
	command string
	real    bool
}

var (
	fakeBackend = backend{name: "host", command: fakeCommand}
	realBackend = backend{name: "runtime", command: Command, real: true}
)

// forEachBackend runs f against host processes and, as root, real containers.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run(fakeBackend.name, func(t *testing.T) { f(t, fakeBackend) })
	t.Run(realBackend.name, func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("real containers need root")
		}
		f(t, realBackend)
	})
}

// container is one test container and what the test needs to inspect it.
type container struct {
	t      testing.TB
	b      backend
	dir    string
	rootfs string
	opts   Options
	spec   *specs.Spec
}

// newContainer prepares a bundle running args; tweak adjusts the options.
func newContainer(t testing.TB, b backend, args []string, tweak func(*Options)) *container {
	t.Helper()
	dir := t.TempDir()
	c := &container{t: t, b: b, dir: dir, rootfs: filepath.Join(dir, "rootfs")}
	id := fmt.Sprintf("shimtest%d%d", os.Getpid(), time.Now().UnixNano())
	c.opts = Options{
		ID:          id,
		BundleDir:   filepath.Join(dir, "bundle"),
		StateDir:    filepath.Join(dir, "state"),
		ExitFile:    filepath.Join(dir, "exit.json"),
		LogPath:     filepath.Join(dir, "c.log"),
		LogMaxFiles: 1,
		Binary:      os.Args[0],
	}
	if tweak != nil {
		tweak(&c.opts)
	}
	if b.real {
		makeRootfs(t, c.rootfs)
		c.spec = containerSpec(c.rootfs, args, c.opts.Tty, "/kedge-shimtest/"+id)
	} else {
		os.MkdirAll(c.rootfs, 0o755)
		c.spec = &specs.Spec{
			Version: specs.Version,
			Root:    &specs.Root{Path: c.rootfs},
			Process: &specs.Process{Args: args, Env: []string{"PATH=/usr/bin:/bin", "TERM=xterm"}, Cwd: "/", Terminal: c.opts.Tty},
		}
	}
	c.spec.Process.Env = append(c.spec.Process.Env, "MARKER="+c.containerPath("marker"))
	os.MkdirAll(c.opts.BundleDir, 0o755)
	data, _ := json.Marshal(c.spec)
	if err := os.WriteFile(filepath.Join(c.opts.BundleDir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// containerPath is how the container names a file of its root: the fake runs
// on the host, so its "root" is the rootfs dir.
func (c *container) containerPath(name string) string {
	if c.b.real {
		return "/" + name
	}
	return filepath.Join(c.rootfs, name)
}

// start launches the supervisor and stops the container at the test's end.
func (c *container) start() (*Client, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := launch(ctx, c.opts, c.b.command)
	if err == nil {
		c.t.Cleanup(func() { c.stop(cl) })
	}
	c.t.Cleanup(func() {
		if c.t.Failed() {
			diag, _ := os.ReadFile(filepath.Join(c.opts.StateDir, logName))
			clog, _ := os.ReadFile(c.opts.LogPath)
			c.t.Logf("supervisor log:\n%s\ncontainer log:\n%s", diag, clog)
		}
	})
	return cl, err
}

func (c *container) mustStart() *Client {
	c.t.Helper()
	cl, err := c.start()
	if err != nil {
		c.t.Fatalf("start: %v", err)
	}
	return cl
}

// stop kills the container if it still runs and waits for its supervisor.
func (c *container) stop(cl *Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl.Signal(ctx, syscall.SIGKILL)
	cl.Wait(ctx)
	waitFor(c.t, "supervisor gone", func() bool { return supervisorPids(c.opts.StateDir) == nil })
}

// logEntries reads the container's whole log.
func (c *container) logEntries() []logs.Entry {
	var out []logs.Entry
	err := logs.Read(context.Background(), c.opts.LogPath, logs.ReadOptions{Tail: -1}, func(e logs.Entry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		c.t.Fatalf("read logs: %v", err)
	}
	return out
}

// supervisorPids lists live supervisor processes serving stateDir (found by
// their options argument), zombies excluded.
func supervisorPids(stateDir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	needle, _ := json.Marshal(stateDir)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), string(needle)) {
			continue
		}
		if strings.Contains(string(cmdline), agentCommand) {
			continue
		}
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if strings.Contains(string(status), "State:\tZ") {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitFor polls cond until it holds or 20 seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes buffer safe to write and read from different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent runs the fake agent in a child process, which starts the
// container's supervisor; it returns the agent and the container's pid.
func startAgent(t *testing.T, c *container) (*exec.Cmd, int) {
	t.Helper()
	opts, _ := json.Marshal(c.opts)
	cmd := exec.Command(os.Args[0], agentCommand, string(opts), c.b.command)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("agent: %q %v", line, err)
	}
	return cmd, pid
}

// copyN reads until r has produced want or it ends.
func readUntil(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("output %q (have %q)", want, buf.String()), func() bool {
		return strings.Contains(buf.String(), want)
	})
}
