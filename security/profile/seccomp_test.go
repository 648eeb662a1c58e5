package profile

import (
	"errors"
	"testing"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func kernel618() (*seccomp.KernelVersion, error) {
	return &seccomp.KernelVersion{Kernel: 6, Major: 18}, nil
}

// dockerStyle is a small profile in Docker's format using every feature.
const dockerStyle = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 1,
	"archMap": [
		{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
	],
	"syscalls": [
		{"names": ["read", "write", "getpid"], "action": "SCMP_ACT_ALLOW"},
		{"name": "getppid", "action": "SCMP_ACT_ALLOW"},
		{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
		{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
		{"names": ["kexec_load"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
		{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
	]
}`

// plainSpec is a runtime-spec LinuxSeccomp document.
const plainSpec = `{
	"defaultAction": "SCMP_ACT_KILL_PROCESS",
	"architectures": ["SCMP_ARCH_X86_64"],
	"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
}`

func names(s *specs.LinuxSeccomp) map[string]specs.LinuxSeccompAction {
	m := map[string]specs.LinuxSeccompAction{}
	for _, c := range s.Syscalls {
		for _, n := range c.Names {
			m[n] = c.Action
		}
	}
	return m
}

func TestLoadSeccompJSONDockerFormat(t *testing.T) {
	s, err := loadSeccompJSON([]byte(dockerStyle), "amd64", DefaultCapabilities(), kernel618)
	if err != nil {
		t.Fatal(err)
	}
	n := names(s)
	for _, want := range []string{"read", "getppid", "clone3", "arch_prctl", "ptrace", "personality"} {
		if _, ok := n[want]; !ok {
			t.Errorf("amd64 with default caps: %s missing", want)
		}
	}
	for _, not := range []string{"mount", "kexec_load"} {
		if _, ok := n[not]; ok {
			t.Errorf("amd64 with default caps: %s present", not)
		}
	}
	if len(s.Architectures) != 3 || s.Architectures[0] != specs.ArchX86_64 {
		t.Errorf("architectures = %v, want x86_64 with its subarches", s.Architectures)
	}

	s, err = loadSeccompJSON([]byte(dockerStyle), "arm64", []string{"sys_admin"}, kernel618)
	if err != nil {
		t.Fatal(err)
	}
	n = names(s)
	if _, ok := n["clone3"]; ok {
		t.Error("clone3 ENOSYS rule kept although CAP_SYS_ADMIN is held")
	}
	if _, ok := n["mount"]; !ok {
		t.Error("mount missing although CAP_SYS_ADMIN is held")
	}
	if _, ok := n["arch_prctl"]; ok {
		t.Error("arch_prctl included on arm64")
	}

	prog, err := Compile(s, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	vm := vmFor(t, prog)
	if got := run(t, vm, seccompData{nr: sysnumARM64["getppid"], arch: auditArchAARCH64}); got != wantAllow {
		t.Errorf("getppid via legacy name field: got %#x, want allow", got)
	}
}

func TestLoadSeccompJSONPlainSpec(t *testing.T) {
	s, err := loadSeccompJSON([]byte(plainSpec), "amd64", nil, kernel618)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(s, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	vm := vmFor(t, prog)
	for nr, want := range map[uint32]uint32{
		sysnumAMD64["read"]: wantAllow, sysnumAMD64["openat"]: 0x00050000 | 13, sysnumAMD64["getpid"]: wantKillP,
	} {
		if got := run(t, vm, seccompData{nr: nr, arch: auditArchX86_64}); got != want {
			t.Errorf("nr %d: got %#x, want %#x", nr, got, want)
		}
	}
	// i386 is not listed: killed.
	if got := run(t, vm, seccompData{nr: 3, arch: auditArchI386}); got != wantKillP {
		t.Errorf("i386 read: got %#x, want kill-process", got)
	}
}

func TestLoadSeccompJSONErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"truncated":      `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [`,
		"not an object":  `[1, 2]`,
		"wrong type":     `{"defaultAction": 7}`,
		"trailing":       `{"defaultAction": "SCMP_ACT_ALLOW"} {}`,
		"trailing junk":  `{"defaultAction": "SCMP_ACT_ALLOW"} ]`,
		"no default":     `{"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}`,
		"both arch":      `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`,
		"name and names": `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`,
		"null rule":      `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [null]}`,
		"bad kernel":     `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "x"}}]}`,
	} {
		if _, err := loadSeccompJSON([]byte(doc), "amd64", nil, kernel618); !errors.Is(err, ErrInvalidProfile) {
			t.Errorf("%s: err = %v, want ErrInvalidProfile", name, err)
		}
	}
}

func FuzzLoadSeccompJSON(f *testing.F) {
	for _, s := range []string{dockerStyle, plainSpec, `{}`, `{"defaultAction":"SCMP_ACT_ALLOW"}`, `null`,
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":7,"op":"SCMP_CMP_EQ"}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, goarch := range goarches {
			s, err := loadSeccompJSON(data, goarch, DefaultCapabilities(), kernel618)
			if err != nil {
				if !errors.Is(err, ErrInvalidProfile) {
					t.Fatalf("load: error %v is not ErrInvalidProfile", err)
				}
				return
			}
			prog, err := Compile(s, goarch)
			if err != nil {
				if !errors.Is(err, ErrInvalidProfile) && !errors.Is(err, ErrProgramTooLong) {
					t.Fatalf("compile: unexpected error kind %v", err)
				}
				continue
			}
			vmFor(t, prog)
		}
	})
}
