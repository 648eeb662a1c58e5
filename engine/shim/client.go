package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// Client talks to one container's supervisor. Each call opens its own
// connection, so a Client is safe for concurrent use and many calls (attach,
// exec, wait) may run at once.
type Client struct {
	stateDir string
	pid      int
	tty      bool
	exitFile string
	running  bool // as Dial found it
}

// Dial connects to the supervisor whose state directory is stateDir, after an
// agent restart. It fails (with ErrNotRunning) when no supervisor serves there.
// A supervisor that is finishing an exited container still answers: Wait
// then returns the exit at once.
func Dial(ctx context.Context, stateDir string) (*Client, error) {
	c := &Client{stateDir: stateDir}
	resp, err := c.simple(ctx, request{Op: opState})
	if err != nil {
		return nil, err
	}
	c.pid, c.tty, c.exitFile, c.running = resp.Pid, resp.Tty, resp.ExitFile, resp.Running
	return c, nil
}

// Pid is the container's init process id on the host.
func (c *Client) Pid() int { return c.pid }

// Tty reports whether the container has a pty (output is then one stream).
func (c *Client) Tty() bool { return c.tty }

// Close releases the client; the supervisor and container keep running.
// Calls in progress are not affected (cancel their contexts to end them).
func (c *Client) Close() error { return nil }

// conn is one request's connection.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	fw   *frameWriter
	stop func() bool // ends the context watch
}

func (k *conn) close() {
	k.stop()
	k.nc.Close()
}

// call connects, sends req and reads the response line. The connection is
// closed when ctx ends. A response carrying an error is returned as that error.
func (c *Client) call(ctx context.Context, req request) (*conn, *response, error) {
	addr, dir, err := socketAddr(c.stateDir)
	if err != nil {
		return nil, nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", addr)
	dir.Close()
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("connect to supervisor in %s: %w: %w", c.stateDir, err, ErrNotRunning)
	}
	k := &conn{nc: nc, br: bufio.NewReaderSize(nc, 16*1024), fw: &frameWriter{w: nc}}
	k.stop = context.AfterFunc(ctx, func() { nc.Close() })
	var resp response
	err = writeLine(nc, req)
	if err == nil {
		err = readLine(k.br, &resp)
	}
	if err != nil {
		k.close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		// A supervisor closes connections unanswered only as it exits.
		return nil, nil, fmt.Errorf("%s request to supervisor in %s: %w: %w", req.Op, c.stateDir, err, ErrNotRunning)
	}
	if resp.Error != nil {
		k.close()
		return nil, nil, resp.Error.err()
	}
	return k, &resp, nil
}

// simple is call for requests without streams.
func (c *Client) simple(ctx context.Context, req request) (*response, error) {
	k, resp, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	k.close()
	return resp, nil
}

// Wait blocks until the container exits (or ctx ends) and returns its exit.
// Once the supervisor is gone it reads the stored exit file.
func (c *Client) Wait(ctx context.Context) (*Exit, error) {
	resp, err := c.simple(ctx, request{Op: opWait})
	if err == nil && resp.Exit != nil {
		return resp.Exit, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if c.exitFile != "" {
		// The supervisor wrote the exit file before it stopped answering.
		if e, ferr := ReadExit(c.exitFile); ferr == nil {
			return e, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("wait answered without an exit: %w", ErrProtocol)
	}
	return nil, err
}

// Signal sends sig to the container's init.
func (c *Client) Signal(ctx context.Context, sig syscall.Signal) error {
	_, err := c.simple(ctx, request{Op: opSignal, Signal: int(sig)})
	return err
}

// Resize sets the container's pty window size (ErrNoTty without a pty).
func (c *Client) Resize(ctx context.Context, width, height uint16) error {
	_, err := c.simple(ctx, request{Op: opResize, Width: width, Height: height})
	return err
}

// Attach connects streams to the container's main process until it exits or
// ctx ends; it returns nil when the container exited. Stdin is copied by a
// goroutine until it returns EOF (sent to the supervisor as a stdin close) or
// an error, or the attach ended and a write fails: a Stdin that blocks forever
// keeps that goroutine, so close it to end it.
func (c *Client) Attach(ctx context.Context, opts AttachOptions) error {
	k, _, err := c.call(ctx, request{Op: opAttach, Stdin: opts.Stdin != nil})
	if err != nil {
		return err
	}
	defer k.close()
	if opts.Stdin != nil {
		go sendStdin(k.fw, opts.Stdin)
	}
	_, err = c.readOutput(ctx, k, opts.Stdout, opts.Stderr)
	return err
}

// Exec runs a process in the container and returns its exit code (or 0 at
// once when detached). Errors starting it keep the runtime's sentinels
// (runtime.ErrExecNotFound, runtime.ErrExecPermission). Stdin is copied as
// in Attach. If ctx ends first, Exec returns and the process keeps running.
func (c *Client) Exec(ctx context.Context, opts ExecOptions) (int, error) {
	if opts.Process == nil || len(opts.Process.Args) == 0 {
		return 0, errors.New("exec: no process args")
	}
	req := request{
		Op: opExec, Process: opts.Process, Tty: opts.Tty, Detach: opts.Detach,
		Stdin: opts.Stdin != nil && !opts.Detach, Width: opts.Size.Width, Height: opts.Size.Height,
	}
	k, _, err := c.call(ctx, req)
	if err != nil {
		return 0, err
	}
	defer k.close()
	if opts.Detach {
		return 0, nil
	}
	if req.Stdin {
		go sendStdin(k.fw, opts.Stdin)
	}
	if opts.Tty && opts.Resize != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case ws, ok := <-opts.Resize:
					if !ok || k.fw.write(frameResize, resizePayload(ws)) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	e, err := c.readOutput(ctx, k, opts.Stdout, opts.Stderr)
	if err != nil {
		return 0, err
	}
	return e.Code, nil
}

// sendStdin copies r to stdin frames and then closes the stream.
func sendStdin(fw *frameWriter, r io.Reader) {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if fw.write(frameStdin, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			fw.write(frameStdinClose, nil)
			return
		}
	}
}

// readOutput copies output frames to stdout and stderr until the exit frame.
func (c *Client) readOutput(ctx context.Context, k *conn, stdout, stderr io.Writer) (*Exit, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var buf []byte
	for {
		typ, p, err := readFrame(k.br, buf)
		buf = p
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("read from supervisor in %s: %w", c.stateDir, unexpectedEOF(err))
		}
		switch typ {
		case frameStdout:
			if _, err := stdout.Write(p); err != nil {
				return nil, fmt.Errorf("write stdout: %w", err)
			}
		case frameStderr:
			if _, err := stderr.Write(p); err != nil {
				return nil, fmt.Errorf("write stderr: %w", err)
			}
		case frameExit:
			var e Exit
			if err := json.Unmarshal(p, &e); err != nil {
				return nil, fmt.Errorf("decode exit: %v: %w", err, ErrProtocol)
			}
			return &e, nil
		default:
			return nil, fmt.Errorf("frame type %d: %w", typ, ErrProtocol)
		}
	}
}
