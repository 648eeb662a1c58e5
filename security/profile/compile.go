package profile

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// SECCOMP_RET_* values (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
	retDataMask    = 0x0000ffff
)

// BadArchAction is what a compiled filter returns for a syscall made through
// an ABI the profile does not list (e.g. i386 int 0x80 or x32 on amd64 when
// SCMP_ARCH_X86/SCMP_ARCH_X32 are absent, or 32-bit arm on arm64 without
// SCMP_ARCH_ARM): SECCOMP_RET_KILL_PROCESS, like libseccomp's default
// bad-arch action but killing the whole process rather than one thread.
const BadArchAction = retKillProcess

// maxInsns is the kernel's BPF_MAXINSNS.
const maxInsns = 4096

// seccomp_data offsets (linux/seccomp.h): int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6]. Words are native-endian; all the ABIs
// compiled here are little-endian, so an argument's low half comes first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// argRule is one validated argument comparison.
type argRule struct {
	index     uint32
	op        specs.LinuxSeccompOperator
	val, val2 uint64
}

// rule is one validated profile entry: its names and what it returns when
// all its argument comparisons hold.
type rule struct {
	names []string
	ret   uint32
	args  []argRule
}

// Compile turns a LinuxSeccomp into a classic BPF program for the kernel's
// seccomp filter mode, for the given native GOARCH ("amd64", "arm64", "arm").
//
// Semantics, matching libseccomp/runc where they define them:
//   - The arch word is checked first. The native ABI is always filtered. On
//     amd64, i386 (SCMP_ARCH_X86) and x32 (SCMP_ARCH_X32: AUDIT_ARCH_X86_64
//     with a syscall number >= 0x40000000, as libseccomp tests it) and on arm64, 32-bit arm (SCMP_ARCH_ARM) get their own
//     rules, compiled with their own syscall numbers, when the profile lists
//     them; otherwise such syscalls return BadArchAction (kill the process).
//     Listed architectures of other machines are ignored; unknown
//     SCMP_ARCH_* names are an error.
//   - Syscall names are resolved per ABI from tables generated from
//     golang.org/x/sys (see gen_syscalls.go); a name an ABI lacks is skipped
//     for that ABI, as libseccomp does.
//   - Actions: SCMP_ACT_ALLOW, ERRNO (errnoRet, default EPERM), KILL and
//     KILL_THREAD, KILL_PROCESS, TRAP, TRACE (errnoRet is the tracer's data,
//     default EPERM as in runc), LOG. NOTIFY is refused. defaultAction and
//     defaultErrnoRet work the same way.
//   - Argument comparisons (EQ, NE, LT, LE, GT, GE unsigned; MASKED_EQ is
//     (arg & value) == valueTwo) are on 64 bits for 64-bit ABIs, split into
//     two 32-bit halves; for 32-bit ABIs (i386, x32, arm) only the low 32
//     bits of the argument and the values are compared, as libseccomp does.
//     All comparisons of one entry must hold (AND, also when two compare the
//     same argument: stricter than runc, which then ORs them).
//   - For one syscall, the entries with argument comparisons are tried in
//     profile order and the first whose comparisons all hold decides; if none
//     does, the first entry without comparisons decides; else the default
//     action. So several entries for the same syscall are ORed (clone with
//     flag masks, personality with a few values).
//
// Syscall numbers are dispatched with a balanced binary search over ranges
// of numbers sharing one outcome, so Docker's ~350-syscall profile compiles
// to about 1,000 instructions on amd64 (three ABIs), 700 on arm64 and 400 on
// arm, well below the kernel's 4096, in a fraction of a millisecond.
func Compile(s *specs.LinuxSeccomp, goarch string) ([]bpf.RawInstruction, error) {
	if s == nil {
		return nil, fmt.Errorf("compile seccomp: nil profile: %w", ErrInvalidProfile)
	}
	plan, err := planFor(goarch)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp: %w", err)
	}
	defRet, err := actionRet(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp: defaultAction: %w", err)
	}
	rules, err := validateRules(s.Syscalls)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp: %w", err)
	}
	var compat []abi
	for _, a := range s.Architectures {
		if !knownArches[a] {
			return nil, fmt.Errorf("compile seccomp: architecture %q: %w", a, ErrInvalidProfile)
		}
		for _, c := range plan.compat {
			if c.arch == a && !slices.ContainsFunc(compat, func(x abi) bool { return x.name == c.abi.name }) {
				compat = append(compat, c.abi)
			}
		}
	}

	asm := assembler{ins: make([]insn, 0, 1024), at: make([]int, 0, 1024)}
	asm.load(offArch)
	nativeL := asm.newLabel()
	asm.jump(bpf.JumpEqual, plan.abi.auditArch, nativeL, next)
	type section struct {
		l label
		a abi
	}
	var x32 *section
	var others []section
	for _, c := range compat {
		sec := section{l: asm.newLabel(), a: c}
		if c.auditArch == plan.abi.auditArch { // x32 shares AUDIT_ARCH_X86_64
			x32 = &sec
			continue
		}
		others = append(others, sec)
		asm.jump(bpf.JumpEqual, c.auditArch, sec.l, next)
	}
	asm.ret(BadArchAction)

	asm.place(nativeL)
	asm.load(offNr)
	if plan.abi.auditArch == auditArchX86_64 {
		if x32 != nil {
			asm.jump(bpf.JumpGreaterOrEqual, x32SyscallBit, x32.l, next)
		} else {
			bad, native := asm.newLabel(), asm.newLabel()
			asm.jump(bpf.JumpGreaterOrEqual, x32SyscallBit, bad, native)
			asm.place(bad)
			asm.ret(BadArchAction)
			asm.place(native)
		}
	}
	emitDispatch(&asm, rules, plan.abi, defRet)
	if x32 != nil {
		asm.place(x32.l) // A still holds nr
		emitDispatch(&asm, rules, x32.a, defRet)
	}
	for _, o := range others {
		asm.place(o.l)
		asm.load(offNr)
		emitDispatch(&asm, rules, o.a, defRet)
	}

	prog, err := asm.assemble()
	if err != nil {
		return nil, fmt.Errorf("compile seccomp: %w", err)
	}
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("compile seccomp: %d instructions, kernel limit %d: %w", len(prog), maxInsns, ErrProgramTooLong)
	}
	return prog, nil
}

