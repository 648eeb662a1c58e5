package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"kedge/api"
)

var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// run drives the CLI with captured output.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = RunWithIO(append([]string{"kedge"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// noAgent is a --host where nothing listens.
func noAgent(t *testing.T) string {
	return "unix://" + filepath.Join(t.TempDir(), "none.sock")
}

func TestUsageErrorsExit125(t *testing.T) {
	host := noAgent(t)
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"run"}, "requires at least 1 argument"},
		{[]string{"run", "--bogus", "busybox"}, "flag provided but not defined"},
		{[]string{"frob"}, `"frob" is not a kedge command`},
		{[]string{"image", "frob"}, "is not a kedge image command"},
		{[]string{"ps", "-o", "yaml"}, `unknown output format "yaml"`},
		{[]string{"image", "ls", "-o", "yaml"}, "unknown output format"},
		{[]string{"images", "-o", "xml"}, "unknown output format"},
		{[]string{"volume", "ls", "-o", "csv"}, "unknown output format"},
		{[]string{"version", "-o", "yaml"}, "unknown output format"},
		{[]string{"run", "--cpus", "abc", "busybox"}, "--cpus"},
		{[]string{"run", "-v", "rel/dir:/x", "busybox"}, "must be absolute"},
		{[]string{"create", "--ulimit", "bogus=1", "busybox"}, "unknown limit name"},
		{[]string{"run", "--restart", "sometimes", "busybox"}, "--restart"},
		{[]string{"run", "--rm", "--restart", "always", "busybox"}, "conflict"},
		{[]string{"run", "--network", "bad/name", "busybox"}, "--network"},
		{[]string{"run", "--memory", "lots", "busybox"}, "--memory"},
		{[]string{"run", "--env-file", "/nonexistent/env", "busybox"}, "--env-file"},
		{[]string{"run", "--pull", "sometimes", "busybox"}, "--pull"},
		{[]string{"logs", "--tail", "x", "c"}, "--tail"},
		{[]string{"logs", "--since", "yesterday", "c"}, "--since"},
		{[]string{"logs"}, "requires exactly 1 argument"},
		{[]string{"exec", "c"}, "requires at least 2 arguments"},
		{[]string{"kill", "-s", "0", "c"}, "out of range"},
		{[]string{"cp", "a", "b"}, "one of SRC and DEST"},
		{[]string{"cp", "a:/x", "b:/y"}, "between containers"},
		{[]string{"cp", "a:", "/tmp"}, "must not be empty"},
		{[]string{"tag", "a"}, "requires exactly 2 arguments"},
		{[]string{"volume", "create", "bad/name"}, "volume name"},
		{[]string{"image", "prune"}, "nothing removed"},
		{[]string{"agent", "--config", "/nonexistent/kedge.yaml"}, "read agent config"},
		{[]string{"login", "reg.example.com"}, "no terminal"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, "", append([]string{"-H", host}, tt.args...)...)
		if code != ExitEngine {
			t.Errorf("kedge %v: exit %d, want 125 (stderr %q)", tt.args, code, stderr)
		}
		if !strings.HasPrefix(stderr, "kedge: ") || !strings.Contains(stderr, tt.want) {
			t.Errorf("kedge %v: stderr %q, want \"kedge: ...%s...\"", tt.args, stderr, tt.want)
		}
	}
}

