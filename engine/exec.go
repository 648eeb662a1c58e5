package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/api"
	"kedge/engine/runtime"
	"kedge/engine/shim"
	"kedge/security/profile"
)

// ExecIO are the streams of an exec'd process.
type ExecIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize delivers terminal sizes for a tty exec; the first one received
	// before the start is its initial size.
	Resize <-chan api.ResizeFrame
}

// Exec runs a process in a running container, under the container's
// capabilities, seccomp, no_new_privs, rlimits and (unless overridden) user,
// and returns its exit code (0 at once when detached).
func (e *Engine) Exec(ctx context.Context, ref string, cfg *api.ExecConfig, stdio ExecIO) (int, error) {
	if len(cfg.Cmd) == 0 {
		return 0, fmt.Errorf("exec: no command given: %w", api.ErrInvalid)
	}
	c, err := e.lookup(ref)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	client, rec := c.shim, c.rec
	c.mu.Unlock()
	if client == nil || !rec.State.Running {
		return 0, fmt.Errorf("container %s is not running: %w", rec.Name, api.ErrConflict)
	}
	if rec.State.Paused {
		return 0, fmt.Errorf("container %s is paused, unpause it first: %w", rec.Name, api.ErrConflict)
	}
	proc, err := e.execProcess(&rec, cfg)
	if err != nil {
		return 0, err
	}
	opts := shim.ExecOptions{Process: proc, Tty: cfg.Tty, Stdin: stdio.Stdin, Stdout: stdio.Stdout, Stderr: stdio.Stderr, Detach: cfg.Detach}
	if cfg.Tty && stdio.Resize != nil {
		sizes := make(chan shim.WindowSize, 4)
		opts.Resize = sizes
		select { // an initial size sent with the request
		case r := <-stdio.Resize:
			opts.Size = shim.WindowSize{Width: r.Width, Height: r.Height}
		default:
		}
		fwdCtx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			for {
				select {
				case <-fwdCtx.Done():
					return
				case r, ok := <-stdio.Resize:
					if !ok {
						return
					}
					select {
					case sizes <- shim.WindowSize{Width: r.Width, Height: r.Height}:
					case <-fwdCtx.Done():
						return
					}
				}
			}
		}()
	}
	code, err := client.Exec(ctx, opts)
	switch {
	case errors.Is(err, runtime.ErrExecNotFound):
		return 127, fmt.Errorf("exec %q: %v: %w", cfg.Cmd[0], err, api.ErrCommandNotFound)
	case errors.Is(err, runtime.ErrExecPermission):
		return 126, fmt.Errorf("exec %q: %v: %w", cfg.Cmd[0], err, api.ErrCannotInvoke)
	case err != nil:
		return 0, fmt.Errorf("exec in %s: %w", rec.Name, err)
	}
	e.emit("container", "exec_start", rec.ID, map[string]string{"cmd": cfg.Cmd[0]})
	return code, nil
}

// execProcess derives the exec'd process from the container's spec.
func (e *Engine) execProcess(rec *record, cfg *api.ExecConfig) (*specs.Process, error) {
	dir := e.containerDir(rec.ID)
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read spec of %s: %w", rec.Name, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("read spec of %s: %w", rec.Name, err)
	}
	p := *spec.Process
	p.Args = cfg.Cmd
	p.Terminal = cfg.Tty
	p.Env = mergeEnv(spec.Process.Env, cfg.Env, spec.Hostname, cfg.Tty)
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.User != "" {
		rootfs := filepath.Join(dir, "rootfs")
		passwd, _ := securejoin.SecureJoin(rootfs, "/etc/passwd")
		group, _ := securejoin.SecureJoin(rootfs, "/etc/group")
		u, err := user.GetExecUserPath(cfg.User, &user.ExecUser{Home: "/"}, passwd, group)
		if err != nil {
			return nil, fmt.Errorf("user %q: %v: %w", cfg.User, err, api.ErrInvalid)
		}
		p.User = specs.User{UID: uint32(u.Uid), GID: uint32(u.Gid)}
		for _, g := range u.Sgids {
			if g != u.Gid {
				p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
			}
		}
	}
	if cfg.Privileged {
		all := e.heldCaps
		if all == nil {
			all = profile.AllCapabilities()
		}
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	return &p, nil
}
