//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestGroupsOf(t *testing.T) {
	for _, tc := range []struct {
		groups [][]int
		want   []int
		err    string
	}{
		{groups: [][]int{{1, 2}, {3}}, want: []int{1, 1, 2}},
		{groups: [][]int{{3}}, want: []int{2, 2, 1}},
		{groups: nil, want: []int{1, 1, 1}},
		{groups: [][]int{{1}, {1}}, err: "two groups"},
		{groups: [][]int{{4}}, err: "no host 4"},
		{groups: [][]int{{0}}, err: "no host 0"},
	} {
		got, err := groupsOf(3, tc.groups)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("groupsOf(%v) error %v, want %q", tc.groups, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("groupsOf(%v) = %v, %v; want %v", tc.groups, got, err, tc.want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Errorf("unescapeMount = %q", got)
	}
}

// servers listens on every host's address and answers "ok from hN".
func servers(t *testing.T, l *Lab) []string {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the listeners' cleanups close them (LIFO)
	addrs := make([]string, len(l.Hosts))
	for i, h := range l.Hosts {
		ln, err := h.Listen("tcp", net.JoinHostPort(h.IP.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		wg.Add(1)
		go func() { // ends when the listener is closed at cleanup
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "ok from %s\n", h.Name)
				c.Close()
			}
		}()
		t.Cleanup(func() { ln.Close() })
	}
	return addrs
}

// talk connects from a host to addr and reads the greeting.
func talk(from *Host, addr string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := from.Dial(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	return bufio.NewReader(c).ReadString('\n')
}

// reachable waits (up to 10 s) until from reaches addr.
func reachable(t *testing.T, from *Host, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg, err := talk(from, addr, 500*time.Millisecond)
		if err == nil && strings.HasPrefix(msg, "ok from") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cannot reach %s: %v", from.Name, addr, err)
		}
	}
}

// blocked checks that from does not reach addr: a dropped SYN times out.
func blocked(t *testing.T, from *Host, addr string) {
	t.Helper()
	if msg, err := talk(from, addr, 300*time.Millisecond); err == nil {
		t.Fatalf("%s reaches %s (%q), want it blocked", from.Name, addr, msg)
	}
}

