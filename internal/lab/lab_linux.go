//go:build linux

package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxHosts is the largest lab New makes.
const MaxHosts = 200

// stateFile is the lab's state in its directory (see Open).
const stateFile = "state.json"

// Config describes a lab to make.
type Config struct {
	// Hosts is the number of hosts, 1 to MaxHosts.
	Hosts int
	// Binary is the kedge executable the agents run. It may be empty for a
	// lab that only exercises the network (Start then fails).
	Binary string
	// Subnet is the hosts' IPv4 subnet ("10.1.2.0/24"); empty picks a free
	// /24 in 10.200.0.0/13. The bridge is .1, host N is .(10+N).
	Subnet string
	// Dir is the lab's directory; empty makes a new one in os.TempDir(). It
	// may exist but must not hold a lab. Close removes it with all it holds.
	Dir string
}

// Lab is a set of hosts on one bridge. Its methods are safe for concurrent
// use.
type Lab struct {
	// ID prefixes every name the lab makes: "kl" and 4 hex digits.
	ID string
	// Dir holds the state file and one directory per host.
	Dir string
	// Subnet is the hosts' subnet; Gateway is the bridge's address in it.
	Subnet  netip.Prefix
	Gateway netip.Addr
	// Binary is the kedge executable the agents run.
	Binary string
	// SwitchNS is the path of the namespace holding the bridge.
	SwitchNS string
	// Hosts are h1, h2... in order (Hosts[0] is h1).
	Hosts []*Host

	mu        sync.Mutex // guards partition, closed and the state file
	partition [][]int
	closed    bool
	owner     procRef // the process that made the lab
}

// state is what state.json holds.
type state struct {
	ID        string      `json:"id"`
	Subnet    string      `json:"subnet"`
	Gateway   string      `json:"gateway"`
	Binary    string      `json:"binary"`
	SwitchNS  string      `json:"switch_netns"`
	Partition [][]int     `json:"partition,omitempty"`
	Hosts     []hostState `json:"hosts"`
	// OwnerPID and OwnerStart name the process that made the lab.
	OwnerPID   int    `json:"owner_pid"`
	OwnerStart uint64 `json:"owner_start"`
}

type hostState struct {
	Name     string `json:"name"`
	NetNS    string `json:"netns"`
	IP       string `json:"ip"`
	PID      int    `json:"pid,omitempty"`
	PIDStart uint64 `json:"pid_start,omitempty"`
}

// New makes a lab: the switch namespace and bridge, and the hosts with their
// namespaces, addresses and directories. No agent is started (see
// Host.Start, Lab.StartAll). On error nothing is left behind. It needs root.
func New(ctx context.Context, cfg Config) (*Lab, error) {
	if cfg.Hosts < 1 || cfg.Hosts > MaxHosts {
		return nil, fmt.Errorf("new lab: %d hosts, want 1-%d", cfg.Hosts, MaxHosts)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("new lab: needs root (network namespaces, nftables, mounts)")
	}
	l := &Lab{}
	if me, err := refOf(os.Getpid()); err == nil {
		l.owner = me
	}
	if cfg.Binary != "" {
		abs, err := filepath.Abs(cfg.Binary)
		if err != nil {
			return nil, fmt.Errorf("new lab: binary: %w", err)
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("new lab: binary %s is not an executable file (%v)", abs, err)
		}
		l.Binary = abs
	}
	if err := ensureNetnsDir(); err != nil {
		return nil, fmt.Errorf("new lab: %w", err)
	}
	for range 16 {
		id, err := randomID()
		if err != nil {
			return nil, fmt.Errorf("new lab: %w", err)
		}
		if _, err := os.Stat(filepath.Join(netnsDir, id+"-sw")); errors.Is(err, os.ErrNotExist) {
			l.ID = id
			break
		}
	}
	if l.ID == "" {
		return nil, errors.New("new lab: no free lab id")
	}
	var err error
	if l.Subnet, err = pickSubnet(cfg.Subnet, cfg.Hosts); err != nil {
		return nil, fmt.Errorf("new lab: %w", err)
	}
	l.Gateway = nthAddr(l.Subnet, 1)
	if err := l.makeDir(cfg.Dir); err != nil {
		return nil, fmt.Errorf("new lab: %w", err)
	}
	if err := l.build(ctx, cfg.Hosts); err != nil {
		return nil, errors.Join(fmt.Errorf("new lab %s: %w", l.ID, err), l.Close())
	}
	return l, nil
}

