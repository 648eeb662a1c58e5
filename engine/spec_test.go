package engine

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/api"
	"kedge/engine/tini"
)

func TestCommandLineFollowsDocker(t *testing.T) {
	img := imageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"default"}}
	cases := []struct {
		name string
		cfg  api.ContainerConfig
		img  imageConfig
		want []string
	}{
		{"image defaults", api.ContainerConfig{}, img, []string{"/ep", "default"}},
		{"cmd replaces cmd", api.ContainerConfig{Cmd: []string{"x"}}, img, []string{"/ep", "x"}},
		{"entrypoint drops image cmd", api.ContainerConfig{Entrypoint: []string{"/other"}}, img, []string{"/other"}},
		{"entrypoint and cmd", api.ContainerConfig{Entrypoint: []string{"/other"}, Cmd: []string{"a"}}, img, []string{"/other", "a"}},
		{"reset entrypoint", api.ContainerConfig{Entrypoint: []string{""}, Cmd: []string{"sh"}}, img, []string{"sh"}},
	}
	for _, c := range cases {
		got, err := commandLine(&c.cfg, c.img)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
	if _, err := commandLine(&api.ContainerConfig{}, imageConfig{}); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("no command: %v, want ErrInvalid", err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/img", "A=1"}, []string{"A=2", "B=3"}, "h", true)
	want := []string{"PATH=/img", "HOSTNAME=h", "A=2", "B=3", "TERM=xterm"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mergeEnv = %v, want %v", got, want)
	}
}

func TestSecurityOpts(t *testing.T) {
	so, err := parseSecurityOpts(nil)
	if err != nil || !so.NoNewPrivileges || so.Seccomp != "" {
		t.Fatalf("defaults = %+v %v: no_new_privs must be on by default", so, err)
	}
	so, _ = parseSecurityOpts([]string{"no-new-privileges=false", "seccomp=unconfined"})
	if so.NoNewPrivileges || so.Seccomp != "unconfined" {
		t.Fatalf("parsed = %+v", so)
	}
	so, _ = parseSecurityOpts([]string{"no-new-privileges:true"})
	if !so.NoNewPrivileges {
		t.Fatal("old colon syntax not understood")
	}
	for _, bad := range []string{"no-new-privileges=maybe", "seccomp=", "bogus=1"} {
		if _, err := parseSecurityOpts([]string{bad}); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzSecurityOpts(f *testing.F) {
	for _, s := range []string{"no-new-privileges", "seccomp=unconfined", "seccomp={}", "apparmor=x", "=", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseSecurityOpts([]string{s})
	})
}

func TestRlimitsClampAndRefuse(t *testing.T) {
	host := func(string) uint64 { return 20000 }
	in := &specInput{Config: &api.ContainerConfig{}, HostNofileHard: 20000, HostRlimitHard: host}
	rl, err := rlimits(in)
	if err != nil || len(rl) != 1 || rl[0].Hard != 20000 || rl[0].Soft != 20000 {
		t.Fatalf("default nofile = %+v %v, want clamped to the host's 20000", rl, err)
	}
	in.Config.Resources.Ulimits = []api.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}}
	if rl, err = rlimits(in); err != nil || rl[0].Soft != 100 || rl[0].Hard != 200 {
		t.Fatalf("ulimit = %+v %v", rl, err)
	}
	in.Config.Resources.Ulimits = []api.Ulimit{{Name: "nofile", Soft: 100, Hard: 30000}}
	if _, err = rlimits(in); err == nil || !strings.Contains(err.Error(), "host's hard limit") {
		t.Fatalf("above the host's hard limit: %v, want a clear error", err)
	}
	in.Config.Resources.Ulimits = []api.Ulimit{{Name: "nofile", Soft: 300, Hard: 200}}
	if _, err = rlimits(in); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("soft above hard: %v", err)
	}
}

func baseInput(cfg *api.ContainerConfig) *specInput {
	return &specInput{
		ID: strings.Repeat("ab", 32), Config: cfg, Image: imageConfig{Cmd: []string{"sh"}},
		RootfsPath: "/rootfs", CgroupsPath: "/kedge-x/id", HostNofileHard: 20000,
	}
}

func hasNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	return slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ })
}