func TestNetwork(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := NewTest(t, Config{Hosts: 3})
	addrs := servers(t, l)
	seen := map[string]bool{}
	for _, h := range l.Hosts {
		if !l.Subnet.Contains(h.IP) || seen[h.IP.String()] || h.IP == l.Gateway {
			t.Fatalf("%s has address %s in %s (gateway %s), want a distinct one", h.Name, h.IP, l.Subnet, l.Gateway)
		}
		seen[h.IP.String()] = true
	}

	t.Run("exec runs in the host's namespace", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, h := range l.Hosts {
			out, err := h.Exec(ctx, self, "__labhelper", "netns")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.TrimSpace(string(out)), fmt.Sprintf("net:[%d]", nsInode(h.NetNS)); got != want {
				t.Errorf("Exec on %s runs in %s, want %s", h.Name, got, want)
			}
		}
		out, err := l.Hosts[0].Exec(ctx, self, "__labhelper", "dial", addrs[1])
		if err != nil || !strings.HasPrefix(string(out), "ok from h2") {
			t.Fatalf("h1 -> h2 through Exec: %q, %v", out, err)
		}
		if _, err := l.Hosts[0].Exec(ctx, self, "__labhelper", "bogus"); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("a failing Exec returns %v, want its output in the error", err)
		}
	})

	t.Run("loopback is up", func(t *testing.T) {
		h := l.Hosts[0]
		ln, err := h.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := h.Dial(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("loopback in %s: %v", h.Name, err)
		}
		c.Close()
	})

	t.Run("every host reaches every other", func(t *testing.T) {
		for i, from := range l.Hosts {
			for j := range l.Hosts {
				if i != j {
					reachable(t, from, addrs[j])
				}
			}
		}
	})

	t.Run("cut and heal", func(t *testing.T) {
		h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
		if err := h3.Cut(); err != nil {
			t.Fatal(err)
		}
		if cut, err := h3.IsCut(); err != nil || !cut {
			t.Fatalf("IsCut after Cut = %v, %v", cut, err)
		}
		blocked(t, h1, addrs[2])
		blocked(t, h2, addrs[2])
		blocked(t, h3, addrs[0])
		reachable(t, h1, addrs[1])
		if err := h3.Heal(); err != nil {
			t.Fatal(err)
		}
		reachable(t, h1, addrs[2])
		reachable(t, h3, addrs[0])
		reachable(t, h3, addrs[1])
	})

	t.Run("partition and heal", func(t *testing.T) {
		h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
		if err := l.Partition([]int{1, 2}, []int{3}); err != nil {
			t.Fatal(err)
		}
		if got := l.Partitioned(); !reflect.DeepEqual(got, [][]int{{1, 2}, {3}}) {
			t.Errorf("Partitioned() = %v", got)
		}
		blocked(t, h1, addrs[2])
		blocked(t, h3, addrs[0])
		blocked(t, h2, addrs[2])
		blocked(t, h3, addrs[1])
		reachable(t, h1, addrs[1])
		reachable(t, h2, addrs[0])

		// A new partition replaces the old one.
		if err := l.Partition([]int{1}); err != nil {
			t.Fatal(err)
		}
		blocked(t, h1, addrs[1])
		reachable(t, h2, addrs[2])
		reachable(t, h3, addrs[1])

		for range 2 { // healing twice is fine
			if err := l.HealPartition(); err != nil {
				t.Fatal(err)
			}
		}
		for i, from := range l.Hosts {
			for j := range l.Hosts {
				if i != j {
					reachable(t, from, addrs[j])
				}
			}
		}
		if err := l.Partition([]int{1}, []int{1}); err == nil {
			t.Error("a host in two groups is accepted")
		}
	})
}