// makeDir creates the lab's directory (it may exist, without a lab in it).
func (l *Lab) makeDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "kedge-lab-"+l.ID+"-")
		if err != nil {
			return fmt.Errorf("create lab dir: %w", err)
		}
		l.Dir = d
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("lab dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(abs, stateFile)); err == nil {
		return fmt.Errorf("lab dir %s holds a lab already (close it, or lab.sh down)", abs)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("create lab dir: %w", err)
	}
	l.Dir = abs
	return nil
}

// build makes the network and the hosts' directories.
func (l *Lab) build(ctx context.Context, hosts int) error {
	sw, err := createNetNS(l.ID + "-sw")
	if err != nil {
		return err
	}
	l.SwitchNS = sw
	if err := l.setupSwitch(); err != nil {
		return err
	}
	for n := 1; n <= hosts; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := l.newHost(n, nthAddr(l.Subnet, hostOffset+n), "")
		l.Hosts = append(l.Hosts, h)
		for _, d := range []string{h.Dir, h.DataDir, h.RunDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", d, err)
			}
		}
		if h.NetNS, err = createNetNS(l.ID + "-" + h.Name); err != nil {
			return err
		}
		h.netnsIno = nsInode(h.NetNS)
		if err := l.wireHost(h); err != nil {
			return err
		}
	}
	return l.save()
}

// newHost fills in a host's names and paths.
func (l *Lab) newHost(n int, ip netip.Addr, netns string) *Host {
	name := "h" + strconv.Itoa(n)
	dir := filepath.Join(l.Dir, name)
	return &Host{
		Name: name, N: n, NetNS: netns, IP: ip, Dir: dir,
		DataDir: filepath.Join(dir, "data"),
		RunDir:  filepath.Join(dir, "run"),
		Socket:  filepath.Join(dir, "api.sock"),
		LogPath: filepath.Join(dir, "agent.log"),
		lab:     l, netnsIno: nsInode(netns),
	}
}

// NewTest makes a lab for a test and closes it when the test ends; it skips
// the test when not run as root and fails it if the lab cannot be made.
// When the test has failed, the end of each agent's log is logged first.
func NewTest(t testing.TB, cfg Config) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab: needs root (network namespaces, nftables, mounts); run the tests as root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("make lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range l.Hosts {
				if log := h.Log(); log != "" {
					t.Logf("agent log of %s:\n%s", h.Name, tail(log, 8192))
				}
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	return l
}

// Open returns the lab whose state is in dir, as New or another process
// left it; agents that still run are adopted (Kill9, Stop... work on them).
func Open(dir string) (*Lab, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("open lab: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("open lab %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open lab: %w", err)
	}
	l := &Lab{ID: st.ID, Dir: abs, Binary: st.Binary, SwitchNS: st.SwitchNS, partition: st.Partition,
		owner: procRef{pid: st.OwnerPID, start: st.OwnerStart}}
	if l.Subnet, err = netip.ParsePrefix(st.Subnet); err != nil {
		return nil, fmt.Errorf("open lab %s: subnet: %w", dir, err)
	}
	if l.Gateway, err = netip.ParseAddr(st.Gateway); err != nil {
		return nil, fmt.Errorf("open lab %s: gateway: %w", dir, err)
	}
	for i, hs := range st.Hosts {
		ip, err := netip.ParseAddr(hs.IP)
		if err != nil {
			return nil, fmt.Errorf("open lab %s: address of %s: %w", dir, hs.Name, err)
		}
		h := l.newHost(i+1, ip, hs.NetNS)
		if ref := (procRef{pid: hs.PID, start: hs.PIDStart}); hs.PID > 0 && ref.alive() {
			h.agent = &agentProc{ref: ref}
		}
		l.Hosts = append(l.Hosts, h)
	}
	return l, nil
}

