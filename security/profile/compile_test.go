package profile

import (
	"errors"
	"math/rand/v2"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func uintp(v uint) *uint { return &v }

// TestCompileLongJumps compiles a profile whose dispatch tree needs jumps
// longer than classic BPF's 255-instruction conditional offsets, and checks
// every syscall number against the model.
func TestCompileLongJumps(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}}
	i := 0
	for name := range sysnumAMD64 {
		i++
		c := specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow}
		if i%2 == 0 {
			c.Args = []specs.LinuxSeccompArg{{Index: uint(i % 6), Value: uint64(i), Op: specs.OpEqualTo}}
		}
		s.Syscalls = append(s.Syscalls, c)
	}
	prog, err := Compile(s, "amd64")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if len(prog) < 1000 {
		t.Fatalf("program has only %d instructions: the test no longer needs long jumps", len(prog))
	}
	vm := vmFor(t, prog)
	for _, d := range []struct {
		arch  uint32
		table map[string]uint32
	}{{auditArchX86_64, sysnumAMD64}, {auditArchI386, sysnumI386}, {auditArchX86_64, sysnumX32}} {
		for _, nr := range d.table {
			for _, arg := range []uint64{0, 2, 7, 100} {
				in := seccompData{nr: nr, arch: d.arch, args: [6]uint64{arg, arg, arg, arg, arg, arg}}
				if got, want := run(t, vm, in), model(s, "amd64", in); got != want {
					t.Fatalf("nr %#x arch %#x arg %d: got %#x, want %#x", nr, d.arch, arg, got, want)
				}
			}
		}
	}
}

// TestCompileErrors checks that bad profiles are refused with clear errors.
func TestCompileErrors(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	cases := []struct {
		name   string
		s      *specs.LinuxSeccomp
		goarch string
		want   error
	}{
		{"nil", nil, "amd64", ErrInvalidProfile},
		{"arch", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}, "riscv64", ErrUnsupportedArch},
		{"default action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, "amd64", ErrInvalidProfile},
		{"notify", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "amd64", ErrInvalidProfile},
		{"errno too big", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(70000)}, "amd64", ErrInvalidProfile},
		{"unknown arch name", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}, "amd64", ErrInvalidProfile},
		{"arg index", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{ok, {
			Names: []string{"write"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "amd64", ErrInvalidProfile},
		{"operator", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"write"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_ODD"}}}}}, "amd64", ErrInvalidProfile},
	}
	for _, c := range cases {
		if _, err := Compile(c.s, c.goarch); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// Foreign but valid architectures and unknown syscall names are ignored.
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchS390X, specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_syscall", "read"}, Action: specs.ActAllow}}}
	prog, err := Compile(s, "amd64")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if got := run(t, vmFor(t, prog), seccompData{nr: 0, arch: auditArchX86_64}); got != wantAllow {
		t.Errorf("read: got %#x, want allow", got)
	}
}

// Pools the random profiles draw from: names that exist on some ABIs only,
// values at the 32-bit edges.
var (
	fuzzNames = []string{"read", "write", "getpid", "clone", "clone3", "personality", "socket",
		"ioctl", "execve", "set_tls", "arch_prctl", "socketcall", "no_such_syscall"}
	fuzzValues = []uint64{0, 1, 2, 0x7f, 0xffffffff, 0x100000000, 0x1ffffffff, 0xffffffff00000000,
		^uint64(0), 0x10000000, 0x80000000}
	fuzzOps = []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan,
		specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	fuzzActions = []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKill,
		specs.ActKillProcess, specs.ActTrap, specs.ActTrace, specs.ActLog, specs.ActKillThread}
	fuzzArches = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM, specs.ArchS390X}
	goarches   = []string{"amd64", "arm64", "arm"}
)

// randomProfile draws a small profile from r.
func randomProfile(r *rand.Rand) *specs.LinuxSeccomp {
	val := func() uint64 {
		if r.IntN(3) == 0 {
			return r.Uint64() >> r.IntN(64)
		}
		return fuzzValues[r.IntN(len(fuzzValues))]
	}
	action := func() (specs.LinuxSeccompAction, *uint) {
		a := fuzzActions[r.IntN(len(fuzzActions))]
		if r.IntN(2) == 0 {
			return a, uintp(uint(r.IntN(200)))
		}
		return a, nil
	}
	s := &specs.LinuxSeccomp{}
	s.DefaultAction, s.DefaultErrnoRet = action()
	for _, a := range fuzzArches {
		if r.IntN(2) == 0 {
			s.Architectures = append(s.Architectures, a)
		}
	}
	for range r.IntN(8) {
		c := specs.LinuxSyscall{}
		for range 1 + r.IntN(3) {
			c.Names = append(c.Names, fuzzNames[r.IntN(len(fuzzNames))])
		}
		c.Action, c.ErrnoRet = action()
		for range r.IntN(4) {
			c.Args = append(c.Args, specs.LinuxSeccompArg{
				Index: uint(r.IntN(3)), Value: val(), ValueTwo: val(), Op: fuzzOps[r.IntN(len(fuzzOps))],
			})
		}
		s.Syscalls = append(s.Syscalls, c)
	}
	return s
}

// checkAgainstModel compiles s for goarch and compares the program with the
// model on inputs drawn from r.
func checkAgainstModel(t *testing.T, r *rand.Rand, s *specs.LinuxSeccomp, goarch string) {
	t.Helper()
	prog, err := Compile(s, goarch)
	if err != nil {
		t.Fatalf("compile %+v for %s: %v", s, goarch, err)
	}
	vm := vmFor(t, prog)
	arches := []uint32{auditArchX86_64, auditArchI386, auditArchAARCH64, auditArchARM}
	tables := []map[string]uint32{sysnumAMD64, sysnumI386, sysnumX32, sysnumARM64, sysnumARM}
	for range 64 {
		d := seccompData{arch: arches[r.IntN(len(arches))]}
		switch r.IntN(4) {
		case 0:
			d.nr = r.Uint32()
		default:
			tab := tables[r.IntN(len(tables))]
			if nr, ok := tab[fuzzNames[r.IntN(len(fuzzNames))]]; ok {
				d.nr = nr
			}
		}
		for i := range d.args {
			if r.IntN(2) == 0 {
				d.args[i] = fuzzValues[r.IntN(len(fuzzValues))]
			} else {
				d.args[i] = r.Uint64() >> r.IntN(64)
			}
		}
		if got, want := run(t, vm, d), model(s, goarch, d); got != want {
			t.Fatalf("%s profile %+v\ninput %+v: program %#x, model %#x", goarch, s, d, got, want)
		}
	}
}

// TestCompileMatchesModel is the deterministic part of the model-based
// check: many random small profiles on every supported GOARCH.
func TestCompileMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		s := randomProfile(r)
		for _, g := range goarches {
			checkAgainstModel(t, r, s, g)
		}
	}
}

// FuzzCompile draws a profile and inputs from the fuzzer's seed and checks
// the compiled program agrees with a direct evaluation of the profile.
func FuzzCompile(f *testing.F) {
	for i := range uint64(8) {
		f.Add(i, i*7919)
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		s := randomProfile(r)
		checkAgainstModel(t, r, s, goarches[r.IntN(len(goarches))])
	})
}
