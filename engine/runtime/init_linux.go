//go:build linux

package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The init's inherited descriptors (Start's ExtraFiles).
const (
	initConfigFd = 3
	initErrorFd  = 4
	// initBinaryFd is the sealed kedge binary the init was executed from
	// (closed by the init with the other host descriptors).
	initBinaryFd = 5
)

// InitMain is the entry point of "kedge __init": the container init inside new
// namespaces. It reads its configuration from the parent, sets up the
// container and execs the user's process; it returns only on failure.
func InitMain(args []string) int {
	// First act: while this process is the kedge binary, nothing in the
	// container may open /proc/<pid>/exe or ptrace it (CVE-2019-5736).
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// Capabilities, no_new_privs, seccomp and the cgroup namespace are per
	// thread: everything happens on this one, which finally execs.
	goruntime.LockOSThread()
	errPipe := os.NewFile(initErrorFd, "init-status")
	unix.CloseOnExec(initErrorFd)
	err := runInit()
	writeInitError(errPipe, err)
	return 1
}

// runInit sets up the container and execs; it returns only an error.
func runInit() error {
	cfgFile := os.NewFile(initConfigFd, "init-config")
	data, err := io.ReadAll(cfgFile)
	cfgFile.Close()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if len(data) == 0 {
		return errors.New("parent sent no config")
	}
	var cfg initConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	spec := cfg.Spec
	proc := spec.Process

	// The parent put us in our cgroup before sending the config; a cgroup
	// namespace made now is rooted there.
	if hasNewNamespace(spec, specs.CgroupNamespace) {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("new cgroup namespace: %w", err)
		}
	}
	// A new network namespace starts with lo down; containers (Docker's
	// `none` included) have it up.
	if hasNewNamespace(spec, specs.NetworkNamespace) {
		if err := LoopbackUp(); err != nil {
			return err
		}
	}
	if err := prepareRootfs(spec); err != nil {
		return err
	}
	if err := pivotRoot(spec.Root.Path); err != nil {
		return err
	}
	if err := setSysctls(spec.Linux.Sysctl); err != nil {
		return err
	}
	if err := maskPaths(spec.Linux.MaskedPaths); err != nil {
		return err
	}
	if err := readonlyPaths(spec.Linux.ReadonlyPaths); err != nil {
		return err
	}
	if spec.Root.Readonly {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("make rootfs read-only: %w", err)
		}
	}
	if hasNewNamespace(spec, specs.UTSNamespace) {
		if spec.Hostname != "" {
			if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
				return fmt.Errorf("set hostname: %w", err)
			}
		}
		if spec.Domainname != "" {
			if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
				return fmt.Errorf("set domainname: %w", err)
			}
		}
	}
	if err := setRlimits(0, proc.Rlimits); err != nil {
		return err
	}
	if proc.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*proc.OOMScoreAdj)), 0); err != nil {
			return fmt.Errorf("set oom_score_adj: %w", err)
		}
	}
	// Nothing of the host may stay reachable through a descriptor: close the
	// ones that name files or directories (the Go runtime's own epoll and
	// pipes stay, and are close-on-exec).
	if err := closeLeakedFds(); err != nil {
		return err
	}
	filter, err := decodeFilter(cfg.Filter)
	if err != nil {
		return err
	}
	return finishProcess(proc, filter)
}

// finishProcess switches to the process's user, capabilities, cwd,
// no_new_privs and seccomp, and execs it.
func finishProcess(proc *specs.Process, filter []bpf.RawInstruction) error {
	caps, err := resolveCaps(proc.Capabilities)
	if err != nil {
		return err
	}
	cwd := proc.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// Created as root if missing, as Docker does.
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		return fmt.Errorf("create cwd %s: %w", cwd, err)
	}
	if proc.Capabilities != nil {
		if err := dropBounding(caps); err != nil {
			return err
		}
	}
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the
	// process's own sets usually lack: load it while the init still has it.
	if !proc.NoNewPrivileges {
		if err := installSeccomp(filter); err != nil {
			return err
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities: %w", err)
	}
	if err := setUser(proc.User); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("reset keep capabilities: %w", err)
	}
	if proc.Capabilities != nil {
		if err := applyCaps(caps); err != nil {
			return err
		}
	}
	if err := chdirInside(cwd); err != nil {
		return err
	}
	path, err := lookPath(proc.Args[0], proc.Env)
	if err != nil {
		return err
	}
	// Mark every descriptor but stdio close-on-exec.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close descriptors on exec: %w", err)
	}
	if proc.NoNewPrivileges {
		if err := setNoNewPrivs(); err != nil {
			return err
		}
		if err := installSeccomp(filter); err != nil {
			return err
		}
	}
	return execError(path, unix.Exec(path, proc.Args, proc.Env))
}

// setUser switches the process to the spec's uid, gid and supplementary
// groups (the engine resolved names already).
func setUser(u specs.User) error {
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("set groups %v: %w", groups, err)
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("set gid %d: %w", u.GID, err)
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("set uid %d: %w", u.UID, err)
	}
	return nil
}

// chdirInside changes to dir and checks that the result is inside the
// container's root: a cwd reached through a leaked descriptor would show as
// unreachable (CVE-2024-21626).
func chdirInside(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir to %s: %w", dir, err)
	}
	buf := make([]byte, 4096)
	n, err := unix.Getcwd(buf)
	if err != nil || n == 0 || buf[0] != '/' {
		return fmt.Errorf("cwd %s is outside the container", dir)
	}
	return nil
}

// hasDevTmpfs reports whether the spec mounts a tmpfs on /dev, which the
// init then fills with the device nodes.
func hasDevTmpfs(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if filepath.Clean(m.Destination) == "/dev" && m.Type == "tmpfs" {
			return true
		}
	}
	return false
}

// setSysctls writes the (already validated, namespaced) sysctls.
func setSysctls(sysctl map[string]string) error {
	for k, v := range sysctl {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}

// closeLeakedFds closes every descriptor above stdio that refers to a file
// or directory, except the status pipe. Runs after pivot_root, so it reads
// the container's own /proc.
func closeLeakedFds() error {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		// No /proc in the container: mark everything close-on-exec later
		// and refuse nothing here.
		return nil
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 || fd == initErrorFd {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if strings.HasPrefix(target, "/") {
			unix.Close(fd)
		}
	}
	return nil
}
