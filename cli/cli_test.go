package cli

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
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
		{[]string{"run", "--network", "bridge", "busybox"}, "--network"},
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

func TestHumanTimes(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{500 * time.Millisecond, "Less than a second"},
		{time.Second, "1 second"},
		{45 * time.Second, "45 seconds"},
		{90 * time.Second, "About a minute"},
		{2 * time.Minute, "2 minutes"},
		{59 * time.Minute, "59 minutes"},
		{61 * time.Minute, "About an hour"},
		{5 * time.Hour, "5 hours"},
		{72 * time.Hour, "3 days"},
		{21 * 24 * time.Hour, "3 weeks"},
		{90 * 24 * time.Hour, "3 months"},
		{3 * 365 * 24 * time.Hour, "3 years"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := timeAgo(fixedNow, fixedNow.Add(-2*time.Minute)); got != "2 minutes ago" {
		t.Errorf("timeAgo = %q", got)
	}
}

func TestContainerStatus(t *testing.T) {
	tests := []struct {
		s    api.ContainerState
		want string
	}{
		{api.ContainerState{Status: api.StateCreated}, "Created"},
		{api.ContainerState{Status: api.StateRunning, StartedAt: fixedNow.Add(-3 * time.Second)}, "Up 3 seconds"},
		{api.ContainerState{Status: api.StateRunning, StartedAt: fixedNow.Add(-time.Minute), Health: &api.Health{Status: "starting"}}, "Up About a minute (health: starting)"},
		{api.ContainerState{Status: api.StateRunning, StartedAt: fixedNow.Add(-time.Minute), Health: &api.Health{Status: "unhealthy"}}, "Up About a minute (unhealthy)"},
		{api.ContainerState{Status: api.StatePaused, Paused: true, StartedAt: fixedNow.Add(-10 * time.Minute)}, "Up 10 minutes (Paused)"},
		{api.ContainerState{Status: api.StateExited, ExitCode: 0, FinishedAt: fixedNow.Add(-5 * time.Second)}, "Exited (0) 5 seconds ago"},
		{api.ContainerState{Status: api.StateExited, ExitCode: 137}, "Exited (137)"},
		{api.ContainerState{Status: api.StateRestarting, ExitCode: 1, FinishedAt: fixedNow.Add(-2 * time.Second)}, "Restarting (1) 2 seconds ago"},
		{api.ContainerState{Status: api.StateDead}, "Dead"},
		{api.ContainerState{Status: api.StateRemoving}, "Removal In Progress"},
	}
	for _, tt := range tests {
		if got := containerStatus(fixedNow, tt.s); got != tt.want {
			t.Errorf("containerStatus(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestParseTimeArg(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"10m", fixedNow.Add(-10 * time.Minute)},
		{"1h30m", fixedNow.Add(-90 * time.Minute)},
		{"1700000000", time.Unix(1700000000, 0)},
		{"2026-11-27T10:00:00Z", time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
		{"2026-11-27", time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseTimeArg("since", tt.in, fixedNow)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTimeArg(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"-5m", "yesterday", "NaN", "1e9"} {
		if _, err := parseTimeArg("since", bad, fixedNow); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("parseTimeArg(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseCopyArg(t *testing.T) {
	tests := []struct {
		in   string
		want copyArg
	}{
		{"web:/etc/hosts", copyArg{container: "web", path: "/etc/hosts"}},
		{"web:relative", copyArg{container: "web", path: "relative"}},
		{"/abs/a:b", copyArg{path: "/abs/a:b"}},
		{"./a:b", copyArg{path: "./a:b"}},
		{"-", copyArg{path: "-"}},
		{"plain", copyArg{path: "plain"}},
		{":x", copyArg{path: ":x"}},
	}
	for _, tt := range tests {
		if got := parseCopyArg(tt.in); got != tt.want {
			t.Errorf("parseCopyArg(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// tarOf builds a tar stream of the given entries.
func tarOf(t *testing.T, entries ...*tar.Header) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "data of " + h.Name
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(tw, body)
	}
	_ = tw.Close()
	return &buf
}

func TestExtractTar(t *testing.T) {
	dir := t.TempDir()
	// Into an existing directory: entries keep their names.
	err := extractTar(tarOf(t,
		&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "etc/hosts", Typeflag: tar.TypeReg},
		&tar.Header{Name: "etc/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		&tar.Header{Name: "etc/hard", Typeflag: tar.TypeLink, Linkname: "etc/hosts"},
	), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "hosts")); err != nil || string(b) != "data of etc/hosts" {
		t.Errorf("etc/hosts = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "hard")); err != nil || string(b) != "data of etc/hosts" {
		t.Errorf("hard link = %q, %v", b, err)
	}
	// To a new name: the top entry is renamed.
	if err := extractTar(tarOf(t, &tar.Header{Name: "hosts", Typeflag: tar.TypeReg}), filepath.Join(dir, "copy")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "copy")); err != nil || string(b) != "data of hosts" {
		t.Errorf("renamed copy = %q, %v", b, err)
	}
	// Hostile archives.
	outside := filepath.Join(filepath.Dir(dir), "evil-"+filepath.Base(dir))
	for name, entries := range map[string][]*tar.Header{
		"dotdot":   {{Name: "../evil-" + filepath.Base(dir), Typeflag: tar.TypeReg}},
		"deep":     {{Name: "a/../../x", Typeflag: tar.TypeReg}},
		"symlink":  {{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: filepath.Dir(dir)}, {Name: "esc/evil-" + filepath.Base(dir), Typeflag: tar.TypeReg}},
		"hardlink": {{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}},
	} {
		if err := extractTar(tarOf(t, entries...), dir); err == nil {
			t.Errorf("%s: a hostile archive was extracted", name)
		}
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Errorf("a file was written outside the destination: %s", outside)
	}
	// An absolute name lands inside the destination.
	if err := extractTar(tarOf(t, &tar.Header{Name: "/abs", Typeflag: tar.TypeReg}), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "abs")); err != nil {
		t.Errorf("absolute entry: %v", err)
	}
}

func TestWriteTarRoundTrip(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "f"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, src, "app"); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := extractTar(&buf, dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "app", "sub", "f"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("round trip: %v, %v", fi, err)
	}
}

func TestLoadAgentConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadAgentConfig(filepath.Join(dir, "missing.yaml"), false)
	if err != nil || cfg.DataDir != "" {
		t.Errorf("missing default file: %+v, %v", cfg, err)
	}
	if _, err := LoadAgentConfig(filepath.Join(dir, "missing.yaml"), true); err == nil {
		t.Error("a missing explicit --config must be an error")
	}
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(good, []byte("data_dir: /srv/kedge\nnode_name: edge-1\nregistry:\n  insecure: [\"reg.local:5000\"]\ndefaults:\n  pids_limit: 100\n"), 0o644)
	cfg, err = LoadAgentConfig(good, true)
	if err != nil || cfg.DataDir != "/srv/kedge" || cfg.NodeName != "edge-1" || cfg.Registry.Insecure[0] != "reg.local:5000" || cfg.Defaults.PidsLimit != 100 {
		t.Errorf("good config: %+v, %v", cfg, err)
	}
	for name, body := range map[string]string{"malformed": "data_dir: [\n", "unknown": "data_dri: /x\n"} {
		p := filepath.Join(dir, name+".yaml")
		_ = os.WriteFile(p, []byte(body), 0o644)
		if _, err := LoadAgentConfig(p, false); err == nil {
			t.Errorf("%s config accepted", name)
		}
	}
	code, _, stderr := run(t, "", "agent", "--config", filepath.Join(dir, "malformed.yaml"))
	if code != ExitEngine || !strings.Contains(stderr, "malformed.yaml") {
		t.Errorf("agent with malformed config: exit %d, stderr %q", code, stderr)
	}
}

func TestDemoPage(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(demoHandler("Hello from Kedge", &n))
	defer srv.Close()
	for i := 1; i <= 2; i++ {
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		host, _ := os.Hostname()
		page := string(b)
		if resp.StatusCode != 200 || !strings.Contains(page, "Hello from Kedge") || !strings.Contains(page, host) ||
			!strings.Contains(page, `<dd id="requests">`+string(rune('0'+i))+`</dd>`) {
			t.Errorf("request %d: %d %s", i, resp.StatusCode, page)
		}
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
}

func TestLoginLogout(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	code, stdout, stderr := run(t, "s3cret\n", "login", "-u", "me", "--password-stdin", "https://reg.example.com/")
	if code != 0 {
		t.Fatalf("login: exit %d, %q %q", code, stdout, stderr)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil || json.Unmarshal(b, &cfg) != nil {
		t.Fatalf("config.json: %v %s", err, b)
	}
	if got := cfg.Auths["reg.example.com"].Auth; got != base64.StdEncoding.EncodeToString([]byte("me:s3cret")) {
		t.Errorf("stored auth %q in %s", got, b)
	}
	if u, p := registryCredentials(t.Context(), "reg.example.com/team/app:1", io.Discard); u != "me" || p != "s3cret" {
		t.Errorf("credentials for a pull = %q %q", u, p)
	}
	if u, _ := registryCredentials(t.Context(), "other.example.com/app", io.Discard); u != "" {
		t.Errorf("credentials leaked to another registry: %q", u)
	}
	if code, stdout, _ := run(t, "", "logout", "reg.example.com"); code != 0 || !strings.Contains(stdout, "Removed") {
		t.Errorf("logout: %d %q", code, stdout)
	}
	if u, _ := registryCredentials(t.Context(), "reg.example.com/team/app:1", io.Discard); u != "" {
		t.Errorf("credentials remain after logout: %q", u)
	}
}

func TestProgressDisplay(t *testing.T) {
	var plain bytes.Buffer
	d := newProgressDisplay(&plain, false)
	for _, p := range []api.Progress{
		{Layer: "sha256:aaaaaaaaaaaaaaaaaaaa", Total: 100, Current: 10},
		{Layer: "sha256:aaaaaaaaaaaaaaaaaaaa", Total: 100, Current: 60},
		{Layer: "sha256:bbbbbbbbbbbbbbbbbbbb", Total: 50, Current: 5},
		{Layer: "sha256:aaaaaaaaaaaaaaaaaaaa", Done: true},
	} {
		_ = d.update(p)
	}
	if got := plain.String(); got != "aaaaaaaaaaaa: Downloading [===>                          ] 10B/100B\nbbbbbbbbbbbb: Downloading [===>                          ] 5B/50B\naaaaaaaaaaaa: Complete\n" {
		t.Errorf("plain progress:\n%s", got)
	}
	var tty bytes.Buffer
	d = newProgressDisplay(&tty, true)
	_ = d.update(api.Progress{Layer: "a", Total: 10, Current: 1})
	_ = d.update(api.Progress{Layer: "b", Total: 10, Current: 1})
	_ = d.update(api.Progress{Layer: "a", Done: true})
	if !strings.Contains(tty.String(), "\x1b[2A\r\x1b[2Ka: Complete\r\x1b[2B") {
		t.Errorf("tty progress does not rewrite layer a in place: %q", tty.String())
	}
}

func TestStatsMath(t *testing.T) {
	prev := &api.Stats{Time: fixedNow, CPUUsageNanos: 1e9}
	cur := &api.Stats{Time: fixedNow.Add(time.Second), CPUUsageNanos: 1.5e9}
	if got := cpuPercent(prev, cur); got != 50 {
		t.Errorf("cpuPercent = %v, want 50", got)
	}
	if got := cpuPercent(nil, cur); got != 0 {
		t.Errorf("cpuPercent with one reading = %v", got)
	}
	for n, want := range map[uint64]string{512: "512B", 1536: "1.5KiB", 64 << 20: "64MiB", 2 << 30: "2GiB"} {
		if got := binarySize(n); got != want {
			t.Errorf("binarySize(%d) = %q, want %q", n, got, want)
		}
	}
	var buf bytes.Buffer
	statsTable(&buf, []string{"x"}, map[string]*statsRow{"x": {prev: prev, cur: &api.Stats{ID: fakeID, Name: "web", Time: cur.Time, CPUUsageNanos: cur.CPUUsageNanos, MemoryUsage: 64 << 20, MemoryLimit: 256 << 20, PidsCurrent: 3}}}, false)
	if !strings.Contains(buf.String(), "0123456789ab   web    50.00%   64MiB / 256MiB      25.00%   3") {
		t.Errorf("stats table:\n%s", buf.String())
	}
}

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

func TestCopyBothWays(t *testing.T) {
	fa := newFakeAgent(t)
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("hello container"), 0o640); err != nil {
		t.Fatal(err)
	}
	// Local -> container, to a path that does not exist there yet: renamed.
	if code, _, stderr := run(t, "", "-H", fa.host, "cp", src, "web:/srv/renamed.txt"); code != 0 {
		t.Fatalf("cp to container: exit %d, %q", code, stderr)
	}
	fa.mu.Lock()
	dir, archive := fa.archiveDir, fa.archive
	fa.mu.Unlock()
	hdr, err := tar.NewReader(bytes.NewReader(archive)).Next()
	if err != nil || dir != "/srv" || hdr.Name != "renamed.txt" || hdr.Mode&0o777 != 0o640 {
		t.Errorf("cp sent dir %q, entry %+v, %v", dir, hdr, err)
	}
	// Container -> local: the archive the container holds comes back.
	dst := t.TempDir()
	if code, _, stderr := run(t, "", "-H", fa.host, "cp", "web:/srv/renamed.txt", dst); code != 0 {
		t.Fatalf("cp from container: exit %d, %q", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "renamed.txt")); err != nil || string(b) != "hello container" {
		t.Errorf("copied back: %q, %v", b, err)
	}
	// To stdout as a tar stream.
	code, stdout, _ := run(t, "", "-H", fa.host, "cp", "web:/srv/renamed.txt", "-")
	if code != 0 || !bytes.Equal([]byte(stdout), archive) {
		t.Errorf("cp to -: exit %d, %d bytes", code, len(stdout))
	}
}
