//go:build linux

package profile

import (
	"errors"
	"fmt"
	"testing"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func fixedKernel() (*seccomp.KernelVersion, error) {
	return &seccomp.KernelVersion{Kernel: 6, Major: 18}, nil
}

// dockerFor is Docker's default profile resolved for goarch and caps.
func dockerFor(t testing.TB, goarch string, caps []string) *specs.LinuxSeccomp {
	t.Helper()
	s, err := resolveProfile(seccomp.DefaultProfile(), goarch, caps, fixedKernel)
	if err != nil {
		t.Fatalf("resolve docker profile for %s: %v", goarch, err)
	}
	return s
}

func mustNr(t testing.TB, table map[string]uint32, name string) uint32 {
	t.Helper()
	nr, ok := table[name]
	if !ok {
		t.Fatalf("no syscall %q in table", name)
	}
	return nr
}

const (
	cloneNewUser = 0x10000000
	cloneNewNS   = 0x00020000
	sigchld      = 17
	afInet       = 2
	afVsock      = 40
	afAlg        = 38
)

type abiCase struct {
	name   string
	arch   uint32
	table  map[string]uint32
	args32 bool
}

// TestDockerProfileInterpreted runs Docker's default profile, compiled for
// every supported GOARCH and each of its ABIs, in a BPF interpreter.
func TestDockerProfileInterpreted(t *testing.T) {
	archs := map[string][]abiCase{
		"amd64": {
			{"x86_64", auditArchX86_64, sysnumAMD64, false},
			{"i386", auditArchI386, sysnumI386, true},
			{"x32", auditArchX86_64, sysnumX32, true},
		},
		"arm64": {
			{"aarch64", auditArchAARCH64, sysnumARM64, false},
			{"arm", auditArchARM, sysnumARM, true},
		},
		"arm": {
			{"arm", auditArchARM, sysnumARM, true},
		},
	}
	foreign := map[string]uint32{"amd64": auditArchAARCH64, "arm64": auditArchX86_64, "arm": auditArchI386}

	for goarch, abis := range archs {
		t.Run(goarch, func(t *testing.T) {
			s := dockerFor(t, goarch, DefaultCapabilities())
			prog, err := Compile(s, goarch)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			t.Logf("%s: %d instructions", goarch, len(prog))
			if len(prog) > 4096 {
				t.Fatalf("program has %d instructions, over the kernel limit", len(prog))
			}
			vm := vmFor(t, prog)
			for _, a := range abis {
				call := func(name string, args ...uint64) seccompData {
					d := seccompData{nr: mustNr(t, a.table, name), arch: a.arch}
					copy(d.args[:], args)
					return d
				}
				cases := []struct {
					what string
					d    seccompData
					want uint32
				}{
					{"getpid", call("getpid"), wantAllow},
					{"read", call("read"), wantAllow},
					{"exit_group", call("exit_group"), wantAllow},
					{"clone3 gets ENOSYS so libcs fall back to clone", call("clone3"), wantENOSYS},
					{"plain clone", call("clone", sigchld), wantAllow},
					{"thread clone", call("clone", 0x3d0f00), wantAllow},
					{"clone with CLONE_NEWUSER", call("clone", cloneNewUser|sigchld), wantEPERM},
					{"clone with CLONE_NEWNS", call("clone", cloneNewNS), wantEPERM},
					{"personality(0)", call("personality", 0), wantAllow},
					{"personality(0xffffffff)", call("personality", 0xffffffff), wantAllow},
					{"personality(0x123)", call("personality", 0x123), wantEPERM},
					{"unshare", call("unshare", cloneNewNS), wantEPERM},
					{"mount", call("mount"), wantEPERM},
					{"keyctl", call("keyctl"), wantEPERM},
					{"kexec_load", call("kexec_load"), wantEPERM},
					{"unknown number", seccompData{nr: 4000, arch: a.arch}, wantEPERM},
				}
				if a.name == "x32" {
					cases[len(cases)-1].d.nr |= x32SyscallBit
				}
				if _, ok := a.table["socket"]; ok {
					cases = append(cases,
						struct {
							what string
							d    seccompData
							want uint32
						}{"socket(AF_INET)", call("socket", afInet), wantAllow},
						struct {
							what string
							d    seccompData
							want uint32
						}{"socket(AF_VSOCK)", call("socket", afVsock), wantEPERM},
						struct {
							what string
							d    seccompData
							want uint32
						}{"socket(AF_ALG)", call("socket", afAlg), wantEPERM},
					)
				}
				if !a.args32 {
					// 64-bit ABIs compare all 64 bits of an argument.
					cases = append(cases, struct {
						what string
						d    seccompData
						want uint32
					}{"personality with high bits set", call("personality", 1<<32), wantEPERM})
				}
				for _, c := range cases {
					if got := run(t, vm, c.d); got != c.want {
						t.Errorf("%s %s: nr %#x args %#x: got %#x, want %#x", a.name, c.what, c.d.nr, c.d.args[:2], got, c.want)
					}
					if got := model(s, goarch, c.d); got != c.want {
						t.Errorf("model disagrees with the expectation: %s %s: got %#x, want %#x", a.name, c.what, got, c.want)
					}
				}
			}
			// Wrong architecture: killed.
			if got := run(t, vm, seccompData{nr: 39, arch: foreign[goarch]}); got != wantKillP {
				t.Errorf("foreign arch %#x: got %#x, want kill-process", foreign[goarch], got)
			}
		})
	}
}

// TestDockerProfileSysAdmin checks capability-gated rules: CAP_SYS_ADMIN
// allows clone3, namespace clones, unshare and mount.
func TestDockerProfileSysAdmin(t *testing.T) {
	caps, err := ApplyCapabilityChanges(DefaultCapabilities(), []string{"sys_admin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := dockerFor(t, "amd64", caps)
	prog, err := Compile(s, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	vm := vmFor(t, prog)
	for _, c := range []struct {
		name string
		arg0 uint64
	}{{"clone3", 0}, {"clone", cloneNewUser}, {"unshare", cloneNewNS}, {"mount", 0}, {"setns", 0}} {
		d := seccompData{nr: mustNr(t, sysnumAMD64, c.name), arch: auditArchX86_64, args: [6]uint64{c.arg0}}
		if got := run(t, vm, d); got != wantAllow {
			t.Errorf("with CAP_SYS_ADMIN %s(%#x): got %#x, want allow", c.name, c.arg0, got)
		}
	}
}

// TestDockerProfileNoCompatArches: without SCMP_ARCH_X86/X32 listed, i386
// and x32 syscalls kill the process.
func TestDockerProfileNoCompatArches(t *testing.T) {
	s := dockerFor(t, "amd64", DefaultCapabilities())
	s.Architectures = []specs.Arch{specs.ArchX86_64}
	prog, err := Compile(s, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	vm := vmFor(t, prog)
	for _, d := range []seccompData{
		{nr: 20, arch: auditArchI386},
		{nr: 39 | x32SyscallBit, arch: auditArchX86_64},
		{nr: 0xffffffff, arch: auditArchX86_64},
	} {
		if got := run(t, vm, d); got != wantKillP {
			t.Errorf("%+v: got %#x, want kill-process", d, got)
		}
	}
	if got := run(t, vm, seccompData{nr: 39, arch: auditArchX86_64}); got != wantAllow {
		t.Errorf("native getpid: got %#x, want allow", got)
	}
}

// TestDockerProfileResolution checks Docker's include/exclude logic.
func TestDockerProfileResolution(t *testing.T) {
	has := func(s *specs.LinuxSeccomp, name string, action specs.LinuxSeccompAction) bool {
		for _, c := range s.Syscalls {
			for _, n := range c.Names {
				if n == name && c.Action == action && len(c.Args) == 0 {
					return true
				}
			}
		}
		return false
	}
	amd := dockerFor(t, "amd64", DefaultCapabilities())
	if want := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}; fmt.Sprint(amd.Architectures) != fmt.Sprint(want) {
		t.Errorf("amd64 architectures = %v, want %v", amd.Architectures, want)
	}
	if !has(amd, "arch_prctl", specs.ActAllow) || has(amd, "set_tls", specs.ActAllow) {
		t.Error("amd64 profile: want arch_prctl and not set_tls")
	}
	if has(amd, "ptrace", specs.ActAllow) == false {
		t.Error("kernel 6.18: ptrace (minKernel 4.8) should be allowed")
	}
	if has(amd, "reboot", specs.ActAllow) {
		t.Error("reboot allowed without CAP_SYS_BOOT")
	}
	arm := dockerFor(t, "arm64", []string{"CAP_SYS_BOOT"})
	if want := []specs.Arch{specs.ArchAARCH64, specs.ArchARM}; fmt.Sprint(arm.Architectures) != fmt.Sprint(want) {
		t.Errorf("arm64 architectures = %v, want %v", arm.Architectures, want)
	}
	if !has(arm, "set_tls", specs.ActAllow) || !has(arm, "reboot", specs.ActAllow) || has(arm, "arch_prctl", specs.ActAllow) {
		t.Error("arm64 profile with CAP_SYS_BOOT: want set_tls and reboot, not arch_prctl")
	}
	old, err := resolveProfile(seccomp.DefaultProfile(), "amd64", nil, func() (*seccomp.KernelVersion, error) {
		return &seccomp.KernelVersion{Kernel: 4, Major: 4}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if has(old, "ptrace", specs.ActAllow) {
		t.Error("kernel 4.4: ptrace (minKernel 4.8) should not be allowed")
	}
	// The input profile is not modified.
	p := seccomp.DefaultProfile()
	before := fmt.Sprint(p.Syscalls[0].Names, len(p.Syscalls), p.Architectures)
	if _, err := resolveProfile(p, "amd64", nil, fixedKernel); err != nil {
		t.Fatal(err)
	}
	if after := fmt.Sprint(p.Syscalls[0].Names, len(p.Syscalls), p.Architectures); after != before {
		t.Error("resolveProfile modified its input")
	}
}

// TestDefaultSeccompNative exercises the exported native-arch entry points.
func TestDefaultSeccompNative(t *testing.T) {
	s, err := DefaultSeccomp(DefaultCapabilities())
	if err != nil {
		t.Fatalf("DefaultSeccomp: %v", err)
	}
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != 1 {
		t.Errorf("default action = %s/%v, want ERRNO(EPERM)", s.DefaultAction, s.DefaultErrnoRet)
	}
	if _, err := Compile(s, "amd64"); err != nil {
		t.Errorf("compile native default for amd64: %v", err)
	}
	_, err = LoadSeccompJSON([]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [`), nil)
	if !errors.Is(err, ErrInvalidProfile) {
		t.Errorf("truncated JSON: err = %v, want ErrInvalidProfile", err)
	}
}

func BenchmarkCompileDocker(b *testing.B) {
	s := dockerFor(b, "amd64", DefaultCapabilities())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(s, "amd64"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDefaultSeccompAndCompile(b *testing.B) {
	caps := DefaultCapabilities()
	b.ReportAllocs()
	for b.Loop() {
		s, err := resolveProfile(seccomp.DefaultProfile(), "amd64", caps, fixedKernel)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(s, "amd64"); err != nil {
			b.Fatal(err)
		}
	}
}
