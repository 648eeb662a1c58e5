//go:build linux

package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroupV2 is a container's cgroup in a cgroup v2 unified tree rooted at root.
type cgroupV2 struct {
	root string
	path string // relative to root, starting with "/"
	dir  string
	// kernel is set when root is a real cgroup2 mount (not a test's fake
	// tree), where device filters can be attached.
	kernel bool
}

func newCgroupV2(root, path string) (*cgroupV2, error) {
	var st unix.Statfs_t
	kernel := unix.Statfs(root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	return &cgroupV2{root: root, path: path, dir: filepath.Join(root, path), kernel: kernel}, nil
}

func (c *cgroupV2) manager(res *cgroups.Resources) (*fs2.Manager, error) {
	m, err := fs2.NewManager(&cgroups.Cgroup{Path: c.path, Resources: res}, c.dir)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	return m, nil
}

// mkdirs creates the cgroup and its parents below root, enabling in every
// parent's cgroup.subtree_control the controllers the root offers (the
// library's CreateCgroupPath is tied to /sys/fs/cgroup; this takes a root).
func (c *cgroupV2) mkdirs() (created []string, err error) {
	data, err := os.ReadFile(filepath.Join(c.root, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup v2 controllers: %w", err)
	}
	var enable []string
	for _, ctl := range strings.Fields(string(data)) {
		enable = append(enable, "+"+ctl)
	}
	current := c.root
	for _, elem := range strings.Split(strings.Trim(c.path, "/"), "/") {
		if len(enable) > 0 {
			ctl := filepath.Join(current, "cgroup.subtree_control")
			if err := writeExisting(ctl, strings.Join(enable, " ")); err != nil {
				// Enable one by one so that one unavailable controller
				// does not block the others; Set reports what is missing.
				for _, e := range enable {
					_ = writeExisting(ctl, e)
				}
			}
		}
		current = filepath.Join(current, elem)
		if err := os.Mkdir(current, 0o755); err != nil {
			if !errors.Is(err, os.ErrExist) {
				return created, fmt.Errorf("create cgroup %s: %w", current, err)
			}
			continue
		}
		created = append(created, current)
	}
	return created, nil
}

func (c *cgroupV2) create(res *specs.LinuxResources, devices []specs.LinuxDevice) error {
	created, err := c.mkdirs()
	if err == nil {
		r := toResources(res)
		// v2 weighs CPU with cpu.weight; convert the v1-style shares.
		if r.CpuShares != 0 && r.CpuWeight == 0 {
			r.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(r.CpuShares)
		}
		var m *fs2.Manager
		if m, err = c.manager(r); err == nil {
			if err = m.Set(r); err != nil {
				err = fmt.Errorf("set limits on cgroup %s: %w", c.path, err)
			}
		}
		if err == nil && c.kernel {
			err = c.setDevices(deviceRules(res, devices))
		}
	}
	if err != nil {
		for i := len(created) - 1; i >= 0; i-- {
			_ = os.Remove(created[i])
		}
	}
	return err
}

// setDevices attaches the device filter built from rules to the cgroup.
func (c *cgroupV2) setDevices(rules []deviceRule) error {
	dir, err := c.openDir()
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := attachDeviceFilter(dir, rules); err != nil {
		return fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	return nil
}

func (c *cgroupV2) addProc(pid int) error {
	if err := cgroups.WriteCgroupProc(c.dir, pid); err != nil {
		return fmt.Errorf("add pid %d to cgroup %s: %w", pid, c.path, err)
	}
	return nil
}

func (c *cgroupV2) stats() (*Stats, error) {
	if _, err := os.Stat(c.dir); err != nil {
		return nil, fmt.Errorf("read stats of cgroup %s: %w", c.path, err)
	}
	m, err := c.manager(&cgroups.Resources{})
	if err != nil {
		return nil, err
	}
	s, err := m.GetStats()
	if err != nil {
		return nil, fmt.Errorf("read stats of cgroup %s: %w", c.path, err)
	}
	ooms, _ := fs2.OOMKillCount(c.dir)
	return fromStats(s, ooms), nil
}

func (c *cgroupV2) freeze(frozen bool) error {
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

func (c *cgroupV2) pids() ([]int, error) {
	pids, err := cgroups.GetAllPids(c.dir)
	if err != nil {
		return nil, fmt.Errorf("list processes of cgroup %s: %w", c.path, err)
	}
	return pids, nil
}

func (c *cgroupV2) removeIfEmpty() error { return rmdirIfEmpty(c.dir) }

func (c *cgroupV2) destroy() error {
	if _, err := os.Stat(c.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// cgroup.kill (5.14+) kills the whole subtree at once; fall back to
	// signalling the listed processes.
	if pids, err := c.pids(); err == nil && len(pids) > 0 {
		if os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0) != nil {
			_ = c.freeze(false)
			killAll(pids)
		}
		if err := waitEmpty(c, 5*time.Second); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", c.path, err)
		}
	}
	if err := cgroups.RemovePath(c.dir); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", c.path, ignoreNotExist(err))
	}
	return nil
}

// openDir opens the cgroup directory for CLONE_INTO_CGROUP.
func (c *cgroupV2) openDir() (*os.File, error) {
	f, err := os.OpenFile(c.dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", c.path, err)
	}
	return f, nil
}

// writeExisting writes data to an existing file (cgroup files are never
// created).
func writeExisting(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
