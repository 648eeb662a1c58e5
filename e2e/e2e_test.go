package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kedge/internal/testimage"
)

// kedgeBin is the binary under test, built once by TestMain.
var kedgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kedge-e2e-bin")
	if err != nil {
		panic(err)
	}
	kedgeBin = filepath.Join(dir, "kedge")
	build := exec.Command("go", "build", "-o", kedgeBin, "kedge")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kedge: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agent is a kedge agent process with its own data dir and socket.
type agent struct {
	t       *testing.T
	dataDir string
	socket  string
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	// extra are more agent flags (set before start).
	extra []string
}

func startAgent(t *testing.T) *agent {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("end-to-end tests run real containers and need root")
	}
	dir := t.TempDir()
	a := &agent{t: t, dataDir: filepath.Join(dir, "data"), socket: filepath.Join(dir, "k.sock")}
	a.start()
	t.Cleanup(func() {
		out, _, _ := a.kedge("ps", "-aq")
		for _, id := range strings.Fields(out) {
			a.kedge("rm", "-f", id)
		}
		a.stop(syscall.SIGTERM)
	})
	return a
}

func (a *agent) start() {
	a.t.Helper()
	a.logs = &bytes.Buffer{}
	a.cmd = exec.Command(kedgeBin, append([]string{"agent", "--data-dir", a.dataDir, "--socket", a.socket}, a.extra...)...)
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, _, err := a.kedge("info"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("agent did not come up:\n%s", a.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop signals the agent and waits for it; it returns the exit error.
func (a *agent) stop(sig syscall.Signal) error {
	if a.cmd == nil || a.cmd.Process == nil {
		return nil
	}
	a.cmd.Process.Signal(sig)
	err := a.cmd.Wait()
	a.cmd = nil
	return err
}

// kedge runs the CLI against this agent.
func (a *agent) kedge(args ...string) (stdout, stderr string, err error) {
	return a.kedgeIn(nil, args...)
}

func (a *agent) kedgeIn(stdin []byte, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kedgeBin, append([]string{"-H", a.socket}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func (a *agent) importBusybox() {
	a.t.Helper()
	if out, errOut, err := a.kedgeIn(testimage.Busybox(a.t), "image", "import", "-"); err != nil {
		a.t.Fatalf("image import: %v\n%s%s", err, out, errOut)
	}
}

func TestRunExitCodesAndOutput(t *testing.T) {
	a := startAgent(t)
	a.importBusybox()
	out, errOut, err := a.kedge("run", "--rm", "busybox", "sh", "-c", "echo hello; echo warn >&2")
	if err != nil || out != "hello\n" || errOut != "warn\n" {
		t.Fatalf("run = %q %q %v; want hello on stdout, warn on stderr", out, errOut, err)
	}
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"run", "--rm", "busybox", "sh", "-c", "exit 3"}, 3},
		{[]string{"run", "--rm", "busybox", "/no/such/command"}, 127},
		{[]string{"run", "--rm", "busybox", "/etc/passwd"}, 126},
		{[]string{"run", "--rm", "--bogus-flag", "busybox", "true"}, 125},
		{[]string{"run", "--rm", "no-such-image:1", "true"}, 125},
		{[]string{"run", "--rm", "--memory", "lots", "busybox", "true"}, 125},
	}
	for _, c := range cases {
		_, errOut, err := a.kedge(c.args...)
		if got := exitCode(err); got != c.code {
			t.Errorf("kedge %s: exit %d, want %d (stderr %q)", strings.Join(c.args, " "), got, c.code, errOut)
		}
	}
	if out, _, _ := a.kedge("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("--rm left containers: %q", out)
	}
}

func TestDetachedLifecycle(t *testing.T) {
	a := startAgent(t)
	a.importBusybox()
	out, errOut, err := a.kedge("run", "-d", "--name", "web", "busybox", "sh", "-c", "echo started; exec sleep 300")
	if err != nil {
		t.Fatalf("run -d: %v %s", err, errOut)
	}
	if id := strings.TrimSpace(out); len(id) != 64 {
		t.Fatalf("run -d printed %q, want the container id", out)
	}
	psOut, _, _ := a.kedge("ps", "-o", "json")
	var list []struct {
		Name  string `json:"name"`
		State struct {
			Running bool `json:"running"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(psOut), &list); err != nil || len(list) != 1 || list[0].Name != "web" || !list[0].State.Running {
		t.Fatalf("ps -o json = %s (%v)", psOut, err)
	}
	waitFor(t, "the log line", 10*time.Second, func() bool {
		out, _, _ := a.kedge("logs", "web")
		return out == "started\n"
	})
	if out, _, err := a.kedge("exec", "web", "cat", "/etc/hostname"); err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("exec = %q %v", out, err)
	}
	if _, _, err := a.kedge("exec", "web", "sh", "-c", "exit 9"); exitCode(err) != 9 {
		t.Fatalf("exec exit = %d, want 9", exitCode(err))
	}
	// A container killed by signal n exits 128+n, and wait prints it.
	if _, _, err := a.kedge("run", "-d", "--name", "victim", "busybox", "sleep", "300"); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := a.kedge("kill", "-s", "KILL", "victim"); err != nil {
		t.Fatalf("kill: %v %s", err, errOut)
	}
	if out, _, _ := a.kedge("wait", "victim"); strings.TrimSpace(out) != "137" {
		t.Fatalf("wait after kill -s KILL printed %q, want 137", out)
	}
	if _, errOut, err := a.kedge("stop", "-t", "1", "web"); err != nil {
		t.Fatalf("stop: %v %s", err, errOut)
	}
	out, _, _ = a.kedge("inspect", "web")
	if !strings.Contains(out, `"exit_code": 137`) && !strings.Contains(out, `"exit_code":137`) && !strings.Contains(out, `"exit_code": 143`) {
		t.Fatalf("inspect after stop: %s", out)
	}
	if _, _, err := a.kedge("rm", "web"); err != nil {
		t.Fatalf("rm: %v", err)
	}
	if _, _, err := a.kedge("inspect", "web"); exitCode(err) == 0 {
		t.Fatal("inspect of a removed container succeeded")
	}
}

// kill -9 of the agent touches no container; a new agent adopts it.
func TestAgentKill9KeepsContainers(t *testing.T) {
	a := startAgent(t)
	a.importBusybox()
	if _, errOut, err := a.kedge("run", "-d", "--name", "keep", "busybox", "sleep", "300"); err != nil {
		t.Fatalf("run: %v %s", err, errOut)
	}
	pidOf := func() string {
		out, _, _ := a.kedge("inspect", "keep")
		var c []struct {
			State struct{ Pid int } `json:"state"`
		}
		if err := json.Unmarshal([]byte(out), &c); err != nil || len(c) != 1 {
			t.Fatalf("inspect output %q: %v", out, err)
		}
		return fmt.Sprint(c[0].State.Pid)
	}
	before := pidOf()
	a.stop(syscall.SIGKILL)
	a.start()
	if after := pidOf(); after != before || after == "0" {
		t.Fatalf("container pid %s before, %s after the agent's kill -9", before, after)
	}
	if out, _, _ := a.kedge("ps", "-q"); len(strings.Fields(out)) != 1 {
		t.Fatalf("ps after restart: %q", out)
	}
	// SIGTERM stops the agent cleanly and leaves the container running.
	if err := a.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit on SIGTERM: %v", err)
	}
	a.start()
	if after := pidOf(); after != before {
		t.Fatalf("container pid changed across a clean agent stop: %s -> %s", before, after)
	}
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two agents on one host, each with its own data dir and socket, do not see
// or disturb each other's containers (the cluster lab runs several per host).
func TestTwoAgentsOnOneHost(t *testing.T) {
	a, b := startAgent(t), startAgent(t)
	a.importBusybox()
	b.importBusybox()
	for _, ag := range []*agent{a, b} {
		if _, errOut, err := ag.kedge("run", "-d", "--name", "same", "busybox", "sleep", "300"); err != nil {
			t.Fatalf("run in %s: %v %s", ag.dataDir, err, errOut)
		}
	}
	idA, _, _ := a.kedge("ps", "-q", "--no-trunc")
	idB, _, _ := b.kedge("ps", "-q", "--no-trunc")
	if len(strings.Fields(idA)) != 1 || len(strings.Fields(idB)) != 1 || idA == idB {
		t.Fatalf("each agent must list only its own container: %q vs %q", idA, idB)
	}
	if _, _, err := a.kedge("rm", "-f", "same"); err != nil {
		t.Fatal(err)
	}
	out, _, _ := b.kedge("ps", "-q")
	if len(strings.Fields(out)) != 1 {
		t.Fatalf("removing agent A's container touched agent B's: %q", out)
	}
	if out, _, err := b.kedge("exec", "same", "echo", "alive"); err != nil || out != "alive\n" {
		t.Fatalf("agent B's container after A's rm: %q %v", out, err)
	}
}

func TestRunWithStdinAndVersion(t *testing.T) {
	a := startAgent(t)
	a.importBusybox()
	out, errOut, err := a.kedgeIn([]byte("line one\nline two\n"), "run", "--rm", "-i", "busybox", "cat")
	if err != nil || out != "line one\nline two\n" {
		t.Fatalf("run -i with piped stdin = %q %q %v", out, errOut, err)
	}
	out, _, err = a.kedgeIn([]byte("x\n"), "run", "--rm", "-i", "--entrypoint", "", "busybox", "wc", "-l")
	if err != nil || strings.TrimSpace(out) != "1" {
		t.Fatalf("--entrypoint \"\" with a command = %q %v", out, err)
	}
	out, _, err = a.kedge("version")
	if err != nil || !strings.Contains(out, "Server:") || strings.Count(out, "go1.") < 2 {
		t.Fatalf("version must show the client and the agent: %q %v", out, err)
	}
}
