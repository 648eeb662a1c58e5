//go:build linux

package shim

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimMemory gives back what a supervisor no longer needs once its container
// runs. Starting up touches much of the kedge binary (every package's
// initialisation, and the kernel maps neighbouring pages with each fault),
// though an idle supervisor runs little of it: the read-only mappings of the
// executable (code and constant data, never written, so their contents are
// exactly the file's) are dropped with MADV_DONTNEED and fault back from the
// page cache when used. Writable mappings are never touched. The heap is
// returned to the kernel too.
func trimMemory() {
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		_ = madvise(uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}

func madvise(addr, length uintptr, advice int) error {
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, length, uintptr(advice))
	if errno != 0 {
		return errno
	}
	return nil
}
