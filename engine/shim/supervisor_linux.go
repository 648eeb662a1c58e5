//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"kedge/engine/logs"
	"kedge/engine/runtime"
)

// Bounds of the supervisor's shutdown: output still flowing after the
// container's init exited (from a process that escaped it), exec sessions and
// clients still being answered.
const (
	drainTimeout    = 2 * time.Second
	sessionsTimeout = 5 * time.Second
	// holdLinger is how long a supervisor with HoldOutput waits, after the
	// container exited, for the attach that takes the held output.
	holdLinger = 10 * time.Second
)

// Main is the entry point of "kedge __shim"; it returns the process's exit code.
func Main(args []string) int { return run(args, realRuntime{}, holdLinger) }

// run is Main over a given runtime, with a given linger for held output.
func run(args []string, rt containerRuntime, linger time.Duration) int {
	ready := os.NewFile(3, "ready")
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: kedge __shim OPTIONS-JSON (started by the agent)")
		return 2
	}
	var opts Options
	if err := json.Unmarshal([]byte(args[0]), &opts); err != nil {
		fmt.Fprintln(os.Stderr, "kedge __shim: bad options:", err)
		return 2
	}
	// Outlive the agent: no death by its terminal or a closed client.
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	// Keep other users of the host from ptrace or /proc/PID/mem into us.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// A supervisor is mostly idle: trade a little CPU for a smaller heap.
	debug.SetGCPercent(50)
	// Hold no mount of the agent's working directory busy.
	os.Chdir("/")

	logf, err := os.OpenFile(filepath.Join(opts.StateDir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		logf = os.Stderr
	}
	defer logf.Close()
	s := &supervisor{
		opts:   opts,
		rt:     rt,
		log:    slog.New(slog.NewTextHandler(logf, nil)).With("container", opts.ID),
		out:    newFanout(opts.HoldOutput),
		linger: linger,
		exited: make(chan struct{}),
		conns:  make(map[net.Conn]struct{}),
		trim:   make(chan struct{}, 1),
	}
	return s.run(ready)
}

// supervisor is one container's supervisor process.
type supervisor struct {
	opts   Options
	rt     containerRuntime
	linger time.Duration // see holdLinger
	log    *slog.Logger
	spec   *specs.Spec
	cfg    *runtime.Config
	logw   *logs.Writer // nil without LogPath
	ln     net.Listener
	// sockInfo identifies our socket file: a successor supervisor started
	// for the same state dir while we finish replaces it.
	sockInfo os.FileInfo

	proc      process
	pid       int
	startedAt time.Time
	oomBefore uint64

	// Output: the read ends of the container's stdout and stderr (or the
	// pty master as stdout) and their copiers.
	outputs []*os.File
	copiers sync.WaitGroup
	out     *fanout
	console *os.File // pty master when Tty

	stdinMu sync.Mutex
	stdin   io.WriteCloser // pipe or pty master; nil when closed or none

	mu        sync.Mutex
	exit      *Exit // set once exited is closed
	exited    chan struct{}
	reaped    bool // the init was reaped
	finishing bool // no new exec sessions
	conns     map[net.Conn]struct{}
	sessions  sync.WaitGroup // exec sessions (their processes are our children)
	serving   sync.WaitGroup // connection handlers
	// trim asks the idle trimmer to give memory back (see trimMemory).
	trim chan struct{}
}

// requestTrim asks for memory to be given back once the supervisor is idle.
func (s *supervisor) requestTrim() {
	select {
	case s.trim <- struct{}{}:
	default:
	}
}

// trimWhenIdle gives memory back a little after each burst of work (an exec
// session pages code in again), until the container exits.
func (s *supervisor) trimWhenIdle() {
	for {
		select {
		case <-s.exited:
			return
		case <-s.trim:
		}
		t := time.NewTimer(2 * time.Second)
		select {
		case <-s.exited:
			t.Stop()
			return
		case <-t.C:
		}
		trimMemory()
	}
}

func (s *supervisor) run(ready *os.File) int {
	if err := s.start(); err != nil {
		now := time.Now().UTC()
		s.log.Error("container start failed", "err", err)
		e := &Exit{Code: startExitCode(err), Error: err.Error(), StartedAt: now, FinishedAt: now}
		if werr := writeExit(s.opts.ExitFile, e); werr != nil {
			s.log.Error("record start failure", "err", werr)
		}
		writeLine(ready, response{Error: toWire(err)})
		ready.Close()
		return 1
	}
	if err := writeLine(ready, response{Pid: s.pid, Running: true, Tty: s.opts.Tty}); err != nil {
		// Nobody waits for this container: stop it, then finish as usual.
		s.log.Error("report to the agent failed; stopping the container", "err", err)
		unix.Kill(s.pid, unix.SIGKILL)
	}
	ready.Close()
	go s.acceptLoop()
	go s.trimWhenIdle()
	// Trim once things settle, off the path of short-lived containers.
	s.requestTrim()
	s.supervise()
	return 0
}

