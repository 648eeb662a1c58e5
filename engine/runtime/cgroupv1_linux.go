//go:build linux

package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Subsystems are the controller hierarchies the runtime uses, as the
// cgroups library names them.
func v1Subsystems() []string {
	return []string{"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "freezer"}
}

// cgroupV1 is a container's cgroup on a cgroup v1 (or hybrid) host.
type cgroupV1 struct {
	path  string
	paths map[string]string // subsystem -> directory
	root  string
}

func newCgroupV1(root, path string) (*cgroupV1, error) {
	c := &cgroupV1{path: path, root: root, paths: make(map[string]string, 8)}
	for _, name := range v1Subsystems() {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			continue
		}
		c.paths[name] = filepath.Join(root, name, path)
	}
	if len(c.paths) == 0 {
		return nil, fmt.Errorf("no cgroup v1 controllers under %s", root)
	}
	return c, nil
}

func (c *cgroupV1) manager(res *cgroups.Resources) (*fs.Manager, error) {
	m, err := fs.NewManager(&cgroups.Cgroup{Path: c.path, Resources: res}, c.paths)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	return m, nil
}

func (c *cgroupV1) create(res *specs.LinuxResources, devices []specs.LinuxDevice) error {
	r := toResources(res)
	m, err := c.manager(r)
	if err != nil {
		return err
	}
	if err := m.Apply(-1); err != nil {
		return fmt.Errorf("create cgroup %s: %w", c.path, err)
	}
	if err := m.Set(r); err != nil {
		return fmt.Errorf("set limits on cgroup %s: %w", c.path, err)
	}
	if dir, ok := c.paths["devices"]; ok {
		// The library skips the devices controller (SkipDevices): its rule
		// writer lives in a package that pulls in eBPF and systemd.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create devices cgroup %s: %w", c.path, err)
		}
		if err := writeDeviceRules(dir, deviceRules(res, devices)); err != nil {
			return fmt.Errorf("set device rules on cgroup %s: %w", c.path, err)
		}
	}
	return nil
}

func (c *cgroupV1) addProc(pid int) error {
	for name, dir := range c.paths {
		if err := cgroups.WriteCgroupProc(dir, pid); err != nil {
			return fmt.Errorf("add pid %d to %s cgroup %s: %w", pid, name, c.path, err)
		}
	}
	return nil
}

// addThread moves only the calling thread into the cgroup: v1 lets threads
// sit in different cgroups, and a child forked by that thread is born in
// them. The thread writes "0" (itself): the kernel then skips the global
// threadgroup lock, whose RCU grace period makes other migrations cost
// milliseconds.
func (c *cgroupV1) addThread() error {
	for name, dir := range c.paths {
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte("0"), 0); err != nil {
			return fmt.Errorf("add thread to %s cgroup %s: %w", name, c.path, err)
		}
	}
	return nil
}

// openThreadReturn opens, for every controller of c, the tasks file of the
// cgroup the calling thread is in now, so that it can go back there after a
// visit (addThread) even once its mount namespace has changed.
func (c *cgroupV1) openThreadReturn() ([]*os.File, error) {
	orig, err := cgroups.ParseCgroupFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	var files []*os.File
	for name := range c.paths {
		p, ok := orig[name]
		if !ok {
			continue
		}
		f, err := os.OpenFile(filepath.Join(c.root, name, p, "tasks"), os.O_WRONLY, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("open own %s cgroup: %w", name, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// returnThread moves the calling thread back to the cgroups whose tasks
// files openThreadReturn opened, and closes them.
func returnThread(files []*os.File) error {
	var first error
	for _, f := range files {
		if _, err := f.WriteString("0"); err != nil && first == nil {
			first = fmt.Errorf("return thread to %s: %w", f.Name(), err)
		}
		f.Close()
	}
	return first
}

func (c *cgroupV1) stats() (*Stats, error) {
	m, err := c.manager(&cgroups.Resources{})
	if err != nil {
		return nil, err
	}
	if _, ok := c.paths["memory"]; ok && !cgroups.PathExists(c.paths["memory"]) {
		return nil, fmt.Errorf("read stats of cgroup %s: %w", c.path, os.ErrNotExist)
	}
	s, err := m.GetStats()
	if err != nil {
		return nil, fmt.Errorf("read stats of cgroup %s: %w", c.path, err)
	}
	var ooms uint64
	if dir, ok := c.paths["memory"]; ok {
		ooms, _ = fs.OOMKillCount(dir)
	}
	return fromStats(s, ooms), nil
}

func (c *cgroupV1) freeze(frozen bool) error {
	m, err := c.manager(&cgroups.Resources{})
	if err != nil {
		return err
	}
	state := cgroups.Thawed
	if frozen {
		state = cgroups.Frozen
	}
	if err := m.Freeze(state); err != nil {
		return fmt.Errorf("freeze cgroup %s (%v): %w", c.path, frozen, err)
	}
	return nil
}

func (c *cgroupV1) pids() ([]int, error) {
	for _, name := range []string{"pids", "memory", "freezer", "cpu"} {
		if dir, ok := c.paths[name]; ok {
			pids, err := cgroups.GetAllPids(dir)
			if err != nil {
				return nil, fmt.Errorf("list processes of cgroup %s: %w", c.path, err)
			}
			return pids, nil
		}
	}
	return nil, fmt.Errorf("list processes of cgroup %s: no controller to read", c.path)
}

func (c *cgroupV1) removeIfEmpty() error {
	for _, dir := range c.paths {
		if err := rmdirIfEmpty(dir); err != nil {
			return err
		}
	}
	return nil
}

func (c *cgroupV1) destroy() error {
	if pids, err := c.pids(); err == nil && len(pids) > 0 {
		// A frozen cgroup must be thawed for SIGKILL to be delivered.
		_ = c.freeze(false)
		killAll(pids)
		if err := waitEmpty(c, 5*time.Second); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", c.path, err)
		}
	}
	if err := cgroups.RemovePaths(c.paths); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", c.path, ignoreNotExist(err))
	}
	return nil
}