func TestUnreachableAgent(t *testing.T) {
	code, _, stderr := run(t, "", "-H", noAgent(t), "ps")
	if code != ExitEngine || !strings.HasPrefix(stderr, "kedge: ") || !strings.Contains(stderr, "cannot reach the kedge agent") {
		t.Errorf("ps without an agent: exit %d, stderr %q", code, stderr)
	}
	t.Setenv("KEDGE_HOST", "bogus://x")
	if code, _, stderr := run(t, "", "ps"); code != ExitEngine || !strings.Contains(stderr, "bogus://x") {
		t.Errorf("KEDGE_HOST is not used: exit %d, stderr %q", code, stderr)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{}, {"--help"}, {"run", "--help"}, {"image"}, {"volume", "--help"}} {
		code, stdout, stderr := run(t, "", args...)
		if code != 0 || !strings.Contains(stdout, "USAGE") {
			t.Errorf("kedge %v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := run(t, "", "-H", noAgent(t), "version")
	if code != 0 || !strings.Contains(stdout, "Client:") || !strings.Contains(stdout, runtime.Version()) || !strings.Contains(stdout, "not reachable") {
		t.Errorf("version without agent: exit %d, stdout %q", code, stdout)
	}
	fa := newFakeAgent(t)
	code, stdout, _ = run(t, "", "-H", fa.host, "version", "-o", "json")
	var v struct{ Client, Server api.Version }
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil {
		t.Fatalf("version -o json: exit %d, %v, %q", code, err, stdout)
	}
	if v.Client.GoVersion != runtime.Version() || v.Client.Version == "" || v.Client.Commit == "" || v.Server.Version != "9.9.9" {
		t.Errorf("version -o json = %+v", v)
	}
}

func TestRunFlowAndFlags(t *testing.T) {
	fa := newFakeAgent(t)
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# comment\nFROMFILE=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEDGE_TEST_PASS", "through")
	code, stdout, stderr := run(t, "", "-H", fa.host, "run", "--rm", "--name", "web", "-e", "A=1", "-e", "KEDGE_TEST_PASS",
		"--env-file", envFile, "--memory", "64m", "--memory-swap", "-1", "--cpus", "1.5", "--pids-limit", "100",
		"--ulimit", "nofile=10:20", "-v", "data:/d:ro", "-v", "/host:/h", "--tmpfs", "/t:size=1m",
		"--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "--security-opt", "no-new-privileges",
		"--sysctl", "net.core.somaxconn=1024", "--log-opt", "max-size=10m,max-file=3", "--health-cmd", "true",
		"--health-interval", "5s", "--label", "exit=3", "--label", "tier=web", "--stop-timeout", "5", "--init",
		"--network", "none", "--read-only", "--entrypoint", "/bin/sh",
		"busybox", "sh", "-c", "echo hi", "-e", "--rm")
	if code != 3 {
		t.Fatalf("run: exit %d, want the container's 3 (stdout %q, stderr %q)", code, stdout, stderr)
	}
	if stdout != "out:sh -c echo hi -e --rm\n" || stderr != "err\n" {
		t.Errorf("run: stdout %q, stderr %q", stdout, stderr)
	}
	calls := fa.callList()
	attach := slices.Index(calls, "POST /v1/containers/"+fakeID+"/attach")
	start := slices.Index(calls, "POST /v1/containers/"+fakeID+"/start")
	if attach < 0 || start < 0 || attach > start {
		t.Errorf("calls %q: want attach before start", calls)
	}
	cfg := fa.lastConfig()
	pids := int64(100)
	stop := 5
	want := api.ContainerConfig{
		Name: "web", Image: "busybox", Entrypoint: []string{"/bin/sh"}, Cmd: []string{"sh", "-c", "echo hi", "-e", "--rm"},
		Env:         []string{"FROMFILE=1", "A=1", "KEDGE_TEST_PASS=through"},
		Labels:      map[string]string{"exit": "3", "tier": "web"},
		StopTimeout: &stop, Init: true, AutoRemove: true, NetworkMode: "none",
		Healthcheck: &api.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 5 * time.Second},
		Mounts: []api.Mount{
			{Type: "volume", Source: "data", Target: "/d", ReadOnly: true},
			{Type: "bind", Source: "/host", Target: "/h"},
			{Type: "tmpfs", Target: "/t", TmpfsSize: 1 << 20},
		},
		Resources: api.Resources{Memory: 64 << 20, MemorySwap: -1, NanoCPUs: 1_500_000_000, PidsLimit: &pids,
			Ulimits: []api.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}},
		Security: api.Security{CapAdd: []string{"NET_BIND_SERVICE"}, CapDrop: []string{"ALL"}, ReadOnlyRootfs: true,
			SecurityOpt: []string{"no-new-privileges=true"}, Sysctls: map[string]string{"net.core.somaxconn": "1024"}},
		RestartPolicy: api.RestartPolicy{Name: "no"},
		Log:           api.LogConfig{MaxSize: 10 << 20, MaxFiles: 3},
	}
	gotJSON, _ := json.Marshal(cfg)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("config sent:\n%s\nwant:\n%s", gotJSON, wantJSON)
	}
}