// start prepares stdio, the log and the socket, and starts the container. On
// failure everything it made is undone.
func (s *supervisor) start() (err error) {
	b, err := os.ReadFile(filepath.Join(s.opts.BundleDir, "config.json"))
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	s.spec = new(specs.Spec)
	if err := json.Unmarshal(b, s.spec); err != nil {
		return fmt.Errorf("decode bundle config: %w", err)
	}
	var child runtime.Stdio
	var childEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
		if err != nil {
			s.closeOutputs()
			s.closeStdin()
			if s.logw != nil {
				s.logw.Close()
			}
			if s.ln != nil {
				s.ln.Close()
				os.Remove(filepath.Join(s.opts.StateDir, sockName))
			}
		}
	}()
	if s.opts.LogPath != "" {
		if s.logw, err = logs.NewWriter(s.opts.LogPath, s.opts.LogMaxSize, s.opts.LogMaxFiles); err != nil {
			return err
		}
	}
	if s.opts.Tty {
		master, slave, err := pty.Open()
		if err != nil {
			return fmt.Errorf("open pty: %w", err)
		}
		s.console, s.outputs = master, []*os.File{master}
		child.Console, childEnds = slave, append(childEnds, slave)
		if s.opts.OpenStdin {
			s.stdin = nopWriteCloser{master}
		}
	} else {
		for _, dst := range []**os.File{&child.Stdout, &child.Stderr} {
			r, w, err := os.Pipe()
			if err != nil {
				return fmt.Errorf("make stdio pipes: %w", err)
			}
			s.outputs, childEnds, *dst = append(s.outputs, r), append(childEnds, w), w
		}
		if s.opts.OpenStdin {
			r, w, err := os.Pipe()
			if err != nil {
				return fmt.Errorf("make stdin pipe: %w", err)
			}
			s.stdin, child.Stdin, childEnds = w, r, append(childEnds, r)
		}
	}
	addr, dir, err := socketAddr(s.opts.StateDir)
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(s.opts.StateDir, sockName)) // a dead supervisor's
	ln, err := net.Listen("unix", addr)
	dir.Close()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The address may name a closed descriptor: supervise removes the
	// socket by its real path.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	s.ln = ln
	s.sockInfo, _ = os.Stat(filepath.Join(s.opts.StateDir, sockName))
	rdir := filepath.Join(s.opts.StateDir, runtimeName)
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return fmt.Errorf("make runtime dir: %w", err)
	}
	s.cfg = &runtime.Config{ID: s.opts.ID, Spec: s.spec, StateDir: rdir, Binary: s.opts.Binary}
	// OOM kills so far: a stale cgroup's, or none (no cgroup yet). Read
	// before the start, as a quick container may be killed before it returns.
	if cg := s.cgroupsPath(); cg != "" {
		s.oomBefore, _ = s.rt.OOMKills(cg)
	}
	s.startedAt = time.Now().UTC()
	proc, err := s.rt.Start(context.Background(), s.cfg, child)
	if err != nil {
		if cg := s.cgroupsPath(); cg != "" {
			s.rt.RemoveCgroup(cg)
		}
		return err
	}
	s.proc, s.pid = proc, proc.PID()
	os.WriteFile(filepath.Join(s.opts.StateDir, pidName), []byte(strconv.Itoa(os.Getpid())), 0o600)
	names := []string{logs.Stdout, logs.Stderr}
	types := []byte{frameStdout, frameStderr}
	for i, r := range s.outputs {
		s.copiers.Add(1)
		go s.copyOutput(r, names[i], types[i])
	}
	s.log.Info("container started", "pid", s.pid)
	return nil
}

func (s *supervisor) cgroupsPath() string {
	if s.spec.Linux == nil {
		return ""
	}
	return s.spec.Linux.CgroupsPath
}