// CloseStale closes the labs that New made in os.TempDir() (Config.Dir
// empty, as in tests) for a process that has died without closing them, a
// test binary killed by its timeout for instance, and returns their dirs.
// Labs in a given Config.Dir (lab.sh's) are left alone.
func CloseStale() ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "kedge-lab-kl*-*", stateFile))
	if err != nil {
		return nil, fmt.Errorf("find stale labs: %w", err)
	}
	var closed []string
	var errs []error
	for _, f := range dirs {
		l, err := Open(filepath.Dir(f))
		if errors.Is(err, os.ErrNotExist) {
			continue // a lab closed meanwhile (another test process's)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if l.owner.pid == 0 || l.owner.alive() {
			continue
		}
		closed = append(closed, l.Dir)
		errs = append(errs, l.Close())
	}
	return closed, errors.Join(errs...)
}

// Lookup finds a host by name ("h2"), number ("2") or namespace name.
func (l *Lab) Lookup(name string) (*Host, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 1 && n <= len(l.Hosts) {
		return l.Hosts[n-1], nil
	}
	for _, h := range l.Hosts {
		if h.Name == name || filepath.Base(h.NetNS) == name {
			return h, nil
		}
	}
	return nil, fmt.Errorf("lab %s has no host %q (hosts are 1-%d)", l.ID, name, len(l.Hosts))
}

// Partitioned returns the groups of the current partition (nil when none).
func (l *Lab) Partitioned() [][]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.partition)
}

// Expand replaces {name}, {n}, {ip}, {dir} and {socket} in an argument with
// the host's values, e.g. "--advertise={ip}".
func (h *Host) Expand(arg string) string {
	return strings.NewReplacer("{name}", h.Name, "{n}", strconv.Itoa(h.N), "{ip}", h.IP.String(),
		"{dir}", h.Dir, "{socket}", h.Socket).Replace(arg)
}

// StartAll starts every host's agent with args (expanded per host, see
// Host.Expand) and waits until all answer.
func (l *Lab) StartAll(ctx context.Context, args ...string) error {
	for _, h := range l.Hosts {
		hargs := make([]string, len(args))
		for i, a := range args {
			hargs[i] = h.Expand(a)
		}
		if err := h.Start(ctx, hargs...); err != nil {
			return err
		}
	}
	for _, h := range l.Hosts {
		if err := h.WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

// save writes the state file.
func (l *Lab) save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.saveLocked()
}

func (l *Lab) saveLocked() error {
	if l.closed {
		return nil
	}
	st := state{ID: l.ID, Subnet: l.Subnet.String(), Gateway: l.Gateway.String(), Binary: l.Binary,
		SwitchNS: l.SwitchNS, Partition: l.partition, OwnerPID: l.owner.pid, OwnerStart: l.owner.start}
	for _, h := range l.Hosts {
		hs := hostState{Name: h.Name, NetNS: h.NetNS, IP: h.IP.String()}
		h.mu.Lock()
		if h.agent.running() {
			hs.PID, hs.PIDStart = h.agent.ref.pid, h.agent.ref.start
		}
		h.mu.Unlock()
		st.Hosts = append(st.Hosts, hs)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := filepath.Join(l.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(l.Dir, stateFile)); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

// Close tears the lab down: it kills every process of every host (agents,
// supervisors, containers, anything in the hosts' namespaces), unmounts
// whatever is mounted under Dir, removes the containers' cgroups, the links,
// the namespaces (and with the switch's, the nftables table) and Dir. It
// goes on after an error and returns them all; a second Close does nothing.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	var errs []error
	for _, h := range l.Hosts {
		errs = append(errs, h.Crash())
	}
	if l.Dir != "" {
		errs = append(errs, unmountUnder(l.Dir))
	}
	for _, h := range l.Hosts {
		errs = append(errs, h.removeCgroups())
	}
	if l.SwitchNS != "" {
		errs = append(errs, l.removeLinks())
	}
	for _, h := range l.Hosts {
		if h.NetNS != "" {
			errs = append(errs, deleteNetNS(h.NetNS))
		}
	}
	if l.SwitchNS != "" {
		errs = append(errs, deleteNetNS(l.SwitchNS))
	}
	if l.Dir != "" {
		// Never remove through a mount that is still there: it may be a
		// bind mount of something outside the lab.
		if mps, err := mountsUnder(l.Dir); err != nil || len(mps) > 0 {
			errs = append(errs, fmt.Errorf("keep %s: mounts remain under it (%v)", l.Dir, err))
		} else if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove lab dir: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close lab %s: %w", l.ID, err)
	}
	return nil
}
