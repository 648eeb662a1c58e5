//go:build linux

package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// connBuffer is the read buffer of a connection: small, as wait and attach
// connections live as long as the container.
const connBuffer = 4 * 1024

// requestTimeout bounds the wait for a connection's request line.
const requestTimeout = 10 * time.Second

// acceptLoop serves connections until the listener is closed; other accept
// errors (out of descriptors) are retried with a backoff.
func (s *supervisor) acceptLoop() {
	backoff := time.Duration(0)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("accept", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.serving.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve handles one connection: one request, then its streams.
func (s *supervisor) serve(c net.Conn) {
	defer func() {
		// A bug in one request must not take the container's supervisor down.
		if r := recover(); r != nil {
			s.log.Error("panic serving a request", "panic", r, "stack", string(debug.Stack()))
		}
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.serving.Done()
	}()
	br := bufio.NewReaderSize(c, connBuffer)
	var req request
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	if err := readLine(br, &req); err != nil {
		s.log.Debug("bad request", "err", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	switch req.Op {
	case opState:
		writeLine(c, s.state())
	case opWait:
		s.wait(c, br)
	case opSignal:
		writeLine(c, response{Error: toWire(s.signal(syscall.Signal(req.Signal)))})
	case opResize:
		writeLine(c, response{Error: toWire(s.resize(WindowSize{Width: req.Width, Height: req.Height}))})
	case opAttach:
		s.attach(c, br, req)
	case opExec:
		s.exec(c, br, req)
	default:
		writeLine(c, response{Error: toWire(fmt.Errorf("unknown operation %q: %w", req.Op, ErrProtocol))})
	}
}

// exitState returns the exit once the container has exited.
func (s *supervisor) exitState() *Exit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exit
}

func (s *supervisor) state() response {
	e := s.exitState()
	return response{Pid: s.pid, Running: e == nil, Tty: s.opts.Tty, ExitFile: s.opts.ExitFile, Exit: e}
}

// wait answers when the container has exited, or gives up when the client
// goes away first.
func (s *supervisor) wait(c net.Conn, br *bufio.Reader) {
	gone := make(chan struct{})
	go func() { // ends when the connection is closed (by serve at the latest)
		br.ReadByte()
		close(gone)
	}()
	select {
	case <-s.exited:
		writeLine(c, response{Pid: s.pid, Exit: s.exitState()})
	case <-gone:
	}
}

// signal sends sig to the init unless it was reaped: its pid may then be
// reused. (Between the reaping and the flag being set is a window of
// microseconds, not the seconds the shutdown takes.)
func (s *supervisor) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reaped {
		return ErrNotRunning
	}
	if err := unix.Kill(s.pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("signal %d to pid %d: %w", sig, s.pid, err)
	}
	return nil
}

func (s *supervisor) resize(ws WindowSize) error {
	if s.console == nil {
		return ErrNoTty
	}
	if err := pty.Setsize(s.console, &pty.Winsize{Rows: ws.Height, Cols: ws.Width}); err != nil {
		return fmt.Errorf("resize pty: %w", err)
	}
	return nil
}

// attach streams the container's output to the client and its stdin frames
// to the container, until the output ends; then it sends the exit.
func (s *supervisor) attach(c net.Conn, br *bufio.Reader, req request) {
	sub := s.out.subscribe()
	defer s.out.unsubscribe(sub)
	if writeLine(c, response{Pid: s.pid, Tty: s.opts.Tty}) != nil {
		return
	}
	fw := &frameWriter{w: c}
	stdinOnce := req.Stdin && s.opts.StdinOnce && !s.opts.Tty
	go func() { // ends when the connection is closed (by serve at the latest)
		defer s.out.unsubscribe(sub) // the client went away: stop its output
		var buf []byte
		for {
			typ, p, err := readFrame(br, buf)
			buf = p
			if err != nil {
				if stdinOnce { // the client went away: as if it closed stdin
					s.closeStdin()
				}
				return
			}
			switch typ {
			case frameStdin:
				if req.Stdin {
					s.writeStdin(p)
				}
			case frameStdinClose:
				if stdinOnce {
					s.closeStdin()
				}
			case frameResize:
				if ws, ok := parseResize(p); ok {
					s.resize(ws)
				}
			}
		}
	}()
	for _, ch := range sub.pre {
		if fw.write(ch.typ, ch.data) != nil {
			return
		}
	}
	sub.pre = nil
	for ch := range sub.ch {
		if fw.write(ch.typ, ch.data) != nil {
			return
		}
	}
	if s.out.wasDropped(sub) {
		s.log.Debug("attached client dropped (gone or too slow)")
		return
	}
	<-s.exited
	b, _ := json.Marshal(s.exitState())
	fw.write(frameExit, b)
}