// copyOutput copies one output stream to the log and attached clients.
func (s *supervisor) copyOutput(r *os.File, stream string, typ byte) {
	defer s.copiers.Done()
	buf := make([]byte, 32*1024)
	failing := false // report a failing log once, not per write
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if s.logw != nil {
				werr := s.logw.Write(stream, buf[:n])
				if werr != nil && !failing {
					s.log.Warn("write log; output is lost until it works again", "stream", stream, "err", werr)
				} else if werr == nil && failing {
					s.log.Info("writing the log works again", "stream", stream)
				}
				failing = werr != nil
			}
			s.out.publish(typ, buf[:n])
		}
		if err != nil { // EOF, or EIO from a pty whose slave is closed
			break
		}
	}
	if s.logw != nil {
		s.logw.EndStream(stream)
	}
}

func (s *supervisor) closeOutputs() {
	for _, f := range s.outputs {
		f.Close()
	}
}

// supervise waits for the container to exit and then records and announces
// its end (see the package doc), and stops serving.
func (s *supervisor) supervise() {
	status, werr := s.proc.Wait()
	finished := time.Now().UTC()
	s.mu.Lock()
	s.reaped = true // the pid may be reused from now on: no more signals
	s.mu.Unlock()
	if !waitTimeout(&s.copiers, drainTimeout) {
		s.log.Warn("output still open after the container exited; closing it")
		s.closeOutputs()
		s.copiers.Wait()
	}
	s.closeOutputs()
	s.out.end()
	s.closeStdin()

	s.mu.Lock()
	s.finishing = true
	s.mu.Unlock()
	if !waitTimeout(&s.sessions, sessionsTimeout) {
		s.log.Warn("exec sessions still running at exit")
	}

	e := &Exit{Code: status.Code, Signal: int(status.Signal), StartedAt: s.startedAt, FinishedAt: finished}
	if werr != nil {
		e.Code, e.Error = 125, fmt.Sprintf("wait for container: %v", werr)
	}
	if cg := s.cgroupsPath(); cg != "" {
		if n, err := s.rt.OOMKills(cg); err == nil && n > s.oomBefore {
			e.OOMKilled = true
		}
	}
	if s.logw != nil {
		if err := s.logw.Close(); err != nil {
			s.log.Warn("close log", "err", err)
		}
	}
	if err := writeExit(s.opts.ExitFile, e); err != nil {
		s.log.Error("record exit", "err", err)
	}
	s.log.Info("container exited", "code", e.Code, "signal", e.Signal, "oom", e.OOMKilled)

	s.mu.Lock()
	s.exit = e
	close(s.exited)
	s.mu.Unlock()
	// Waiters hear of the exit first; the cgroup goes right after (removing
	// it takes a few ms on cgroup v1, where it spans every controller).
	if cg := s.cgroupsPath(); cg != "" {
		if err := s.rt.RemoveCgroup(cg); err != nil {
			s.log.Warn("remove cgroup", "err", err)
		}
	}

	if unclaimed := s.out.unclaimed(); unclaimed != nil {
		t := time.NewTimer(s.linger)
		select {
		case <-unclaimed:
		case <-t.C:
			s.log.Warn("nobody attached to take the held output")
		}
		t.Stop()
	}
	// Answer the clients (waits, attaches' exit frames), then stop.
	s.ln.Close()
	if !waitTimeout(&s.serving, sessionsTimeout) {
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.serving.Wait()
	}
	if s.console != nil {
		s.console.Close()
	}
	s.removeOwnFiles()
}

// removeOwnFiles removes the socket and pid file unless a successor (a
// restart of the container) already replaced them.
func (s *supervisor) removeOwnFiles() {
	sock := filepath.Join(s.opts.StateDir, sockName)
	if st, err := os.Stat(sock); err == nil && s.sockInfo != nil && os.SameFile(st, s.sockInfo) {
		os.Remove(sock)
	}
	pidFile := filepath.Join(s.opts.StateDir, pidName)
	if b, err := os.ReadFile(pidFile); err == nil && string(b) == strconv.Itoa(os.Getpid()) {
		os.Remove(pidFile)
	}
}

// waitTimeout waits for wg up to d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// writeStdin feeds the container's stdin; without one the input is dropped.
func (s *supervisor) writeStdin(p []byte) {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin != nil {
		if _, err := s.stdin.Write(p); err != nil && !errors.Is(err, syscall.EPIPE) {
			s.log.Warn("write stdin", "err", err)
		}
	}
}

// closeStdin gives the container EOF on stdin (pipes only; a pty stays).
func (s *supervisor) closeStdin() {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
	}
}

// nopWriteCloser is the pty master as stdin: closing it would end the output.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