func TestRunInteractiveAndCombinedShortFlags(t *testing.T) {
	fa := newFakeAgent(t)
	code, stdout, _ := run(t, "hello from stdin\n", "-H", fa.host, "run", "-i", "busybox", "cat")
	if code != 0 || stdout != "hello from stdin\nout:cat\n" {
		t.Errorf("run -i: exit %d, stdout %q", code, stdout)
	}
	if cfg := fa.lastConfig(); !cfg.OpenStdin {
		t.Errorf("run -i did not set OpenStdin")
	}
	// -it combined, not on a terminal: tty is asked for, output merged.
	code, stdout, stderr := run(t, "", "-H", fa.host, "run", "-it", "busybox", "sh")
	if cfg := fa.lastConfig(); code != 0 || !cfg.Tty || !cfg.OpenStdin || stdout != "out:sh\nerr\n" || stderr != "" {
		t.Errorf("run -it: exit %d, tty %v, stdout %q, stderr %q", code, cfg.Tty, stdout, stderr)
	}
}

func TestRunDetachPullsMissingImage(t *testing.T) {
	fa := newFakeAgent(t)
	code, stdout, stderr := run(t, "", "-H", fa.host, "run", "-d", "alpine:3", "sleep", "1")
	if code != 0 || stdout != fakeID+"\n" {
		t.Errorf("run -d: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "Unable to find image 'alpine:3' locally") || !strings.Contains(stderr, "Downloaded newer image") {
		t.Errorf("run of a missing image: stderr %q, want a pull", stderr)
	}
	if slices.Contains(fa.callList(), "POST /v1/containers/"+fakeID+"/attach") {
		t.Errorf("run -d attached")
	}
	code, _, stderr = run(t, "", "-H", fa.host, "run", "--pull", "never", "-d", "other", "x")
	_ = code
	if slices.Contains(fa.callList(), "GET /v1/images/inspect") && strings.Contains(stderr, "Unable to find image 'other'") {
		t.Errorf("--pull never looked for the image: %q", stderr)
	}
}

func TestRunCommandNotFoundExit127(t *testing.T) {
	fa := newFakeAgent(t)
	fa.images["nocmd"] = true
	code, _, stderr := run(t, "", "-H", fa.host, "run", "--rm", "nocmd", "nope")
	if code != ExitNotFound || !strings.HasPrefix(stderr, "kedge: ") || !strings.Contains(stderr, "executable file not found") {
		t.Errorf("missing command: exit %d, stderr %q", code, stderr)
	}
	if !slices.Contains(fa.callList(), "DELETE /v1/containers/"+fakeID) {
		t.Errorf("--rm container not removed after a failed start: %q", fa.callList())
	}
}

func TestExitFrameCodes(t *testing.T) {
	tests := []struct {
		f    api.ExitFrame
		code int
	}{
		{api.ExitFrame{ExitCode: 0}, 0},
		{api.ExitFrame{ExitCode: 137}, 137},
		{api.ExitFrame{ExitCode: 127, Kind: "not-found", Error: "no such file"}, 127},
		{api.ExitFrame{ExitCode: 126, Kind: "cannot-invoke"}, 126},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if got := reportError(&buf, exitFrameError(&tt.f)); got != tt.code {
			t.Errorf("exit frame %+v: code %d, want %d", tt.f, got, tt.code)
		}
		if tt.f.Kind != "" && !strings.HasPrefix(buf.String(), "kedge: ") {
			t.Errorf("exit frame %+v printed %q", tt.f, buf.String())
		}
	}
	var buf bytes.Buffer
	if got := reportError(&buf, &api.StatusError{Code: http.StatusForbidden, Message: "permission denied"}); got != ExitCannotInvoke {
		t.Errorf("403 from start: %d, want 126", got)
	}
}

func TestPsTable(t *testing.T) {
	fa := newFakeAgent(t)
	now := time.Now()
	fa.containers = []api.Container{
		{ID: fakeID, Name: "web", Image: "busybox", Created: now.Add(-2 * time.Minute), Path: "sh", Args: []string{"-c", "while true; do sleep 1; done"},
			State: api.ContainerState{Status: api.StateRunning, Running: true, StartedAt: now.Add(-3 * time.Second), Health: &api.Health{Status: "healthy"}}},
		{ID: "fedcba9876543210", Name: "old", Image: "alpine", Created: now.Add(-time.Hour), Path: "true",
			State: api.ContainerState{Status: api.StateExited, ExitCode: 1, FinishedAt: now.Add(-5 * time.Second)}},
	}
	code, stdout, _ := run(t, "", "-H", fa.host, "ps", "-a")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("ps -a: exit %d, %q", code, stdout)
	}
	for _, want := range []string{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %s", lines[0], want)
		}
	}
	for _, want := range []string{"0123456789ab ", `"sh -c while true; d…"`, "2 minutes ago", "Up 3 seconds (healthy)", "web"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if !strings.Contains(lines[2], "Exited (1) 5 seconds ago") || !strings.Contains(lines[2], "About an hour ago") {
		t.Errorf("row %q", lines[2])
	}
	_, stdout, _ = run(t, "", "-H", fa.host, "ps", "-q")
	if stdout != "0123456789ab\nfedcba987654\n" {
		t.Errorf("ps -q = %q", stdout)
	}
	_, stdout, _ = run(t, "", "-H", fa.host, "ps", "-o", "json")
	var list []api.Container
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list) != 2 || list[0].ID != fakeID {
		t.Errorf("ps -o json: %v, %q", err, stdout)
	}
}

