//go:build linux

package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"kedge/api"
)

// Host is one machine of the lab: a network namespace with its own address
// and directories, and at most one kedge agent.
type Host struct {
	// Name is "h1", "h2"...; N (from 1) is its number.
	Name string
	N    int
	// NetNS is the path of the host's network namespace
	// (/run/netns/ID-hN: `ip netns exec ID-hN` works too).
	NetNS string
	// IP is the host's address on the lab's bridge.
	IP netip.Addr
	// Dir holds everything of the host: DataDir, RunDir, Socket, the
	// agent's config (agent.yaml) and log (agent.log).
	Dir string
	// DataDir is the agent's --data-dir.
	DataDir string
	// RunDir is the agent's runtime dir (run_dir in its config file).
	RunDir string
	// Socket is the agent's API unix socket (--socket).
	Socket string
	// LogPath is where the agent's stdout and stderr go.
	LogPath string

	lab      *Lab
	netnsIno uint64

	mu    sync.Mutex // guards agent
	agent *agentProc
}

// agentProc is a started agent. done is closed once a child of this process
// has been reaped; an agent adopted by Open (started by another process)
// has no done and is watched through /proc.
type agentProc struct {
	ref  procRef
	done chan struct{}
	err  error // the exit status, set before done is closed
}

func (p *agentProc) running() bool {
	if p == nil {
		return false
	}
	if p.done != nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	return p.ref.alive()
}

// wait waits until the process has exited (and, for a child, has been
// reaped) or ctx ends.
func (p *agentProc) wait(ctx context.Context) bool {
	if p.done == nil {
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(time.Minute)
		}
		return waitFor(deadline, func() bool { return !p.ref.alive() || ctx.Err() != nil }) && !p.ref.alive()
	}
	select {
	case <-p.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitGone is wait with a timeout.
func (p *agentProc) waitGone(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.wait(ctx)
}

// port is the host's veth port on the bridge (in the switch namespace).
func (h *Host) port() string { return h.lab.ID + "-" + h.Name }

// Start starts the agent in the host's network namespace:
//
//	BINARY agent --config DIR/agent.yaml --data-dir DATADIR --socket SOCKET ARGS...
//
// The config file sets run_dir (RunDir) and node_name (Name); flags in
// args override both. stdout and stderr append to LogPath. ctx bounds the
// start only: the agent runs until Kill9, Stop, Crash or Lab.Close. It is an
// error to start a host whose agent is running.
func (h *Host) Start(ctx context.Context, args ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start agent on %s: %w", h.Name, err)
	}
	if h.lab.Binary == "" {
		return fmt.Errorf("start agent on %s: the lab has no Binary", h.Name)
	}
	if err := h.start(args); err != nil {
		return fmt.Errorf("start agent on %s: %w", h.Name, err)
	}
	return h.lab.save()
}

func (h *Host) start(args []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.agent.running() {
		return fmt.Errorf("already running as pid %d", h.agent.ref.pid)
	}
	conf := h.Dir + "/agent.yaml"
	yaml := fmt.Sprintf("node_name: %q\nrun_dir: %q\n", h.Name, h.RunDir)
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		return fmt.Errorf("write the agent's config: %w", err)
	}
	argv := append([]string{"agent", "--config", conf, "--data-dir", h.DataDir, "--socket", h.Socket}, args...)
	logf, err := os.OpenFile(h.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open the agent's log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== kedge-lab %s: %s %s\n", time.Now().Format(time.RFC3339Nano), h.lab.Binary, strings.Join(argv, " "))
	cmd := exec.Command(h.lab.Binary, argv...)
	cmd.Dir = h.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C in the terminal of lab.sh does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := h.StartCmd(cmd); err != nil {
		return err
	}
	ref, err := refOf(cmd.Process.Pid)
	if err != nil { // already gone: Wait below reaps it
		ref = procRef{pid: cmd.Process.Pid}
	}
	p := &agentProc{ref: ref, done: make(chan struct{})}
	go func() { // owned by the Host: ends when the agent is reaped
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.agent = p
	return nil
}

// StartCmd starts cmd in the host's network namespace (it stays in the
// caller's mount namespace). The caller waits for it; Lab.Close kills it if
// it is still running. Do not set SysProcAttr.Pdeathsig: the thread that
// forks it may end.
func (h *Host) StartCmd(cmd *exec.Cmd) error {
	if err := inNetNS(h.NetNS, cmd.Start); err != nil {
		return fmt.Errorf("start %s in %s: %w", cmd.Path, h.Name, err)
	}
	return nil
}

// Exec runs a command in the host's network namespace and returns its
// combined output. KEDGE_HOST is set to the host's socket, so the kedge CLI
// talks to this host's agent. A failure's error includes the output's end.
func (h *Host) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KEDGE_HOST=unix://"+h.Socket)
	cmd.Dir = h.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // a daemon that keeps the output open does not block us
	if err := h.StartCmd(cmd); err != nil {
		return nil, err
	}
	err := cmd.Wait()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s on %s: %w: %s", name, h.Name, err, tail(out.String(), 2048))
	}
	return out.Bytes(), nil
}

// Dial connects from inside the host's network namespace (the socket is made
// there, the rest of the process is not).
func (h *Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := inNetNS(h.NetNS, func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, address, h.Name, err)
	}
	return c, nil
}

// Listen listens inside the host's network namespace.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := inNetNS(h.NetNS, func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s in %s: %w", network, address, h.Name, err)
	}
	return l, nil
}

// Client returns an API client of the host's agent; close it after use.
func (h *Host) Client() (*api.Client, error) {
	c, err := api.NewClient("unix://" + h.Socket)
	if err != nil {
		return nil, fmt.Errorf("API client of %s: %w", h.Name, err)
	}
	return c, nil
}

