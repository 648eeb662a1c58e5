package profile

//go:generate go run gen_syscalls.go

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Values of seccomp_data.arch (linux/audit.h AUDIT_ARCH_*).
const (
	auditArchX86_64  = 0xC000003E
	auditArchI386    = 0x40000003
	auditArchAARCH64 = 0xC00000B7
	auditArchARM     = 0x40000028
)

// x32SyscallBit is __X32_SYSCALL_BIT: x32 programs run under
// AUDIT_ARCH_X86_64 with this bit set in the syscall number.
const x32SyscallBit = 0x40000000

// abi is one syscall ABI a filter can see: the arch word the kernel reports,
// how syscall numbers are spelled, and how wide the arguments are.
type abi struct {
	name      string
	auditArch uint32
	table     map[string]uint32
	// args32 compares only the low 32 bits of arguments and values, as
	// libseccomp does for 32-bit ABIs (i386, x32, arm): the kernel reports
	// their registers zero-extended, or with undefined upper halves.
	args32 bool
}

var (
	abiAMD64 = abi{name: "x86_64", auditArch: auditArchX86_64, table: sysnumAMD64}
	abiX32   = abi{name: "x32", auditArch: auditArchX86_64, table: sysnumX32, args32: true}
	abiI386  = abi{name: "i386", auditArch: auditArchI386, table: sysnumI386, args32: true}
	abiARM64 = abi{name: "aarch64", auditArch: auditArchAARCH64, table: sysnumARM64}
	abiARM   = abi{name: "arm", auditArch: auditArchARM, table: sysnumARM, args32: true}
)

// compatABI is an ABI a native kernel also runs, enabled when the profile
// lists its SCMP_ARCH_* name.
type compatABI struct {
	arch specs.Arch
	abi  abi
}

// archPlan says which ABIs a filter for one GOARCH covers.
type archPlan struct {
	native specs.Arch
	abi    abi
	compat []compatABI
}

// planFor returns the ABIs of the supported GOARCHes.
func planFor(goarch string) (archPlan, error) {
	switch goarch {
	case "amd64":
		return archPlan{native: specs.ArchX86_64, abi: abiAMD64, compat: []compatABI{
			{arch: specs.ArchX86, abi: abiI386},
			{arch: specs.ArchX32, abi: abiX32},
		}}, nil
	case "arm64":
		return archPlan{native: specs.ArchAARCH64, abi: abiARM64, compat: []compatABI{
			{arch: specs.ArchARM, abi: abiARM},
		}}, nil
	case "arm":
		return archPlan{native: specs.ArchARM, abi: abiARM}, nil
	}
	return archPlan{}, fmt.Errorf("GOARCH %q (want amd64, arm64 or arm): %w", goarch, ErrUnsupportedArch)
}

// mobyArch maps GOARCH to the architecture names Docker profiles use in
// "includes"/"excludes" "arches", and to the SCMP_ARCH_* of "archMap" entries
// (as github.com/moby/profiles/seccomp does for the host it runs on).
var mobyArch = map[string]struct {
	name string
	scmp specs.Arch
}{
	"386":      {"x86", specs.ArchX86},
	"amd64":    {"amd64", specs.ArchX86_64},
	"arm":      {"arm", specs.ArchARM},
	"arm64":    {"arm64", specs.ArchAARCH64},
	"loong64":  {"loongarch64", specs.ArchLOONGARCH64},
	"mips64":   {"mips64", specs.ArchMIPS64},
	"mips64le": {"mipsel64", specs.ArchMIPSEL64},
	"mipsle":   {"mipsel", specs.ArchMIPSEL},
	"ppc64":    {"ppc64", specs.ArchPPC64},
	"ppc64le":  {"ppc64le", specs.ArchPPC64LE},
	"riscv64":  {"riscv64", specs.ArchRISCV64},
	"s390x":    {"s390x", specs.ArchS390X},
}

// knownArches is every SCMP_ARCH_* name the runtime-spec defines.
var knownArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true,
	specs.ArchARM: true, specs.ArchAARCH64: true,
	specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true,
	specs.ArchPPC: true, specs.ArchPPC64: true, specs.ArchPPC64LE: true,
	specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true,
	specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true,
	specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}
