package cli

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"kedge/api"
)

func TestParseVolume(t *testing.T) {
	tests := []struct {
		in   string
		want api.Mount
		bad  bool
	}{
		{in: "data:/var/lib/data", want: api.Mount{Type: "volume", Source: "data", Target: "/var/lib/data"}},
		{in: "data:/srv:ro", want: api.Mount{Type: "volume", Source: "data", Target: "/srv", ReadOnly: true}},
		{in: "/host/dir:/srv/", want: api.Mount{Type: "bind", Source: "/host/dir", Target: "/srv"}},
		{in: "/host//dir/:/srv:rw", want: api.Mount{Type: "bind", Source: "/host/dir", Target: "/srv"}},
		{in: "/cache", want: api.Mount{Type: "volume", Target: "/cache"}},
		{in: "./rel:/srv", bad: true},
		{in: "rel/dir:/srv", bad: true},
		{in: "~/x:/srv", bad: true},
		{in: "data:relative", bad: true},
		{in: "relative", bad: true},
		{in: "data:/srv:rx", bad: true},
		{in: "data:/", bad: true},
		{in: ":/srv", bad: true},
		{in: "a:/b:ro:extra", bad: true},
		{in: "-bad:/srv", bad: true},
	}
	for _, tt := range tests {
		got, err := parseVolume(tt.in)
		if tt.bad {
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("parseVolume(%q) = %+v, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseVolume(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTmpfs(t *testing.T) {
	tests := []struct {
		in   string
		want api.Mount
		bad  bool
	}{
		{in: "/run", want: api.Mount{Type: "tmpfs", Target: "/run"}},
		{in: "/run:size=64m,mode=1777,noexec", want: api.Mount{Type: "tmpfs", Target: "/run", TmpfsSize: 64 << 20, TmpfsMode: 0o1777, Options: []string{"noexec"}}},
		{in: "/tmp:ro,nosuid,uid=1000", want: api.Mount{Type: "tmpfs", Target: "/tmp", ReadOnly: true, Options: []string{"nosuid", "uid=1000"}}},
		{in: "run", bad: true},
		{in: "/", bad: true},
		{in: "/x:size=lots", bad: true},
		{in: "/x:size=0", bad: true},
		{in: "/x:mode=999", bad: true},
		{in: "/x:mode=17777", bad: true},
		{in: "/x:bogus", bad: true},
		{in: "/x:uid=abc", bad: true},
	}
	for _, tt := range tests {
		got, err := parseTmpfs(tt.in)
		if tt.bad {
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("parseTmpfs(%q) = %+v, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseTmpfs(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseUlimit(t *testing.T) {
	tests := []struct {
		in   string
		want api.Ulimit
		bad  bool
	}{
		{in: "nofile=1024", want: api.Ulimit{Name: "nofile", Soft: 1024, Hard: 1024}},
		{in: "nofile=1024:2048", want: api.Ulimit{Name: "nofile", Soft: 1024, Hard: 2048}},
		{in: "core=0", want: api.Ulimit{Name: "core", Soft: 0, Hard: 0}},
		{in: "memlock=-1:-1", want: api.Ulimit{Name: "memlock", Soft: -1, Hard: -1}},
		{in: "stack=8192:unlimited", want: api.Ulimit{Name: "stack", Soft: 8192, Hard: -1}},
		{in: "nofile=2048:1024", bad: true},
		{in: "nofile=unlimited:1024", bad: true},
		{in: "bogus=1", bad: true},
		{in: "nofile", bad: true},
		{in: "nofile=", bad: true},
		{in: "nofile=-5", bad: true},
		{in: "nproc=1:x", bad: true},
	}
	for _, tt := range tests {
		got, err := parseUlimit(tt.in)
		if tt.bad {
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("parseUlimit(%q) = %+v, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseUlimit(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in   string
		want api.Device
		bad  bool
	}{
		{in: "/dev/fuse", want: api.Device{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", Permissions: "rwm"}},
		{in: "/dev/sda:/dev/xvda", want: api.Device{PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", Permissions: "rwm"}},
		{in: "/dev/sda:r", want: api.Device{PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", Permissions: "r"}},
		{in: "/dev/sda:/dev/xvda:rw", want: api.Device{PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", Permissions: "rw"}},
		{in: "dev/sda", bad: true},
		{in: "/dev/sda:/dev/x:rwx", bad: true},
		{in: "/dev/sda:/dev/x:rr", bad: true},
		{in: "/dev/sda:xvda", bad: true},
		{in: "/a:/b:r:w", bad: true},
	}
	for _, tt := range tests {
		got, err := parseDevice(tt.in)
		if tt.bad {
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("parseDevice(%q) = %+v, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDevice(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func fakeEnv(k string) (string, bool) {
	v, ok := map[string]string{"HOME": "/home/me", "EMPTY": ""}[k]
	return v, ok
}

func TestParseEnv(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
		bad  bool
	}{
		{in: "A=b", want: "A=b", ok: true},
		{in: "A=b=c", want: "A=b=c", ok: true},
		{in: "A=", want: "A=", ok: true},
		{in: "HOME", want: "HOME=/home/me", ok: true},
		{in: "EMPTY", want: "EMPTY=", ok: true},
		{in: "UNSET", ok: false},
		{in: "=x", bad: true},
		{in: "", bad: true},
		{in: "A B=c", bad: true},
	}
	for _, tt := range tests {
		got, ok, err := parseEnv(tt.in, fakeEnv)
		if tt.bad {
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("parseEnv(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("parseEnv(%q) = %q, %v, %v; want %q, %v", tt.in, got, ok, err, tt.want, tt.ok)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	in := "\uFEFF# comment\n\nA=1\n  B = spaced value \nHOME\nUNSET\n\t# indented comment\nQ=\"quoted\"\r\n"
	got, err := parseEnvFile(strings.NewReader(in), fakeEnv)
	if err != nil {
		t.Fatal(err)
	}
	// Quotes are kept verbatim, as Docker does; a CRLF ending is not part of the value.
	want := []string{"A=1", "B= spaced value ", "HOME=/home/me", "Q=\"quoted\""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseEnvFile = %q, want %q", got, want)
	}
	if _, err := parseEnvFile(strings.NewReader("OK=1\nBAD KEY=2\n"), fakeEnv); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad key: err = %v, want an error naming line 2", err)
	}
}

func TestParseRestart(t *testing.T) {
	tests := []struct {
		in   string
		want api.RestartPolicy
		bad  bool
	}{
		{in: "", want: api.RestartPolicy{Name: "no"}},
		{in: "no", want: api.RestartPolicy{Name: "no"}},
		{in: "always", want: api.RestartPolicy{Name: "always"}},
		{in: "unless-stopped", want: api.RestartPolicy{Name: "unless-stopped"}},
		{in: "on-failure", want: api.RestartPolicy{Name: "on-failure"}},
		{in: "on-failure:5", want: api.RestartPolicy{Name: "on-failure", MaximumRetryCount: 5}},
		{in: "on-failure:-1", bad: true},
		{in: "on-failure:x", bad: true},
		{in: "always:3", bad: true},
		{in: "sometimes", bad: true},
	}
	for _, tt := range tests {
		got, err := parseRestart(tt.in)
		if tt.bad {
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("parseRestart(%q) = %+v, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseRestart(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1", want: 1e9},
		{in: "1.5", want: 1_500_000_000},
		{in: "0.001", want: 1_000_000},
		{in: "0", want: 0},
		{in: ".5", want: 500_000_000},
		{in: "0.0000000001", bad: true},
		{in: "-1", bad: true},
		{in: "1e3", bad: true},
		{in: "1/2", bad: true},
		{in: "abc", bad: true},
		{in: "", bad: true},
		{in: "99999999999999999999", bad: true},
	}
	for _, tt := range tests {
		got, err := parseCPUs(tt.in)
		if tt.bad {
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("parseCPUs(%q) = %d, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseCPUs(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseKeyValue(t *testing.T) {
	if k, v, err := parseKeyValue("sysctl", "net.core.somaxconn=1024", false); err != nil || k != "net.core.somaxconn" || v != "1024" {
		t.Errorf("sysctl = %q %q %v", k, v, err)
	}
	if _, _, err := parseKeyValue("sysctl", "net.core.somaxconn", false); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("sysctl without value: %v, want ErrInvalid", err)
	}
	if k, v, err := parseKeyValue("label", "flag", true); err != nil || k != "flag" || v != "" {
		t.Errorf("label without value = %q %q %v", k, v, err)
	}
	if _, _, err := parseKeyValue("label", "=x", true); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("empty key: %v, want ErrInvalid", err)
	}
}

func TestParseLogOpts(t *testing.T) {
	got, err := parseLogOpts([]string{"max-size=10m,max-file=3"})
	if err != nil || got != (api.LogConfig{MaxSize: 10 << 20, MaxFiles: 3}) {
		t.Errorf("combined = %+v, %v", got, err)
	}
	got, err = parseLogOpts([]string{"max-size=1k", "max-file=1"})
	if err != nil || got != (api.LogConfig{MaxSize: 1024, MaxFiles: 1}) {
		t.Errorf("separate = %+v, %v", got, err)
	}
	for _, bad := range []string{"max-size=0", "max-size=big", "max-file=0", "max-file=x", "compress=true", ""} {
		if _, err := parseLogOpts([]string{bad}); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("parseLogOpts(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseSecurityOpt(t *testing.T) {
	dir := t.TempDir()
	profile := dir + "/p.json"
	if err := os.WriteFile(profile, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/bad.json", []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "no-new-privileges", want: "no-new-privileges=true"},
		{in: "no-new-privileges=false", want: "no-new-privileges=false"},
		{in: "no-new-privileges:true", want: "no-new-privileges=true"},
		{in: "seccomp=unconfined", want: "seccomp=unconfined"},
		{in: "seccomp=" + profile, want: `seccomp={"defaultAction":"SCMP_ACT_ERRNO"}`},
		{in: "apparmor=unconfined", want: "apparmor=unconfined"},
		{in: "no-new-privileges=maybe", bad: true},
		{in: "seccomp=", bad: true},
		{in: "seccomp=" + dir + "/bad.json", bad: true},
		{in: "bogus=1", bad: true},
	}
	for _, tt := range tests {
		got, err := parseSecurityOpt(tt.in, os.ReadFile)
		if tt.bad {
			if err == nil {
				t.Errorf("parseSecurityOpt(%q) = %q; want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSecurityOpt(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseSecurityOpt("seccomp="+dir+"/missing.json", os.ReadFile); err == nil {
		t.Error("a missing profile file must be an error")
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]string{"TERM": "TERM", "sigkill": "SIGKILL", "9": "9", "SIGRTMIN+3": "SIGRTMIN+3"} {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "65", "SIG", "TE RM", "kill;rm"} {
		if _, err := parseSignal(bad); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("parseSignal(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// Fuzz targets: the parsers never panic, and what they accept is consistent.

func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"data:/x", "/a:/b:ro", "/c", "./r:/x", "a:b:c:d", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseVolume(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(m.Target, "/") || m.Target == "/" {
			t.Fatalf("parseVolume(%q) accepted target %q", s, m.Target)
		}
		if m.Type == "bind" && !strings.HasPrefix(m.Source, "/") {
			t.Fatalf("parseVolume(%q) accepted a relative bind source %q", s, m.Source)
		}
	})
}

func FuzzParseTmpfs(f *testing.F) {
	for _, s := range []string{"/run", "/run:size=64m,mode=1777,noexec", "/x:uid=1", "x", "/:ro"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseTmpfs(s)
		if err == nil && (m.TmpfsMode > 0o7777 || m.TmpfsSize < 0 || !strings.HasPrefix(m.Target, "/")) {
			t.Fatalf("parseTmpfs(%q) accepted %+v", s, m)
		}
	})
}

func FuzzParseUlimit(f *testing.F) {
	for _, s := range []string{"nofile=1024:2048", "core=0", "stack=-1", "x=1", "nproc=a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseUlimit(s)
		if err == nil && u.Hard != -1 && (u.Soft > u.Hard || u.Soft < -1) {
			t.Fatalf("parseUlimit(%q) accepted %+v", s, u)
		}
	})
}

func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"/dev/fuse", "/dev/a:/dev/b:rw", "/dev/a:r", "a:b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDevice(s)
		if err == nil && (!validDevicePerms(d.Permissions) || !strings.HasPrefix(d.PathOnHost, "/")) {
			t.Fatalf("parseDevice(%q) accepted %+v", s, d)
		}
	})
}

func FuzzParseEnvFile(f *testing.F) {
	for _, s := range []string{"A=1\n# c\n\nB\n", "=x", " K = v ", "\uFEFFX=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		env, err := parseEnvFile(strings.NewReader(s), fakeEnv)
		if err != nil {
			return
		}
		for _, kv := range env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				t.Fatalf("parseEnvFile(%q) produced %q", s, kv)
			}
		}
	})
}

func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{"A=b", "HOME", "=x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kv, ok, err := parseEnv(s, fakeEnv)
		if err == nil && ok && !strings.Contains(kv, "=") {
			t.Fatalf("parseEnv(%q) = %q", s, kv)
		}
	})
}

func FuzzParseRestart(f *testing.F) {
	for _, s := range []string{"no", "on-failure:3", "always:1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseRestart(s)
		if err == nil && p.MaximumRetryCount < 0 {
			t.Fatalf("parseRestart(%q) = %+v", s, p)
		}
	})
}

func FuzzParseCPUs(f *testing.F) {
	for _, s := range []string{"1.5", "0.001", "-1", "1e3", "3/4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseCPUs(s)
		if err == nil && n < 0 {
			t.Fatalf("parseCPUs(%q) = %d", s, n)
		}
	})
}

func FuzzParseLogOpts(f *testing.F) {
	for _, s := range []string{"max-size=10m,max-file=3", "max-file=0", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lc, err := parseLogOpts([]string{s})
		if err == nil && (lc.MaxSize < 0 || lc.MaxFiles < 0) {
			t.Fatalf("parseLogOpts(%q) = %+v", s, lc)
		}
	})
}

func FuzzParseSecurityOpt(f *testing.F) {
	for _, s := range []string{"no-new-privileges", "seccomp=unconfined", "seccomp=/x.json", "label=x", "bogus"} {
		f.Add(s)
	}
	read := func(string) ([]byte, error) { return []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), nil }
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseSecurityOpt(s, read)
	})
}

func FuzzParseKeyValue(f *testing.F) {
	for _, s := range []string{"a=b", "a", "=b", "a b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, _, err := parseKeyValue("label", s, true)
		if err == nil && k == "" {
			t.Fatalf("parseKeyValue(%q) accepted an empty key", s)
		}
	})
}

func FuzzParseTimeArg(f *testing.F) {
	for _, s := range []string{"10m", "1700000000", "2026-11-27T10:00:00Z", "2026-11-27", "-5m", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseTimeArg("since", s, fixedNow)
	})
}

func FuzzParseCopyArg(f *testing.F) {
	for _, s := range []string{"ctr:/etc/hosts", "/local", "./a:b", "-", "c:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := parseCopyArg(s)
		if a.container == "" && a.path != s {
			t.Fatalf("parseCopyArg(%q) = %+v: a local path must be kept whole", s, a)
		}
	})
}