// WaitReady waits until the agent answers GET /v1/version on its socket.
// It fails at once if the agent has exited (with the end of its log), and
// after 60 seconds when ctx has no deadline.
func (h *Host) WaitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	c, err := h.Client()
	if err != nil {
		return err
	}
	defer c.Close()
	delay := 2 * time.Millisecond
	for {
		if !h.Running() {
			return fmt.Errorf("wait for the agent on %s: not running; log:\n%s", h.Name, tail(h.Log(), 4096))
		}
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = c.Version(actx)
		cancel()
		if err == nil {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the agent on %s: %w (last: %v); log:\n%s", h.Name, ctx.Err(), err, tail(h.Log(), 4096))
		case <-t.C: // polling: the socket gives no readiness event
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// Running reports whether the host's agent is running (paused counts).
func (h *Host) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agent.running()
}

// AgentState is "running", "paused" (stopped by Pause) or "down".
func (h *Host) AgentState() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.agent.running():
		return "down"
	case h.agent.ref.state() == 'T':
		return "paused"
	}
	return "running"
}

// PID is the agent's process id, 0 when none runs.
func (h *Host) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.agent.running() {
		return 0
	}
	return h.agent.ref.pid
}

// errNotRunning says the host has no agent running.
var errNotRunning = errors.New("not running")

// signal sends sig to the running agent.
func (h *Host) signal(what string, sig unix.Signal) (*agentProc, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.agent.running() {
		return nil, fmt.Errorf("%s the agent on %s: %w", what, h.Name, errNotRunning)
	}
	if err := unix.Kill(h.agent.ref.pid, sig); err != nil {
		return nil, fmt.Errorf("%s the agent on %s (pid %d): %w", what, h.Name, h.agent.ref.pid, err)
	}
	return h.agent, nil
}

// Kill9 kills the agent with SIGKILL and waits until it is gone. Its
// supervisors and containers keep running (see KillSupervisors, Crash).
func (h *Host) Kill9() error {
	p, err := h.signal("kill -9", unix.SIGKILL)
	if err != nil {
		return err
	}
	if !p.waitGone(killTimeout) {
		return fmt.Errorf("kill -9 the agent on %s: pid %d still alive after %s (%s)", h.Name, p.ref.pid, killTimeout, threadsOf(p.ref.pid))
	}
	return nil
}

// KillSupervisors SIGKILLs the host's container supervisors ("kedge __shim"
// processes of the host's directories); their containers are orphaned.
func (h *Host) KillSupervisors() error {
	return killProcs("the supervisors of "+h.Name, func() []procRef { return h.hostProcs(true) }, nil)
}

// Crash kills everything of the host as a power loss would: the agent, its
// supervisors and containers, and any process in the host's namespace. The
// host's directories and network stay; Start starts it again.
func (h *Host) Crash() error {
	h.mu.Lock()
	p := h.agent
	h.mu.Unlock()
	err := killProcs("the processes of "+h.Name, func() []procRef { return h.hostProcs(false) }, h.thawCgroups)
	if p != nil && !p.waitGone(killTimeout) {
		err = errors.Join(err, fmt.Errorf("crash %s: agent pid %d not reaped after %s (%s)", h.Name, p.ref.pid, killTimeout, threadsOf(p.ref.pid)))
	}
	return err
}

// Pause stops the agent with SIGSTOP and waits until it is stopped.
func (h *Host) Pause() error {
	p, err := h.signal("pause", unix.SIGSTOP)
	if err != nil {
		return err
	}
	if !waitFor(time.Now().Add(5*time.Second), func() bool { s := p.ref.state(); return s == 'T' || s == 0 }) {
		return fmt.Errorf("pause the agent on %s: pid %d did not stop", h.Name, p.ref.pid)
	}
	return nil
}

// Resume continues a paused agent with SIGCONT.
func (h *Host) Resume() error {
	p, err := h.signal("resume", unix.SIGCONT)
	if err != nil {
		return err
	}
	if !waitFor(time.Now().Add(5*time.Second), func() bool { return p.ref.state() != 'T' }) {
		return fmt.Errorf("resume the agent on %s: pid %d is still stopped", h.Name, p.ref.pid)
	}
	return nil
}

// Stop sends SIGTERM to the agent (and SIGCONT, should it be paused) and
// waits for it to exit; when ctx ends first it kills it with SIGKILL and
// returns ctx's error. Stopping a host with no agent running does nothing.
func (h *Host) Stop(ctx context.Context) error {
	p, err := h.signal("stop", unix.SIGTERM)
	if errors.Is(err, errNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	_ = unix.Kill(p.ref.pid, unix.SIGCONT)
	if p.wait(ctx) {
		return nil
	}
	_ = unix.Kill(p.ref.pid, unix.SIGKILL)
	p.waitGone(killTimeout)
	cause := context.Cause(ctx)
	if cause == nil {
		cause = errors.New("timed out")
	}
	return fmt.Errorf("stop the agent on %s: %w; killed it", h.Name, cause)
}

// Cut takes the host off the network: its bridge port goes down (its eth0
// loses carrier). Processes keep running.
func (h *Host) Cut() error { return h.lab.setPort(h, false) }

// Heal undoes Cut.
func (h *Host) Heal() error { return h.lab.setPort(h, true) }

// IsCut reports whether the host's bridge port is down.
func (h *Host) IsCut() (bool, error) {
	up, err := h.lab.portUp(h)
	return !up, err
}

// Log returns the agent's log (all of its runs); "" when there is none.
func (h *Host) Log() string {
	b, err := os.ReadFile(h.LogPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
