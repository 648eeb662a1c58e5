//go:build linux

package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"kedge/engine/runtime"
)

// Start launches a detached supervisor for the container and returns once the
// container's process runs. A failure to start is returned with the runtime's
// sentinel errors intact (errors.Is(err, runtime.ErrExecNotFound)), and the
// supervisor has then exited, leaving no process or cgroup behind; its exit
// file records the failure.
//
// The supervisor is a child of the caller until the caller exits: a goroutine
// reaps it when it ends. If ctx ends before the container runs, Start returns
// ctx's error and the supervisor, finding nobody to report to, stops the
// container.
func Start(ctx context.Context, opts Options) (*Client, error) {
	return launch(ctx, opts, Command)
}

// launch is Start with the argv[1] that runs the supervisor.
func launch(ctx context.Context, opts Options, command string) (*Client, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	for _, p := range []string{opts.ExitFile, opts.LogPath} {
		if p == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, fmt.Errorf("start supervisor: %w", err)
		}
	}
	// A supervisor still finishing an exited run of the container (answering
	// clients) may stay; one whose container runs may not.
	if c, err := Dial(ctx, opts.StateDir); err == nil && c.running {
		return nil, fmt.Errorf("start container %s: a supervisor (container pid %d) already serves %s: %w",
			opts.ID, c.Pid(), opts.StateDir, ErrAlreadyRunning)
	}
	arg, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	binary := opts.Binary
	if binary == "" {
		binary = "/proc/self/exe"
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	// The supervisor's stderr is its diagnostics file too, so that a Go
	// runtime crash is recorded; stdin and stdout are /dev/null.
	diag, err := os.OpenFile(filepath.Join(opts.StateDir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	cmd := exec.Command(binary, command, string(arg))
	// The supervisor runs the kedge binary through a read-only, detached
	// mount of it, so that no process it forks into a container (an exec of
	// a `#!/proc/self/exe` script, say) can reopen the host's binary for
	// writing through /proc/PID/exe (CVE-2019-5736).
	if sealed, err := runtime.SealedBinary(binary); err == nil {
		defer sealed.Close()
		cmd.Path = fmt.Sprintf("/proc/self/fd/%d", sealed.Fd())
	}
	cmd.Stderr = diag
	cmd.ExtraFiles = []*os.File{w} // fd 3: the ready pipe
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	diag.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start supervisor for %s: %w", opts.ID, err)
	}

	type result struct {
		resp response
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		var res result
		res.err = readLine(bufio.NewReader(r), &res.resp)
		ch <- res
	}()
	var res result
	select {
	case res = <-ch:
		r.Close()
	case <-ctx.Done():
		r.Close() // the supervisor's report fails: it stops the container
		<-ch
		go cmd.Wait()
		return nil, ctx.Err()
	}
	if res.err != nil {
		cmd.Wait()
		return nil, fmt.Errorf("supervisor for %s exited before the container ran: %w (%s)",
			opts.ID, res.err, lastLogLine(opts.StateDir))
	}
	if res.resp.Error != nil {
		cmd.Wait() // it exits right after reporting
		return nil, fmt.Errorf("start container %s: %w", opts.ID, res.resp.Error.err())
	}
	go cmd.Wait() // reap the supervisor when it ends
	return &Client{stateDir: opts.StateDir, pid: res.resp.Pid, tty: opts.Tty, exitFile: opts.ExitFile}, nil
}

// normalize checks the required options and makes paths absolute (the
// supervisor's working directory is not the caller's concern).
func (o *Options) normalize() error {
	if o.ID == "" || o.BundleDir == "" || o.StateDir == "" || o.ExitFile == "" {
		return errors.New("shim options need ID, BundleDir, StateDir and ExitFile")
	}
	for _, p := range []*string{&o.BundleDir, &o.StateDir, &o.ExitFile, &o.LogPath, &o.Binary} {
		if *p == "" || filepath.IsAbs(*p) || (p == &o.Binary && !strings.Contains(*p, "/")) {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	return nil
}

// lastLogLine is the supervisor's last diagnostic, for errors.
func lastLogLine(stateDir string) string {
	b, err := os.ReadFile(filepath.Join(stateDir, logName))
	if err != nil {
		return "no supervisor log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
