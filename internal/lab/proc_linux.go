//go:build linux

package lab

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// shimCommand is argv[1] of a container supervisor ("kedge __shim JSON").
const shimCommand = "__shim"

// killTimeout bounds how long killing a host's processes may take.
const killTimeout = 10 * time.Second

// procRef names one process; start (its start time in clock ticks since
// boot) tells it from a later process that reuses the pid.
type procRef struct {
	pid   int
	start uint64
}

// procStat reads a process's state letter and start time from
// /proc/PID/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return f[0][0], start, nil
}

// state is the process's state letter, or 0 when it is gone (or a zombie,
// or another process that reused the pid).
func (p procRef) state() byte {
	s, start, err := procStat(p.pid)
	if err != nil || start != p.start || s == 'Z' || s == 'X' {
		return 0
	}
	return s
}

func (p procRef) alive() bool { return p.state() != 0 }

// threadsOf describes what is left of a process that does not go away: how
// many threads, and each one that is not asleep or a zombie (id, state
// letter, the kernel function it waits in). A killed process is reaped
// only once all its threads have exited, and one in uninterruptible sleep
// (D) holds it up.
func threadsOf(pid int) string {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "no threads left"
	}
	var busy []string
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, _, err := procStat(tid)
		if err != nil || st == 'S' || st == 'Z' {
			continue
		}
		wchan, _ := os.ReadFile(dir + "/" + e.Name() + "/wchan")
		busy = append(busy, fmt.Sprintf("%d %c %s", tid, st, wchan))
	}
	return fmt.Sprintf("%d threads left; not asleep: [%s]", len(ents), strings.Join(busy, ", "))
}

// refOf returns the procRef of a running pid.
func refOf(pid int) (procRef, error) {
	_, start, err := procStat(pid)
	if err != nil {
		return procRef{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	return procRef{pid: pid, start: start}, nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(deadline time.Time, cond func() bool) bool {
	delay := time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay) // polling /proc: the kernel sends no event for a non-child
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// hostProcs lists the processes that belong to a host: those in its network
// namespace (the agent, its supervisors, commands run with Exec, containers
// with the host's network), supervisors whose command line names the host's
// directory, and processes in the cgroups of the host's containers. With
// shimsOnly it lists only supervisors.
func (h *Host) hostProcs(shimsOnly bool) []procRef {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	inPids := map[int]bool{}
	if !shimsOnly {
		for _, pid := range h.cgroupPids() {
			inPids[pid] = true
		}
	}
	self := os.Getpid()
	want := fmt.Sprintf("net:[%d]", h.netnsIno)
	var out []procRef
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		ref, err := refOf(pid)
		if err != nil || !ref.alive() {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		argv := strings.Split(string(cmd), "\x00")
		shim := len(argv) > 2 && argv[1] == shimCommand && strings.Contains(argv[2], h.Dir+"/")
		match := shim
		if !shimsOnly && !match {
			ns, _ := os.Readlink("/proc/" + e.Name() + "/ns/net")
			match = inPids[pid] || (h.netnsIno != 0 && ns == want)
		}
		if match {
			out = append(out, ref)
		}
	}
	return out
}

// killProcs SIGKILLs what list returns until it returns nothing: the
// processes may fork while they are being killed.
func killProcs(what string, list func() []procRef, thaw func()) error {
	deadline := time.Now().Add(killTimeout)
	for {
		if thaw != nil {
			thaw()
		}
		refs := list()
		if len(refs) == 0 {
			return nil
		}
		for _, r := range refs {
			if r.alive() {
				_ = unix.Kill(r.pid, unix.SIGKILL)
			}
		}
		gone := waitFor(deadline, func() bool {
			for _, r := range refs {
				if r.alive() {
					return false
				}
			}
			return true
		})
		if !gone {
			var pids []string
			for _, r := range refs {
				if r.alive() {
					pids = append(pids, strconv.Itoa(r.pid))
				}
			}
			return fmt.Errorf("kill %s: processes %s still alive after %s", what, strings.Join(pids, " "), killTimeout)
		}
	}
}

// agentKey is the engine's key for a data dir (engine.AgentKey): the first
// 10 hex digits of the SHA-256 of its absolute path. The host's containers
// live in the cgroup /kedge-KEY.
func agentKey(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:])[:10]
}

// cgroupDirs lists the host's containers' cgroup directories in every
// hierarchy (the unified one, or each v1 controller's), parents first.
func (h *Host) cgroupDirs() []string {
	const root = "/sys/fs/cgroup"
	name := "kedge-" + agentKey(h.DataDir)
	roots := []string{root}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		ents, _ := os.ReadDir(root)
		roots = roots[:0]
		for _, e := range ents {
			if e.IsDir() {
				roots = append(roots, filepath.Join(root, e.Name()))
			}
		}
	}
	var out []string
	for _, r := range roots {
		top := filepath.Join(r, name)
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// cgroupPids lists the processes in the host's containers' cgroups.
func (h *Host) cgroupPids() []int {
	var pids []int
	for _, d := range h.cgroupDirs() {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// thawCgroups thaws the host's frozen (paused) containers: a frozen process
// does not die of SIGKILL until it is thawed.
func (h *Host) thawCgroups() {
	for _, d := range h.cgroupDirs() {
		_ = os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0)
		_ = os.WriteFile(filepath.Join(d, "cgroup.freeze"), []byte("0"), 0)
	}
}

// removeCgroups removes the host's containers' cgroups, children first.
func (h *Host) removeCgroups() error {
	dirs := h.cgroupDirs()
	slices.Reverse(dirs)
	var errs []error
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points at or under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out, nil
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount at or under dir.
func unmountUnder(dir string) error {
	for range 5 {
		mps, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mps) > 0 {
		return fmt.Errorf("unmount under %s: %s still mounted", dir, strings.Join(mps, ", "))
	}
	return nil
}
