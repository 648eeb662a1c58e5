package profile

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// This file is a tiny classic-BPF assembler with labels. Seccomp programs
// only jump forward, and a conditional jump reaches at most 255 instructions
// ahead; the assembler lays the program out and turns every conditional jump
// whose target is farther into a short jump to an unconditional "ja"
// trampoline (32-bit offset) placed right after it, repeating until the
// layout is stable.

// label names a position in the program under construction.
type label int

// next is the label of the instruction right after the jump that uses it.
const next label = -1

// opKind is the kind of an assembler instruction.
type opKind uint8

const (
	opLoad opKind = iota // A = 32-bit word of seccomp_data at offset k
	opAnd                // A &= k
	opJump               // if A <cond> k goto jt else goto jf
	opJa                 // goto jt
	opRet                // return k
)

// Classic BPF opcodes (linux/bpf_common.h) of the instructions emitted.
const (
	opLdAbsW  = 0x20 // BPF_LD | BPF_W | BPF_ABS
	opAluAndK = 0x54 // BPF_ALU | BPF_AND | BPF_K
	opJmpJa   = 0x05 // BPF_JMP | BPF_JA
	opRetK    = 0x06 // BPF_RET | BPF_K
)

// jumpOp is the BPF_JMP | BPF_K opcode of a supported jump test.
func jumpOp(t bpf.JumpTest) (uint16, error) {
	switch t {
	case bpf.JumpEqual:
		return 0x15, nil // BPF_JEQ
	case bpf.JumpGreaterThan:
		return 0x25, nil // BPF_JGT
	case bpf.JumpGreaterOrEqual:
		return 0x35, nil // BPF_JGE
	}
	return 0, fmt.Errorf("assemble: unsupported jump test %v", t)
}

// insn is one instruction before layout.
type insn struct {
	kind   opKind
	cond   bpf.JumpTest
	k      uint32
	jt, jf label
}

// assembler collects instructions and labels. The zero value is ready to use.
type assembler struct {
	ins []insn
	at  []int // label -> index of the instruction it stands before, -1 if unplaced
}

func (a *assembler) newLabel() label {
	a.at = append(a.at, -1)
	return label(len(a.at) - 1)
}

// place binds l to the next instruction emitted.
func (a *assembler) place(l label) { a.at[l] = len(a.ins) }

func (a *assembler) load(off uint32) { a.ins = append(a.ins, insn{kind: opLoad, k: off}) }
func (a *assembler) and(k uint32)    { a.ins = append(a.ins, insn{kind: opAnd, k: k}) }
func (a *assembler) ret(k uint32)    { a.ins = append(a.ins, insn{kind: opRet, k: k}) }
func (a *assembler) ja(l label)      { a.ins = append(a.ins, insn{kind: opJa, jt: l}) }

// jump emits a conditional jump; cond is JumpEqual, JumpGreaterThan or
// JumpGreaterOrEqual (the tests classic BPF encodes directly).
func (a *assembler) jump(cond bpf.JumpTest, k uint32, jt, jf label) {
	a.ins = append(a.ins, insn{kind: opJump, cond: cond, k: k, jt: jt, jf: jf})
}

// target resolves a label used by instruction i to an instruction index.
func (a *assembler) target(i int, l label) (int, error) {
	if l == next {
		return i + 1, nil
	}
	t := a.at[l]
	if t <= i || t >= len(a.ins) {
		return 0, fmt.Errorf("assemble: instruction %d jumps to label %d at %d: not a forward jump inside the program", i, l, t)
	}
	return t, nil
}

// assemble lays the program out and encodes it. Encoding directly (rather
// than through bpf.Instruction values and bpf.Assemble) avoids one
// allocation per instruction; the tests decode the result with
// bpf.Disassemble and run it in x/net/bpf's VM.
func (a *assembler) assemble() ([]bpf.RawInstruction, error) {
	n := len(a.ins)
	tt := make([]int, n)
	tf := make([]int, n)
	for i, in := range a.ins {
		var err error
		switch in.kind {
		case opJump:
			if tt[i], err = a.target(i, in.jt); err == nil {
				tf[i], err = a.target(i, in.jf)
			}
		case opJa:
			tt[i], err = a.target(i, in.jt)
		}
		if err != nil {
			return nil, err
		}
	}

	// farT/farF mark conditional jumps that need a trampoline for that branch.
	farT := make([]bool, n)
	farF := make([]bool, n)
	pos := make([]int, n+1)
	for {
		p := 0
		for i, in := range a.ins {
			pos[i] = p
			p++
			if in.kind == opJump {
				if farT[i] {
					p++
				}
				if farF[i] {
					p++
				}
			}
		}
		pos[n] = p
		changed := false
		for i, in := range a.ins {
			if in.kind != opJump {
				continue
			}
			base := pos[i] + 1
			if !farT[i] && pos[tt[i]]-base > 255 {
				farT[i], changed = true, true
			}
			if !farF[i] && pos[tf[i]]-base > 255 {
				farF[i], changed = true, true
			}
		}
		if !changed {
			break
		}
	}

	prog := make([]bpf.RawInstruction, 0, pos[n])
	for i, in := range a.ins {
		switch in.kind {
		case opLoad:
			prog = append(prog, bpf.RawInstruction{Op: opLdAbsW, K: in.k})
		case opAnd:
			prog = append(prog, bpf.RawInstruction{Op: opAluAndK, K: in.k})
		case opRet:
			prog = append(prog, bpf.RawInstruction{Op: opRetK, K: in.k})
		case opJa:
			prog = append(prog, bpf.RawInstruction{Op: opJmpJa, K: uint32(pos[tt[i]] - pos[i] - 1)})
		case opJump:
			base := pos[i] + 1
			op, err := jumpOp(in.cond)
			if err != nil {
				return nil, err
			}
			j := bpf.RawInstruction{Op: op, K: in.k}
			var tramps [2]bpf.RawInstruction
			nt := 0
			if farT[i] {
				j.Jt = uint8(nt)
				tramps[nt] = bpf.RawInstruction{Op: opJmpJa, K: uint32(pos[tt[i]] - (base + nt) - 1)}
				nt++
			} else {
				j.Jt = uint8(pos[tt[i]] - base)
			}
			if farF[i] {
				j.Jf = uint8(nt)
				tramps[nt] = bpf.RawInstruction{Op: opJmpJa, K: uint32(pos[tf[i]] - (base + nt) - 1)}
				nt++
			} else {
				j.Jf = uint8(pos[tf[i]] - base)
			}
			prog = append(prog, j)
			prog = append(prog, tramps[:nt]...)
		}
	}
	return prog, nil
}
