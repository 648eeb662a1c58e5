//go:build linux

package runtime

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On cgroup v2, device access is decided by an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. The program is built
// here from the same rules as the v1 devices controller gets, encoded by hand
// (golang.org/x/net/bpf only knows classic BPF, and cilium/ebpf would be a
// large dependency for a dozen instructions).

// eBPF opcodes used by the device filter.
const (
	ebpfLdxMemW  = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W
	ebpfMovReg   = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X
	ebpfMovImm   = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K
	ebpfAndImm   = unix.BPF_ALU64 | unix.BPF_AND | unix.BPF_K
	ebpfRshImm   = unix.BPF_ALU64 | unix.BPF_RSH | unix.BPF_K
	ebpfJneImm   = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
	ebpfJeqImm   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	ebpfExit     = unix.BPF_JMP | unix.BPF_EXIT
	ebpfInsnSize = 8
)

// ebpfInsn is one eBPF instruction.
type ebpfInsn struct {
	code     uint8
	dst, src uint8
	off      int16
	imm      int32
}

// deviceAccessBits maps "rwm" to BPF_DEVCG_ACC_* bits.
func deviceAccessBits(access string) int32 {
	var bits int32
	for _, c := range access {
		switch c {
		case 'r':
			bits |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			bits |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			bits |= unix.BPF_DEVCG_ACC_MKNOD
		}
	}
	return bits
}

// deviceFilterProgram compiles rules (later rules take precedence, as in
// v1) to a program returning 1 (allow) or 0 (deny). Registers: r3 = device
// type, r4 = requested access bits, r5 = major, r6 = minor.
func deviceFilterProgram(rules []deviceRule) []ebpfInsn {
	prog := []ebpfInsn{
		{code: ebpfLdxMemW, dst: 2, src: 1, off: 0}, // access_type
		{code: ebpfMovReg, dst: 3, src: 2},
		{code: ebpfAndImm, dst: 3, imm: 0xffff},
		{code: ebpfMovReg, dst: 4, src: 2},
		{code: ebpfRshImm, dst: 4, imm: 16},
		{code: ebpfLdxMemW, dst: 5, src: 1, off: 4}, // major
		{code: ebpfLdxMemW, dst: 6, src: 1, off: 8}, // minor
	}
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		var block []ebpfInsn
		// Each jump skips to the end of the block: its offset is patched
		// below once the block's length is known.
		const next = int16(-1)
		switch r.typ {
		case 'c':
			block = append(block, ebpfInsn{code: ebpfJneImm, dst: 3, imm: unix.BPF_DEVCG_DEV_CHAR, off: next})
		case 'b':
			block = append(block, ebpfInsn{code: ebpfJneImm, dst: 3, imm: unix.BPF_DEVCG_DEV_BLOCK, off: next})
		}
		acc := deviceAccessBits(r.access)
		if r.allow {
			// Allow only when every requested bit is allowed.
			block = append(block,
				ebpfInsn{code: ebpfMovReg, dst: 7, src: 4},
				ebpfInsn{code: ebpfAndImm, dst: 7, imm: ^acc & 7},
				ebpfInsn{code: ebpfJneImm, dst: 7, imm: 0, off: next})
		} else {
			// Deny when any requested bit is denied.
			block = append(block,
				ebpfInsn{code: ebpfMovReg, dst: 7, src: 4},
				ebpfInsn{code: ebpfAndImm, dst: 7, imm: acc},
				ebpfInsn{code: ebpfJeqImm, dst: 7, imm: 0, off: next})
		}
		if r.major >= 0 {
			block = append(block, ebpfInsn{code: ebpfJneImm, dst: 5, imm: int32(r.major), off: next})
		}
		if r.minor >= 0 {
			block = append(block, ebpfInsn{code: ebpfJneImm, dst: 6, imm: int32(r.minor), off: next})
		}
		verdict := int32(0)
		if r.allow {
			verdict = 1
		}
		block = append(block, ebpfInsn{code: ebpfMovImm, dst: 0, imm: verdict}, ebpfInsn{code: ebpfExit})
		for j := range block {
			if block[j].off == next {
				block[j].off = int16(len(block) - j - 1)
			}
		}
		prog = append(prog, block...)
	}
	return append(prog, ebpfInsn{code: ebpfMovImm, dst: 0, imm: 0}, ebpfInsn{code: ebpfExit})
}

// encodeEBPF lays instructions out as struct bpf_insn.
func encodeEBPF(prog []ebpfInsn) []byte {
	out := make([]byte, 0, ebpfInsnSize*len(prog))
	for _, in := range prog {
		regs := in.dst&0xf | in.src<<4
		if !littleEndian() {
			regs = in.dst<<4 | in.src&0xf
		}
		out = append(out, in.code, regs)
		out = binary.NativeEndian.AppendUint16(out, uint16(in.off))
		out = binary.NativeEndian.AppendUint32(out, uint32(in.imm))
	}
	return out
}

func littleEndian() bool {
	return binary.NativeEndian.Uint16([]byte{1, 0}) == 1
}

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
}

// bpfAttachAttr is the BPF_PROG_ATTACH part of union bpf_attr.
type bpfAttachAttr struct {
	targetFd    uint32
	attachBpfFd uint32
	attachType  uint32
	attachFlags uint32
}

// attachDeviceFilter loads the rules' program and attaches it to the cgroup
// directory dir, replacing a program this runtime attached before.
func attachDeviceFilter(dir *os.File, rules []deviceRule) error {
	code := encodeEBPF(deviceFilterProgram(rules))
	license := []byte("Apache\x00")
	load := func(logBuf []byte) (uintptr, unix.Errno) {
		attr := bpfProgLoadAttr{
			progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
			insnCnt:  uint32(len(code) / ebpfInsnSize),
			insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
			license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		}
		if logBuf != nil {
			attr.logLevel = 1
			attr.logSize = uint32(len(logBuf))
			attr.logBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
		}
		fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		runtime.KeepAlive(logBuf)
		return fd, errno
	}
	fd, errno := load(nil)
	if errno != 0 {
		// Load again with the verifier's log, to say why.
		logBuf := make([]byte, 64<<10)
		_, _ = load(logBuf)
		return fmt.Errorf("load device filter: %w: %s", errno, cString(logBuf))
	}
	defer unix.Close(int(fd))
	attach := bpfAttachAttr{targetFd: uint32(dir.Fd()), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE}
	if _, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attach)), unsafe.Sizeof(attach)); errno != 0 {
		return fmt.Errorf("attach device filter: %w", errno)
	}
	return nil
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
