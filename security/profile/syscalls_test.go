package profile

import "testing"

// TestSyscallTables spot-checks the generated tables against numbers from
// the kernel's syscall tables.
func TestSyscallTables(t *testing.T) {
	cases := []struct {
		table map[string]uint32
		name  string
		nr    uint32
	}{
		{sysnumAMD64, "read", 0},
		{sysnumAMD64, "getpid", 39},
		{sysnumAMD64, "clone", 56},
		{sysnumAMD64, "clone3", 435},
		{sysnumAMD64, "arch_prctl", 158},
		{sysnumX32, "getpid", 39 | x32SyscallBit},
		{sysnumX32, "ioctl", 514 | x32SyscallBit},
		{sysnumX32, "execve", 520 | x32SyscallBit},
		{sysnumX32, "clone3", 435 | x32SyscallBit},
		{sysnumI386, "getpid", 20},
		{sysnumI386, "socketcall", 102},
		{sysnumI386, "socket", 359},
		{sysnumI386, "clone3", 435},
		{sysnumARM64, "getpid", 172},
		{sysnumARM64, "clone", 220},
		{sysnumARM64, "clone3", 435},
		{sysnumARM, "getpid", 20},
		{sysnumARM, "socket", 281},
		{sysnumARM, "arm_fadvise64_64", 270},
		{sysnumARM, "set_tls", 0x0f0005},
		{sysnumARM, "cacheflush", 0x0f0002},
	}
	for _, c := range cases {
		if nr, ok := c.table[c.name]; !ok || nr != c.nr {
			t.Errorf("%s = %d (present %v), want %d", c.name, nr, ok, c.nr)
		}
	}
	// x86_64-only ABI entries (ioctl 16, execve 59) have no x32 syscall at
	// their 64-bit numbers.
	for name, nr := range sysnumX32 {
		if nr == 16|x32SyscallBit || nr == 59|x32SyscallBit {
			t.Errorf("x32 %s at the number of an x86_64-only syscall", name)
		}
	}
	for _, absent := range []struct {
		table map[string]uint32
		name  string
	}{{sysnumARM64, "open"}, {sysnumARM64, "fork"}, {sysnumAMD64, "socketcall"}, {sysnumX32, "uselib"}} {
		if _, ok := absent.table[absent.name]; ok {
			t.Errorf("%s should not be in this table", absent.name)
		}
	}
}