func TestAgentLifecycle(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := NewTest(t, Config{Hosts: 1, Binary: self})
	h := l.Hosts[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := h.Start(ctx, "--extra", "{ip}"); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	pid := h.PID()
	if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); ns != fmt.Sprintf("net:[%d]", nsInode(h.NetNS)) {
		t.Errorf("agent runs in %s, want the host's namespace", ns)
	}
	if log := h.Log(); !strings.Contains(log, "--extra {ip}") || !strings.Contains(log, "run_dir") {
		t.Errorf("the agent's log lacks its args or config:\n%s", log)
	}
	if err := h.Start(ctx); err == nil {
		t.Error("a second Start succeeds while the agent runs")
	}
	shims := h.hostProcs(true)
	if len(shims) != 1 {
		t.Fatalf("%d supervisors found, want the fake agent's 1", len(shims))
	}

	// Open from "another process" sees the running agent.
	if o, err := Open(l.Dir); err != nil || o.Hosts[0].PID() != pid {
		t.Fatalf("Open: pid %v, %v; want %d", o, err, pid)
	}

	if err := h.Pause(); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	err = h.WaitReady(short)
	cancelShort()
	if err == nil {
		t.Error("a paused agent answers")
	}
	if err := h.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	if err := h.Kill9(); err != nil {
		t.Fatal(err)
	}
	if h.Running() || h.PID() != 0 {
		t.Fatal("the agent runs after Kill9")
	}
	if !shims[0].alive() {
		t.Fatal("Kill9 killed the supervisor too")
	}
	if err := h.Kill9(); err == nil {
		t.Error("Kill9 of a dead agent succeeds")
	}

	// Restart, then stop gracefully.
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.Log(), "fake agent: terminated") {
		t.Errorf("Stop did not send SIGTERM; log:\n%s", h.Log())
	}
	if err := h.Stop(ctx); err != nil {
		t.Errorf("Stop without an agent: %v", err)
	}
	if n := len(h.hostProcs(true)); n != 2 {
		t.Errorf("%d supervisors, want 2 (one per start)", n)
	}
	if err := h.KillSupervisors(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.hostProcs(true)); n != 0 {
		t.Errorf("%d supervisors after KillSupervisors", n)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := NewTest(t, Config{Hosts: 2, Binary: self})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.StartAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Partition([]int{1}, []int{2}); err != nil {
		t.Fatal(err)
	}
	var refs []procRef
	inodes := map[string]bool{}
	for _, h := range l.Hosts {
		refs = append(refs, h.hostProcs(false)...)
		inodes[fmt.Sprintf("net:[%d]", nsInode(h.NetNS))] = true
	}
	inodes[fmt.Sprintf("net:[%d]", nsInode(l.SwitchNS))] = true
	// A stray process in h2 and a mount under h1's data dir, as an agent
	// would leave them.
	sleeper := exec.Command(self, "__labhelper", "sleep")
	if err := l.Hosts[1].StartCmd(sleeper); err != nil {
		t.Fatal(err)
	}
	go func() { _ = sleeper.Wait() }() // reaps it once Close kills it
	ref, err := refOf(sleeper.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	refs = append(refs, ref)
	mnt := filepath.Join(l.Hosts[0].DataDir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	frozen := frozenContainer(t, l.Hosts[0], self)
	if frozen.pid != 0 {
		refs = append(refs, frozen)
	}
	if len(refs) < 5 { // 2 agents, 2 supervisors, the sleeper
		t.Fatalf("%d processes before Close, want at least 5", len(refs))
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	for _, r := range refs {
		if r.alive() {
			t.Errorf("process %d survives Close", r.pid)
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && inodes[ns] {
			t.Errorf("process %s is in a namespace of the closed lab", e.Name())
		}
	}
	ents, _ = os.ReadDir(netnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), l.ID+"-") {
			t.Errorf("%s/%s survives Close", netnsDir, e.Name())
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range links {
		if strings.HasPrefix(link.Attrs().Name, l.ID+"-") {
			t.Errorf("link %s survives Close", link.Attrs().Name)
		}
	}
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == nftTable {
			t.Errorf("nftables table %s in the root namespace", tb.Name)
		}
	}
	if _, err := os.Stat(l.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab dir %s survives Close: %v", l.Dir, err)
	}
	if mps, _ := mountsUnder(l.Dir); len(mps) > 0 {
		t.Errorf("mounts survive Close: %v", mps)
	}
	for _, h := range l.Hosts {
		if dirs := h.cgroupDirs(); len(dirs) > 0 {
			t.Errorf("cgroups survive Close: %v", dirs)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// frozenContainer puts a process outside the host's namespace into a frozen
// cgroup where the engine would put the host's containers, as a paused
// container; it returns a zero procRef when the machine has no freezer.
func frozenContainer(t *testing.T, h *Host, self string) procRef {
	t.Helper()
	base := "/sys/fs/cgroup/freezer"
	state, value := "freezer.state", "FROZEN"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		base, state, value = "/sys/fs/cgroup", "cgroup.freeze", "1"
	}
	dir := filepath.Join(base, "kedge-"+agentKey(h.DataDir), "c1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("no frozen container (%v)", err)
		return procRef{}
	}
	cmd := exec.Command(self, "__labhelper", "sleep")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }() // reaps it once Close kills it
	ref, err := refOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(ref.pid)), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, state), []byte(value), 0); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestCloseStale(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := NewTest(t, Config{Hosts: 1})
	// Make the lab's owner a process that has died.
	dead := exec.Command(self, "__labhelper", "sleep")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	ref, err := refOf(dead.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	_ = dead.Process.Kill()
	_ = dead.Wait()
	l.owner = ref
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	closed, err := CloseStale()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(closed, l.Dir) {
		t.Fatalf("CloseStale closed %v, want %s among them", closed, l.Dir)
	}
	if _, err := os.Stat(l.Hosts[0].NetNS); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s survives CloseStale: %v", l.Hosts[0].NetNS, err)
	}
	if _, err := os.Stat(l.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s survives CloseStale: %v", l.Dir, err)
	}
}
