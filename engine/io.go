package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"kedge/api"
	"kedge/engine/logs"
	kruntime "kedge/engine/runtime"
	"kedge/engine/shim"
)

// Logs calls fn for the container's log lines selected by opts; with Follow
// it keeps going until the container exits or ctx ends.
func (e *Engine) Logs(ctx context.Context, ref string, opts api.LogsOptions, fn func(api.LogEntry) error) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	exited, id := c.exited, c.rec.ID
	c.mu.Unlock()
	ro := logs.ReadOptions{Tail: opts.Tail, Since: opts.Since, Until: opts.Until, Follow: opts.Follow, Done: exited}
	err = logs.Read(ctx, e.logPath(id), ro, func(en logs.Entry) error {
		return fn(api.LogEntry{Log: en.Log, Stream: en.Stream, Time: en.Time})
	})
	if err != nil && os.IsNotExist(err) {
		return nil // never started: no log yet
	}
	return err
}

// AttachIO are the streams of an attach.
type AttachIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize receives terminal size changes.
	Resize <-chan api.ResizeFrame
}

// startedRun is a run of a container as an attach needs it.
type startedRun struct {
	client *shim.Client
	exited chan struct{}
}

// pendingAttach is an attach made before the container started (the `run`
// flow: create, attach, start); the start hands it the new run.
type pendingAttach struct {
	ready chan startedRun // receives the run, or is closed when the start fails
	stdin bool
}

// Attachment is an attach prepared by PrepareAttach.
type Attachment struct {
	c       *container
	run     startedRun
	pending *pendingAttach
}

// PrepareAttach binds an attach to a container: to its current run when it
// runs, else to its next start, which then keeps the container's first
// output for this attach. Call it before telling the client to go on, so
// that a start racing the attach loses nothing.
func (e *Engine) PrepareAttach(ref string, stdin bool) (*Attachment, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := &Attachment{c: c}
	if c.shim != nil && c.rec.State.Running {
		a.run = startedRun{client: c.shim, exited: c.exited}
		return a, nil
	}
	if c.pending == nil {
		c.pending = &pendingAttach{ready: make(chan startedRun, 1), stdin: stdin}
	}
	a.pending = c.pending
	return a, nil
}

// Attach connects streams to the container's main process until it exits or
// ctx ends, and then reports how the run ended (even when the container was
// auto-removed meanwhile).
func (a *Attachment) Attach(ctx context.Context, aio AttachIO) (*api.WaitResponse, error) {
	if a.pending != nil {
		select {
		case run, ok := <-a.pending.ready:
			if !ok {
				r := a.c.snapshot() // the start failed: report how
				return &api.WaitResponse{StatusCode: r.State.ExitCode, Error: r.State.Error}, nil
			}
			a.run = run
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	client, exited := a.run.client, a.run.exited
	if aio.Resize != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-exited:
					return
				case r, ok := <-aio.Resize:
					if !ok {
						return
					}
					_ = client.Resize(ctx, r.Width, r.Height)
				}
			}
		}()
	}
	err := client.Attach(ctx, shim.AttachOptions{Stdin: aio.Stdin, Stdout: aio.Stdout, Stderr: aio.Stderr})
	if err != nil && ctx.Err() == nil {
		// The run may have ended (and its supervisor gone) just before the
		// attach reached it: that is an attach to an exited container.
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-exited:
			err = nil
		case <-t.C:
		case <-ctx.Done():
		}
	}
	if err != nil {
		return nil, err
	}
	select {
	case <-exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := a.c.snapshot()
	if r.Config.AutoRemove {
		// `run --rm` returns once the container is gone, as Docker's does.
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		select {
		case <-a.c.gone:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return &api.WaitResponse{StatusCode: r.State.ExitCode, Error: r.State.Error}, nil
}

// Resize sets a running container's terminal size.
func (e *Engine) Resize(ctx context.Context, ref string, width, height uint16) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	client := c.shim
	c.mu.Unlock()
	if client == nil {
		return fmt.Errorf("container is not running: %w", api.ErrConflict)
	}
	return client.Resize(ctx, width, height)
}

// Stats reads a running container's resource use.
func (e *Engine) Stats(ref string) (*api.Stats, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	rec := c.snapshot()
	if !rec.State.Running {
		return &api.Stats{ID: rec.ID, Name: rec.Name, Time: time.Now().UTC(), OnlineCPUs: runtime.NumCPU()}, nil
	}
	s, err := kruntime.ReadStats(e.cgroupParent() + "/" + rec.ID)
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %w", rec.Name, err)
	}
	if host := hostMemory(); host > 0 && (s.MemoryLimit == 0 || s.MemoryLimit > host) {
		s.MemoryLimit = host // no limit: the host's memory bounds it
	}
	return &api.Stats{
		ID: rec.ID, Name: rec.Name, Time: s.Time, CPUUsageNanos: s.CPUUsageNanos, OnlineCPUs: runtime.NumCPU(),
		MemoryUsage: s.MemoryUsage - min(s.MemoryCache, s.MemoryUsage), MemoryLimit: s.MemoryLimit, PidsCurrent: s.PidsCurrent,
		BlockRead: s.BlockReadBytes, BlockWrite: s.BlockWriteByes,
	}, nil
}

// Top lists a running container's processes (host view, like `docker top`).
func (e *Engine) Top(ref string) (*api.Top, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	rec := c.snapshot()
	if !rec.State.Running {
		return nil, fmt.Errorf("container %s is not running: %w", rec.Name, api.ErrConflict)
	}
	pids, err := kruntime.CgroupPids(e.cgroupParent() + "/" + rec.ID)
	if err != nil {
		return nil, fmt.Errorf("top of %s: %w", rec.Name, err)
	}
	top := &api.Top{Titles: []string{"UID", "PID", "PPID", "STAT", "CMD"}}
	for _, pid := range pids {
		top.Processes = append(top.Processes, procRow(pid))
	}
	return top, nil
}

// procRow reads one process's row from /proc.
func procRow(pid int) []string {
	p := strconv.Itoa(pid)
	row := []string{"?", p, "?", "?", "?"}
	if f, err := os.Open("/proc/" + p + "/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			v = strings.TrimSpace(v)
			switch k {
			case "Uid":
				row[0] = strings.Fields(v)[0]
			case "PPid":
				row[2] = v
			case "State":
				row[3] = strings.Fields(v)[0]
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/" + p + "/cmdline"); err == nil && len(b) > 0 {
		row[4] = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	return row
}
