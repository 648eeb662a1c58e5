//go:build linux

package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/creack/pty"

	"kedge/engine/runtime"
)

// execIO is the supervisor's side of an exec'd process's stdio.
type execIO struct {
	child   runtime.Stdio
	ends    []*os.File // child ends, closed once the process has them
	outputs []*os.File // stdout, stderr read ends (or the pty master)
	stdin   *os.File   // stdin write end (or the pty master); nil: none
	console *os.File   // pty master
}

func (x *execIO) closeChildEnds() {
	for _, f := range x.ends {
		f.Close()
	}
	x.ends = nil
}

func (x *execIO) closeAll() {
	x.closeChildEnds()
	for _, f := range x.outputs {
		f.Close()
	}
	if x.stdin != nil {
		x.stdin.Close()
	}
}

func newExecIO(req request) (*execIO, error) {
	x := &execIO{}
	switch {
	case req.Detach:
		// /dev/null all round; Docker discards a detached exec's output.
	case req.Tty:
		master, slave, err := pty.Open()
		if err != nil {
			return nil, fmt.Errorf("open pty: %w", err)
		}
		if req.Width > 0 && req.Height > 0 {
			pty.Setsize(master, &pty.Winsize{Rows: req.Height, Cols: req.Width})
		}
		x.child.Console, x.ends = slave, []*os.File{slave}
		x.console, x.outputs = master, []*os.File{master}
		if req.Stdin {
			x.stdin = master
		}
	default:
		for _, dst := range []**os.File{&x.child.Stdout, &x.child.Stderr} {
			r, w, err := os.Pipe()
			if err != nil {
				x.closeAll()
				return nil, fmt.Errorf("make exec pipes: %w", err)
			}
			x.outputs, x.ends, *dst = append(x.outputs, r), append(x.ends, w), w
		}
		if req.Stdin {
			r, w, err := os.Pipe()
			if err != nil {
				x.closeAll()
				return nil, fmt.Errorf("make exec stdin: %w", err)
			}
			x.stdin, x.child.Stdin, x.ends = w, r, append(x.ends, r)
		}
	}
	return x, nil
}

// exec runs a process in the container and streams its stdio over c until it
// exits; then it sends the exit code. A client that goes away does not stop
// the process: its output is then discarded until it exits.
func (s *supervisor) exec(c net.Conn, br *bufio.Reader, req request) {
	s.mu.Lock()
	if s.finishing || s.exit != nil {
		s.mu.Unlock()
		writeLine(c, response{Error: toWire(ErrNotRunning)})
		return
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	defer s.sessions.Done()
	defer s.requestTrim()
	if req.Process == nil || len(req.Process.Args) == 0 {
		writeLine(c, response{Error: toWire(errors.New("exec: no process args"))})
		return
	}
	x, err := newExecIO(req)
	if err != nil {
		writeLine(c, response{Error: toWire(err)})
		return
	}
	proc, err := s.rt.Exec(context.Background(), s.cfg, s.pid, req.Process, x.child)
	x.closeChildEnds()
	if err != nil {
		x.closeAll()
		writeLine(c, response{Error: toWire(err)})
		return
	}
	log := s.log.With("exec", proc.PID())
	writeLine(c, response{Pid: proc.PID(), Tty: req.Tty})
	if req.Detach {
		c.Close()
		st, err := proc.Wait()
		log.Info("detached exec exited", "code", st.Code, "err", err)
		return
	}

	fw := &frameWriter{w: c}
	var copiers sync.WaitGroup
	types := []byte{frameStdout, frameStderr}
	for i, r := range x.outputs {
		copiers.Add(1)
		go func() {
			defer copiers.Done()
			copyFrames(fw, types[i], r)
		}()
	}
	go func() { // ends when the connection is closed (below, or by serve)
		var buf []byte
		for {
			typ, p, err := readFrame(br, buf)
			buf = p
			if err != nil {
				return
			}
			switch typ {
			case frameStdin:
				if x.stdin != nil {
					x.stdin.Write(p)
				}
			case frameStdinClose:
				if x.stdin != nil && x.console == nil {
					x.stdin.Close()
				}
			case frameResize:
				if ws, ok := parseResize(p); ok && x.console != nil {
					pty.Setsize(x.console, &pty.Winsize{Rows: ws.Height, Cols: ws.Width})
				}
			}
		}
	}()
	st, werr := proc.Wait()
	if !waitTimeout(&copiers, drainTimeout) {
		log.Warn("exec output still open after it exited; closing it")
	}
	x.closeAll()
	copiers.Wait()
	e := Exit{Code: st.Code, Signal: int(st.Signal)}
	if werr != nil {
		e.Code, e.Error = 125, fmt.Sprintf("wait for exec: %v", werr)
	}
	b, _ := json.Marshal(e)
	fw.write(frameExit, b)
	c.Close()
}

// copyFrames sends r's data as frames of typ until r ends; after the client
// is gone it keeps reading (and discarding) so the process never blocks.
func copyFrames(fw *frameWriter, typ byte, r io.Reader) {
	buf := make([]byte, 32*1024)
	alive := true
	for {
		n, err := r.Read(buf)
		if n > 0 && alive {
			alive = fw.write(typ, buf[:n]) == nil
		}
		if err != nil {
			return
		}
	}
}
