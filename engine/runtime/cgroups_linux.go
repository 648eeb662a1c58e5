//go:build linux

package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultCgroupRoot is where the host mounts its cgroup hierarchies. Every
// internal function takes the root as an argument so tests can point the v2
// code at a fake tree.
const defaultCgroupRoot = "/sys/fs/cgroup"

// cgroup is one container's cgroup, in cgroup v1 (one directory per
// controller hierarchy) or v2 (one directory in the unified tree).
type cgroup interface {
	// create makes the cgroup's directories and applies the limits.
	create(res *specs.LinuxResources, devices []specs.LinuxDevice) error
	// addProc moves a process into the cgroup.
	addProc(pid int) error
	stats() (*Stats, error)
	freeze(frozen bool) error
	pids() ([]int, error)
	// destroy kills whatever still runs in the cgroup and removes it.
	destroy() error
	// removeIfEmpty removes the cgroup's directories that hold no child
	// cgroup, and leaves the others.
	removeIfEmpty() error
}

// isCgroup2 reports whether root is a cgroup v2 unified mount (as opposed to
// the v1 directory of per-controller mounts, hybrid or not).
func isCgroup2(root string) bool {
	_, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return err == nil
}

// openCgroup returns the cgroup named by cgroupsPath under root.
func openCgroup(root, cgroupsPath string) (cgroup, error) {
	if cgroupsPath == "" || !filepath.IsAbs(cgroupsPath) {
		return nil, fmt.Errorf("cgroups path %q must be absolute", cgroupsPath)
	}
	clean := filepath.Clean(cgroupsPath)
	if clean == "/" || strings.Contains(cgroupsPath, "..") {
		return nil, fmt.Errorf("cgroups path %q must name a cgroup below the root", cgroupsPath)
	}
	if isCgroup2(root) {
		return newCgroupV2(root, clean)
	}
	return newCgroupV1(root, clean)
}

// toResources converts the OCI resources to the cgroups library's.
func toResources(r *specs.LinuxResources) *cgroups.Resources {
	out := &cgroups.Resources{SkipDevices: true}
	if r == nil {
		return out
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil {
			out.Memory = *m.Limit
		}
		if m.Swap != nil {
			out.MemorySwap = *m.Swap
		}
		if m.Reservation != nil {
			out.MemoryReservation = *m.Reservation
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil {
			out.CpuShares = *c.Shares
		}
		if c.Quota != nil {
			out.CpuQuota = *c.Quota
		}
		if c.Period != nil {
			out.CpuPeriod = *c.Period
		}
		out.CpusetCpus = c.Cpus
		out.CpusetMems = c.Mems
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		limit := *p.Limit
		out.PidsLimit = &limit
	}
	if b := r.BlockIO; b != nil && b.Weight != nil {
		out.BlkioWeight = *b.Weight
	}
	return out
}

// fromStats converts the library's stats to ours.
func fromStats(s *cgroups.Stats, oomKills uint64) *Stats {
	out := &Stats{
		Time:          time.Now(),
		CPUUsageNanos: s.CpuStats.CpuUsage.TotalUsage,
		MemoryUsage:   s.MemoryStats.Usage.Usage,
		MemoryLimit:   s.MemoryStats.Usage.Limit,
		MemoryCache:   s.MemoryStats.Cache,
		PidsCurrent:   s.PidsStats.Current,
		PidsLimit:     s.PidsStats.Limit,
		OOMKills:      oomKills,
	}
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			out.BlockReadBytes += e.Value
		case "write":
			out.BlockWriteByes += e.Value
		}
	}
	return out
}

// killAll SIGKILLs the given processes; used before removing a cgroup. It
// never signals the calling process, whose Exec threads visit containers'
// v1 cgroups for a moment.
func killAll(pids []int) {
	self := os.Getpid()
	for _, pid := range pids {
		if pid > 0 && pid != self {
			_ = killPid(pid)
		}
	}
}

// waitEmpty polls until the cgroup has no processes or the deadline passes.
func waitEmpty(cg cgroup, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids, err := cg.pids()
		if err != nil {
			return nil
		}
		pids = slices.DeleteFunc(pids, func(p int) bool { return p == os.Getpid() })
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup still has %d processes after kill", len(pids))
		}
		killAll(pids)
		time.Sleep(5 * time.Millisecond)
	}
}

// ReadStats reads the cgroup named by cgroupsPath (as in Spec.Linux.CgroupsPath).
func ReadStats(cgroupsPath string) (*Stats, error) {
	cg, err := openCgroup(defaultCgroupRoot, cgroupsPath)
	if err != nil {
		return nil, err
	}
	return cg.stats()
}

// Freeze pauses (true) or resumes (false) every process of the cgroup.
func Freeze(cgroupsPath string, frozen bool) error {
	cg, err := openCgroup(defaultCgroupRoot, cgroupsPath)
	if err != nil {
		return err
	}
	return cg.freeze(frozen)
}

// CgroupPids lists the processes of the cgroup (host pids), for `top`.
func CgroupPids(cgroupsPath string) ([]int, error) {
	cg, err := openCgroup(defaultCgroupRoot, cgroupsPath)
	if err != nil {
		return nil, err
	}
	return cg.pids()
}

// RemoveCgroupIfEmpty deletes the cgroup in every hierarchy if it holds
// no child cgroup (rmdir refuses otherwise); a cgroup that is missing or
// still in use stays as it is and is not an error. The agent uses it for
// its parent cgroup at shutdown: containers that outlive the agent keep
// theirs.
func RemoveCgroupIfEmpty(cgroupsPath string) error {
	cg, err := openCgroup(defaultCgroupRoot, cgroupsPath)
	if err != nil {
		return err
	}
	return cg.removeIfEmpty()
}

// rmdirIfEmpty removes a cgroup directory unless it is missing or still in
// use (rmdir refuses a cgroup with children or processes).
func rmdirIfEmpty(dir string) error {
	err := os.Remove(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// RemoveCgroup deletes the cgroup in every hierarchy; a missing cgroup is not
// an error. Processes still in it are killed first.
func RemoveCgroup(cgroupsPath string) error {
	cg, err := openCgroup(defaultCgroupRoot, cgroupsPath)
	if err != nil {
		return err
	}
	return cg.destroy()
}

// ignoreNotExist drops "no such file" errors, for removal paths.
func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