// actionRet encodes an action as a SECCOMP_RET_* value.
func actionRet(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	data := uint32(1) // EPERM, runc's default for ERRNO and TRACE
	if errno != nil {
		if *errno > retDataMask {
			return 0, fmt.Errorf("errnoRet %d does not fit in 16 bits: %w", *errno, ErrInvalidProfile)
		}
		data = uint32(*errno)
	}
	switch a {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActErrno:
		return retErrno | data, nil
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActTrace:
		return retTrace | data, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("action %s needs a seccomp listener, which is not supported: %w", a, ErrInvalidProfile)
	}
	return 0, fmt.Errorf("action %q: %w", a, ErrInvalidProfile)
}

// validateRules checks every entry once, before any ABI is compiled.
func validateRules(calls []specs.LinuxSyscall) ([]rule, error) {
	rules := make([]rule, 0, len(calls))
	for i, c := range calls {
		ret, err := actionRet(c.Action, c.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d] %v: %w", i, c.Names, err)
		}
		r := rule{names: c.Names, ret: ret}
		for j, a := range c.Args {
			if a.Index > 5 {
				return nil, fmt.Errorf("syscalls[%d] %v: args[%d]: index %d (max 5): %w", i, c.Names, j, a.Index, ErrInvalidProfile)
			}
			switch a.Op {
			case specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
				specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual:
			default:
				return nil, fmt.Errorf("syscalls[%d] %v: args[%d]: operator %q: %w", i, c.Names, j, a.Op, ErrInvalidProfile)
			}
			r.args = append(r.args, argRule{index: uint32(a.Index), op: a.Op, val: a.Value, val2: a.ValueTwo})
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// sysRules is what one syscall number of one ABI does.
type sysRules struct {
	nr          uint32
	cond        []int  // indices of entries with argument comparisons, in profile order
	fallback    uint32 // first entry without comparisons, else the default
	hasFallback bool
}

// simple reports whether every path returns the same value.
func (s *sysRules) simple(rules []rule) bool {
	for _, i := range s.cond {
		if rules[i].ret != s.fallback {
			return false
		}
	}
	return true
}

// segment is a run of syscall numbers from lo up to the next segment's lo
// that share one outcome: rules, or a plain return when rules is nil.
type segment struct {
	lo    uint32
	rules *sysRules
	ret   uint32
}

// emitDispatch emits the syscall dispatch for one ABI; A holds nr.
func emitDispatch(asm *assembler, rules []rule, a abi, defRet uint32) {
	// Every (syscall number, entry index) pair, sorted by number then by
	// profile order, packed in one word so sorting is cheap.
	hits := make([]uint64, 0, 512)
	for ri, r := range rules {
		for _, name := range r.names {
			if nr, ok := a.table[name]; ok { // unknown on this ABI: skipped, as libseccomp does
				hits = append(hits, uint64(nr)<<32|uint64(ri))
			}
		}
	}
	slices.Sort(hits)
	list := make([]sysRules, 0, len(hits))
	for _, h := range hits {
		nr, ri := uint32(h>>32), int(uint32(h))
		if n := len(list); n == 0 || list[n-1].nr != nr {
			list = append(list, sysRules{nr: nr})
		}
		sr := &list[len(list)-1]
		switch {
		case len(rules[ri].args) > 0:
			if !slices.Contains(sr.cond, ri) {
				sr.cond = append(sr.cond, ri)
			}
		case !sr.hasFallback:
			sr.fallback, sr.hasFallback = rules[ri].ret, true
		}
	}

	segs := make([]segment, 0, 2*len(list)+1)
	add := func(s segment) {
		if n := len(segs); n > 0 && s.rules == nil && segs[n-1].rules == nil && segs[n-1].ret == s.ret {
			return // same outcome as the run before: extend it
		}
		segs = append(segs, s)
	}
	cur, done := uint32(0), false
	for i := range list {
		sr := &list[i]
		if !sr.hasFallback {
			sr.fallback = defRet
		}
		if sr.nr > cur {
			add(segment{lo: cur, ret: defRet})
		}
		if sr.simple(rules) {
			add(segment{lo: sr.nr, ret: sr.fallback})
		} else {
			add(segment{lo: sr.nr, rules: sr})
		}
		if sr.nr == ^uint32(0) {
			done = true
		}
		cur = sr.nr + 1
	}
	if !done {
		add(segment{lo: cur, ret: defRet})
	}
	emitTree(asm, rules, segs, a.args32)
}

// emitTree emits a balanced binary search over segs; A holds nr.
func emitTree(asm *assembler, rules []rule, segs []segment, args32 bool) {
	if len(segs) == 1 {
		if segs[0].rules == nil {
			asm.ret(segs[0].ret)
			return
		}
		emitRules(asm, rules, segs[0].rules, args32)
		return
	}
	mid := len(segs) / 2
	right := asm.newLabel()
	asm.jump(bpf.JumpGreaterOrEqual, segs[mid].lo, right, next)
	emitTree(asm, rules, segs[:mid], args32)
	asm.place(right)
	emitTree(asm, rules, segs[mid:], args32)
}

// emitRules emits one syscall's entries: each conditional entry in order,
// then the fallback.
func emitRules(asm *assembler, rules []rule, sr *sysRules, args32 bool) {
	for _, ri := range sr.cond {
		r := rules[ri]
		fail := asm.newLabel()
		for _, c := range r.args {
			emitArg(asm, c, args32, fail)
		}
		asm.ret(r.ret)
		asm.place(fail)
	}
	asm.ret(sr.fallback)
}

// emitArg emits one argument comparison: it falls through when it holds and
// jumps to fail when it does not.
func emitArg(asm *assembler, c argRule, args32 bool, fail label) {
	lo := offArgs + 8*c.index
	hi := lo + 4
	vlo, vhi := uint32(c.val), uint32(c.val>>32)
	if c.op == specs.OpMaskedEqual {
		dlo, dhi := uint32(c.val2), uint32(c.val2>>32)
		masked := func(off, mask, datum uint32) {
			if mask == 0 { // (x & 0) == datum
				if datum != 0 {
					asm.ja(fail)
				}
				return
			}
			asm.load(off)
			if mask != ^uint32(0) {
				asm.and(mask)
			}
			asm.jump(bpf.JumpEqual, datum, next, fail)
		}
		if !args32 {
			masked(hi, vhi, dhi)
		}
		masked(lo, vlo, dlo)
		return
	}
	if args32 {
		asm.load(lo)
		switch c.op {
		case specs.OpEqualTo:
			asm.jump(bpf.JumpEqual, vlo, next, fail)
		case specs.OpNotEqual:
			asm.jump(bpf.JumpEqual, vlo, fail, next)
		case specs.OpGreaterThan:
			asm.jump(bpf.JumpGreaterThan, vlo, next, fail)
		case specs.OpGreaterEqual:
			asm.jump(bpf.JumpGreaterOrEqual, vlo, next, fail)
		case specs.OpLessThan:
			asm.jump(bpf.JumpGreaterOrEqual, vlo, fail, next)
		case specs.OpLessEqual:
			asm.jump(bpf.JumpGreaterThan, vlo, fail, next)
		}
		return
	}
	pass := asm.newLabel()
	asm.load(hi)
	switch c.op {
	case specs.OpEqualTo:
		asm.jump(bpf.JumpEqual, vhi, next, fail)
		asm.load(lo)
		asm.jump(bpf.JumpEqual, vlo, next, fail)
	case specs.OpNotEqual:
		asm.jump(bpf.JumpEqual, vhi, next, pass)
		asm.load(lo)
		asm.jump(bpf.JumpEqual, vlo, fail, next)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		asm.jump(bpf.JumpGreaterThan, vhi, pass, next)
		asm.jump(bpf.JumpEqual, vhi, next, fail)
		asm.load(lo)
		test := bpf.JumpGreaterThan
		if c.op == specs.OpGreaterEqual {
			test = bpf.JumpGreaterOrEqual
		}
		asm.jump(test, vlo, next, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		asm.jump(bpf.JumpGreaterThan, vhi, fail, next)
		asm.jump(bpf.JumpEqual, vhi, next, pass)
		asm.load(lo)
		test := bpf.JumpGreaterOrEqual // lt: fail when lo >= v
		if c.op == specs.OpLessEqual {
			test = bpf.JumpGreaterThan // le: fail when lo > v
		}
		asm.jump(test, vlo, fail, next)
	}
	asm.place(pass)
}
