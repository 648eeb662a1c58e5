package profile

import (
	"encoding/binary"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// seccompData is the kernel's struct seccomp_data as a test input.
type seccompData struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// encode lays d out for golang.org/x/net/bpf's VM. The kernel loads
// seccomp_data words in native (little-endian) order while the VM loads them
// big-endian, so each 32-bit word is written big-endian at its native offset:
// the VM then sees the same word values the kernel would.
func (d seccompData) encode() []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], d.nr)
	binary.BigEndian.PutUint32(b[4:], d.arch)
	for i, a := range d.args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[20+8*i:], uint32(a>>32))
	}
	return b
}

// vmFor loads a compiled program into the x/net/bpf interpreter.
func vmFor(t testing.TB, prog []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatalf("program has instructions the disassembler does not know")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("load program into VM: %v", err)
	}
	return vm
}

// run returns the SECCOMP_RET_* value the program gives d.
func run(t testing.TB, vm *bpf.VM, d seccompData) uint32 {
	t.Helper()
	out, err := vm.Run(d.encode())
	if err != nil {
		t.Fatalf("run program on %+v: %v", d, err)
	}
	return uint32(out)
}

// Expected return values, spelled independently of compile.go.
const (
	wantAllow  = 0x7fff0000
	wantEPERM  = 0x00050000 | 1
	wantENOSYS = 0x00050000 | 38
	wantKillP  = 0x80000000
)

// modelRet is the model's encoding of an action.
func modelRet(a specs.LinuxSeccompAction, errno *uint) uint32 {
	data := uint32(1)
	if errno != nil {
		data = uint32(*errno)
	}
	switch a {
	case specs.ActAllow:
		return 0x7fff0000
	case specs.ActErrno:
		return 0x00050000 | data
	case specs.ActKill, specs.ActKillThread:
		return 0
	case specs.ActKillProcess:
		return 0x80000000
	case specs.ActTrap:
		return 0x00030000
	case specs.ActTrace:
		return 0x7ff00000 | data
	case specs.ActLog:
		return 0x7ffc0000
	}
	panic("model: unknown action " + string(a))
}

// modelABI picks the syscall table and argument width the kernel would use
// for d under profile s on goarch, or ok=false for an ABI the profile does
// not list.
func modelABI(s *specs.LinuxSeccomp, goarch string, d seccompData) (table map[string]uint32, args32, ok bool) {
	listed := func(a specs.Arch) bool {
		for _, x := range s.Architectures {
			if x == a {
				return true
			}
		}
		return false
	}
	switch goarch {
	case "amd64":
		switch {
		case d.arch == 0xC000003E && d.nr < 0x40000000: // as libseccomp: >= is x32
			return sysnumAMD64, false, true
		case d.arch == 0xC000003E && listed(specs.ArchX32):
			return sysnumX32, true, true
		case d.arch == 0x40000003 && listed(specs.ArchX86):
			return sysnumI386, true, true
		}
	case "arm64":
		switch {
		case d.arch == 0xC00000B7:
			return sysnumARM64, false, true
		case d.arch == 0x40000028 && listed(specs.ArchARM):
			return sysnumARM, true, true
		}
	case "arm":
		if d.arch == 0x40000028 {
			return sysnumARM, true, true
		}
	}
	return nil, false, false
}

// model evaluates profile s directly on d: the semantics Compile documents.
func model(s *specs.LinuxSeccomp, goarch string, d seccompData) uint32 {
	table, args32, ok := modelABI(s, goarch, d)
	if !ok {
		return wantKillP
	}
	matchesNr := func(c specs.LinuxSyscall) bool {
		for _, n := range c.Names {
			if nr, ok := table[n]; ok && nr == d.nr {
				return true
			}
		}
		return false
	}
	argHolds := func(a specs.LinuxSeccompArg) bool {
		x, v, v2 := d.args[a.Index], a.Value, a.ValueTwo
		if args32 {
			x, v, v2 = uint64(uint32(x)), uint64(uint32(v)), uint64(uint32(v2))
		}
		switch a.Op {
		case specs.OpEqualTo:
			return x == v
		case specs.OpNotEqual:
			return x != v
		case specs.OpLessThan:
			return x < v
		case specs.OpLessEqual:
			return x <= v
		case specs.OpGreaterThan:
			return x > v
		case specs.OpGreaterEqual:
			return x >= v
		case specs.OpMaskedEqual:
			return x&v == v2
		}
		panic("model: unknown operator")
	}
	for _, c := range s.Syscalls {
		if len(c.Args) == 0 || !matchesNr(c) {
			continue
		}
		all := true
		for _, a := range c.Args {
			all = all && argHolds(a)
		}
		if all {
			return modelRet(c.Action, c.ErrnoRet)
		}
	}
	for _, c := range s.Syscalls {
		if len(c.Args) == 0 && matchesNr(c) {
			return modelRet(c.Action, c.ErrnoRet)
		}
	}
	return modelRet(s.DefaultAction, s.DefaultErrnoRet)
}