func TestLogsSplitsStreams(t *testing.T) {
	fa := newFakeAgent(t)
	ts := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	fa.logs = []api.LogEntry{{Log: "out1\n", Stream: "stdout", Time: ts}, {Log: "err1\n", Stream: "stderr", Time: ts}, {Log: "out2\n", Stream: "stdout", Time: ts}}
	code, stdout, stderr := run(t, "", "-H", fa.host, "logs", "c")
	if code != 0 || stdout != "out1\nout2\n" || stderr != "err1\n" {
		t.Errorf("logs: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_, stdout, _ = run(t, "", "-H", fa.host, "logs", "-t", "c")
	if !strings.HasPrefix(stdout, "2026-11-27T10:00:00Z out1\n") {
		t.Errorf("logs -t: %q", stdout)
	}
}

// tarOf builds a tar stream of the given entries.
func TestExecExitCodes(t *testing.T) {
	fa := newFakeAgent(t)
	code, stdout, _ := run(t, "", "-H", fa.host, "exec", "-u", "nobody", "-e", "X=1", "web", "ls", "-l", "/")
	if code != 0 || stdout != "exec:ls -l / env:X=1 user:nobody\n" {
		t.Errorf("exec: exit %d, stdout %q", code, stdout)
	}
	if code, _, _ := run(t, "", "-H", fa.host, "exec", "web", "exit", "42"); code != 42 {
		t.Errorf("exec exit 42: exit %d", code)
	}
	code, _, stderr := run(t, "", "-H", fa.host, "exec", "web", "missing")
	if code != ExitNotFound || !strings.HasPrefix(stderr, "kedge: ") || !strings.Contains(stderr, "executable file not found") {
		t.Errorf("exec of a missing command: exit %d, stderr %q", code, stderr)
	}
}

func TestInspectFallsBackToImage(t *testing.T) {
	fa := newFakeAgent(t)
	code, stdout, _ := run(t, "", "-H", fa.host, "inspect", "web", "busybox")
	var out []map[string]any
	if err := json.Unmarshal([]byte(stdout), &out); code != 0 || err != nil || len(out) != 2 {
		t.Fatalf("inspect: exit %d, %v, %q", code, err, stdout)
	}
	if out[0]["name"] != "web" || out[1]["repo_tags"] == nil {
		t.Errorf("inspect web busybox = %q", stdout)
	}
	code, stdout, stderr := run(t, "", "-H", fa.host, "inspect", "nothing")
	if code != ExitEngine || strings.TrimSpace(stdout) != "[]" || !strings.Contains(stderr, "no such container or image") {
		t.Errorf("inspect of nothing: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
