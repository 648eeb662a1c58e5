package cli

import (
	"bytes"
	"errors"
	"kedge/api"
	"strings"
	"testing"
	"time"
)

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

func TestImageNames(t *testing.T) {
	for in, want := range map[string][2]string{
		"docker.io/library/busybox:latest": {"busybox", "latest"},
		"docker.io/team/app:1.0":           {"team/app", "1.0"},
		"reg.local:5000/app":               {"reg.local:5000/app", "<none>"},
		"reg.local:5000/app:v2":            {"reg.local:5000/app", "v2"},
	} {
		repo, tag := splitRepoTag(familiarName(in))
		if repo != want[0] || tag != want[1] {
			t.Errorf("%s -> %s %s, want %v", in, repo, tag, want)
		}
	}
}