func TestBuildSpecDefaults(t *testing.T) {
	s, err := buildSpec(baseInput(&api.ContainerConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace, specs.CgroupNamespace, specs.NetworkNamespace} {
		if !hasNamespace(s, ns) {
			t.Errorf("missing %s namespace", ns)
		}
	}
	if !s.Process.NoNewPrivileges || s.Linux.Seccomp == nil || len(s.Linux.MaskedPaths) == 0 || len(s.Process.Capabilities.Bounding) != 14 {
		t.Errorf("hardening missing: nnp=%v seccomp=%v masked=%d caps=%d", s.Process.NoNewPrivileges, s.Linux.Seccomp != nil, len(s.Linux.MaskedPaths), len(s.Process.Capabilities.Bounding))
	}
	if len(s.Process.Capabilities.Inheritable) != 0 {
		t.Errorf("inheritable caps must be empty: %v", s.Process.Capabilities.Inheritable)
	}
	if s.Hostname != strings.Repeat("ab", 6) {
		t.Errorf("hostname = %q, want the short id", s.Hostname)
	}
	if s.Linux.Resources.Pids != nil {
		t.Errorf("pids limit without a default: %v", *s.Linux.Resources.Pids.Limit)
	}
}

func TestBuildSpecOptions(t *testing.T) {
	in := baseInput(&api.ContainerConfig{NetworkMode: "host", Init: true, Security: api.Security{Privileged: true}, Resources: api.Resources{NanoCPUs: 1_500_000_000}})
	in.InitBinary = "/usr/local/bin/kedge"
	in.DefaultPidsLimit = 4096
	s, err := buildSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if hasNamespace(s, specs.NetworkNamespace) {
		t.Error("--network host must not get a network namespace")
	}
	if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || s.Process.NoNewPrivileges {
		t.Error("--privileged keeps restrictions")
	}
	if s.Process.Args[0] != tini.Path {
		t.Errorf("--init: args %v", s.Process.Args)
	}
	if q := *s.Linux.Resources.CPU.Quota; q != 150000 {
		t.Errorf("--cpus 1.5: quota %d, want 150000", q)
	}
	if *s.Linux.Resources.Pids.Limit != 4096 {
		t.Error("default pids limit not applied")
	}
	s, _ = buildSpec(baseInput(&api.ContainerConfig{Security: api.Security{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_ADMIN"}}}))
	if !reflect.DeepEqual(s.Process.Capabilities.Bounding, []string{"CAP_NET_ADMIN"}) {
		t.Errorf("cap-drop ALL + cap-add NET_ADMIN = %v", s.Process.Capabilities.Bounding)
	}
}

func TestValidateConfig(t *testing.T) {
	bad := []api.ContainerConfig{
		{Name: "-bad"},
		{RestartPolicy: api.RestartPolicy{Name: "always", MaximumRetryCount: 3}},
		{AutoRemove: true, RestartPolicy: api.RestartPolicy{Name: "always"}},
		{NetworkMode: "bridge0"},
		{Resources: api.Resources{CpusetCpus: "0-"}},
		{Mounts: []api.Mount{{Type: "tmpfs", Target: "relative"}}},
		{Mounts: []api.Mount{{Type: "tmpfs", Target: "/a"}, {Type: "tmpfs", Target: "/a/"}}},
		{Security: api.Security{Sysctls: map[string]string{"kernel.panic": "1"}}},
		{Healthcheck: &api.HealthConfig{Test: []string{"RUN", "x"}}},
	}
	for i, cfg := range bad {
		if err := validateConfig(&cfg, false); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("case %d (%+v): %v, want ErrInvalid", i, cfg, err)
		}
	}
	if err := validateConfig(&api.ContainerConfig{Name: "ok", Resources: api.Resources{CpusetCpus: "0-1,3"}, Security: api.Security{Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}}}, false); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"SIGTERM": 15, "term": 15, "KILL": 9, "9": 9, "SIGUSR1": 10} {
		if got, err := parseSignal(in); err != nil || int(got) != want {
			t.Errorf("parseSignal(%q) = %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "SIGFOO", "0", "99"} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q) accepted", bad)
		}
	}
}

func TestHealthcheckResolution(t *testing.T) {
	img := &api.HealthConfig{Test: []string{"CMD", "true"}, Retries: 5}
	got := resolveHealthcheck(nil, img)
	if got == nil || got.Retries != 5 || got.Interval != defaultHealthInterval {
		t.Fatalf("image check = %+v", got)
	}
	if resolveHealthcheck(&api.HealthConfig{Test: []string{"NONE"}}, img) != nil {
		t.Fatal("--no-healthcheck must disable the image's check")
	}
	if h := imageHealthcheck([]byte(`{"config":{"Healthcheck":{"Test":["CMD-SHELL","wget -q localhost"],"Interval":5000000000,"Retries":2}}}`)); h == nil || h.Interval.Seconds() != 5 {
		t.Fatalf("docker config healthcheck = %+v", h)
	}
}

func TestCapabilitiesLimitedToTheAgents(t *testing.T) {
	held := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"}
	in := baseInput(&api.ContainerConfig{Security: api.Security{Privileged: true}})
	in.HeldCaps = held
	s, err := buildSpec(in)
	if err != nil || !reflect.DeepEqual(s.Process.Capabilities.Bounding, held) {
		t.Fatalf("privileged with held %v: %v %v", held, s.Process.Capabilities.Bounding, err)
	}
	in = baseInput(&api.ContainerConfig{Security: api.Security{CapDrop: []string{"ALL"}, CapAdd: []string{"SYS_RESOURCE"}}})
	in.HeldCaps = held
	if _, err := buildSpec(in); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "CAP_SYS_RESOURCE") {
		t.Fatalf("asking for a capability the agent lacks: %v, want a clear ErrInvalid", err)
	}
}

func TestDefaultBridgeSubnetAvoidsTakenOnes(t *testing.T) {
	key := "0123456789"
	first := defaultBridgeSubnet(key, netip.Prefix{}, nil)
	p := netip.MustParsePrefix(first)
	if !netip.MustParsePrefix("10.64.0.0/10").Contains(p.Addr()) || p.Bits() != 16 {
		t.Fatalf("default subnet %s, want a /16 in 10.64.0.0/10", first)
	}
	if again := defaultBridgeSubnet(key, netip.Prefix{}, nil); again != first {
		t.Fatalf("not stable: %s then %s", first, again)
	}
	// Another agent's bridge holds it: the next free one.
	second := defaultBridgeSubnet(key, netip.Prefix{}, []netip.Prefix{netip.MustParsePrefix(first), netip.MustParsePrefix("10.89.3.0/24")})
	if second == first || netip.MustParsePrefix(second).Overlaps(netip.MustParsePrefix("10.89.0.0/16")) {
		t.Fatalf("with %s taken: %s", first, second)
	}
	// Its own bridge's subnet wins, whatever is taken.
	own := netip.MustParsePrefix("10.100.0.1/16")
	if got := defaultBridgeSubnet(key, own, []netip.Prefix{own.Masked()}); got != "10.100.0.0/16" {
		t.Fatalf("with its own bridge on 10.100.0.0/16: %s", got)
	}
}
