package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"kedge/api"
	"kedge/engine/runtime"
)

// running returns the container's supervisor connection and exit channel when
// it runs.
func (c *container) running() (exited chan struct{}, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exited, c.rec.State.Running && c.shim != nil
}

// Stop sends the container's stop signal and, after timeout (nil: the
// container's --stop-timeout, else 10 s), SIGKILL. Stopping a stopped
// container is a no-op.
func (e *Engine) Stop(ctx context.Context, ref string, timeout *int) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	return e.stopLocked(ctx, c, timeout)
}

func (e *Engine) stopLocked(ctx context.Context, c *container, timeout *int) error {
	c.mu.Lock()
	c.rec.ManuallyStopped = true
	if c.rec.State.Status == api.StateRestarting {
		c.rec.State.Status = api.StateExited
	}
	rec := c.rec
	c.mu.Unlock()
	e.persist(c)
	exited, ok := c.running()
	if !ok {
		return nil
	}
	grace := 10 * time.Second
	if rec.Config.StopTimeout != nil {
		grace = time.Duration(*rec.Config.StopTimeout) * time.Second
	}
	if timeout != nil {
		grace = time.Duration(*timeout) * time.Second
	}
	sig, err := parseSignal(rec.StopSignal)
	if err != nil {
		sig = syscall.SIGTERM
	}
	if rec.State.Paused {
		// A frozen process cannot handle its stop signal.
		_ = runtime.Freeze(e.cgroupParent()+"/"+rec.ID, false)
	}
	if grace > 0 {
		if err := e.signal(ctx, c, sig); err != nil {
			return err
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exited:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := e.signal(ctx, c, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) signal(ctx context.Context, c *container, sig syscall.Signal) error {
	c.mu.Lock()
	client := c.shim
	c.mu.Unlock()
	if client == nil {
		return nil
	}
	if err := client.Signal(ctx, sig); err != nil {
		return fmt.Errorf("signal %s: %w", c.snapshot().Name, err)
	}
	return nil
}

// Kill sends a signal (default SIGKILL) to a running container.
func (e *Engine) Kill(ctx context.Context, ref, signal string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	if signal == "" {
		signal = "SIGKILL"
	}
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	if _, ok := c.running(); !ok {
		return fmt.Errorf("container %s is not running: %w", c.snapshot().Name, api.ErrConflict)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM || sig == syscall.SIGINT {
		c.mu.Lock()
		c.rec.ManuallyStopped = true
		c.mu.Unlock()
		e.persist(c)
	}
	e.emit("container", "kill", c.snapshot().ID, map[string]string{"signal": signal})
	return e.signal(ctx, c, sig)
}

// Restart stops (if running) and starts a container.
func (e *Engine) Restart(ctx context.Context, ref string, timeout *int) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if err := e.stopLocked(ctx, c, timeout); err != nil {
		return err
	}
	return e.startLocked(ctx, c)
}

// Pause freezes (or, with pause false, thaws) every process of a container.
func (e *Engine) Pause(ctx context.Context, ref string, pause bool) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	rec := c.snapshot()
	if !rec.State.Running {
		return fmt.Errorf("container %s is not running: %w", rec.Name, api.ErrConflict)
	}
	if rec.State.Paused == pause {
		state := "not paused"
		if pause {
			state = "already paused"
		}
		return fmt.Errorf("container %s is %s: %w", rec.Name, state, api.ErrConflict)
	}
	if err := runtime.Freeze(e.cgroupParent()+"/"+rec.ID, pause); err != nil {
		return fmt.Errorf("pause %s: %w", rec.Name, err)
	}
	c.mu.Lock()
	c.rec.State.Paused = pause
	c.rec.State.Status = api.StateRunning
	action := "unpause"
	if pause {
		c.rec.State.Status = api.StatePaused
		action = "pause"
	}
	c.mu.Unlock()
	e.persist(c)
	e.emit("container", action, rec.ID, map[string]string{"name": rec.Name})
	return nil
}

// Remove deletes a container and its read-write layer; force kills it first
// when it runs; volumes also removes its anonymous volumes.
func (e *Engine) Remove(ctx context.Context, ref string, force, volumes bool) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if c.removed {
		return fmt.Errorf("container %s: %w", ref, api.ErrNotFound)
	}
	rec := c.snapshot()
	if _, running := c.running(); running {
		if !force {
			return fmt.Errorf("cannot remove running container %s: stop it first or use --force: %w", rec.Name, api.ErrConflict)
		}
		zero := 0
		if err := e.stopLocked(ctx, c, &zero); err != nil {
			return fmt.Errorf("remove %s: kill: %w", rec.Name, err)
		}
	}
	c.mu.Lock()
	c.removed = true
	c.mu.Unlock()
	defer close(c.gone)
	dir := e.containerDir(rec.ID)
	if err := unmountRootfs(filepath.Join(dir, "rootfs")); err != nil {
		return err
	}
	_ = runtime.RemoveCgroup(e.cgroupParent() + "/" + rec.ID)
	if e.onCNINetwork(rec.Config.NetworkMode) {
		if err := e.detachBridge(ctx, rec.ID, rec.Config.NetworkMode); err != nil {
			e.log.Warn("detach from the bridge network", "container", rec.ID[:12], "err", err)
		}
	}
	if err := e.db.Delete(bucketContainers, rec.ID); err != nil {
		return fmt.Errorf("remove %s: %w", rec.Name, err)
	}
	e.mu.Lock()
	delete(e.containers, rec.ID)
	e.mu.Unlock()
	os.RemoveAll(e.stateDir(rec.ID))
	if err := os.RemoveAll(dir); err != nil {
		e.log.Warn("remove container dir", "container", rec.ID[:12], "err", err)
	}
	if volumes {
		for _, v := range rec.AnonymousVolumes {
			if !e.volumeInUse(v) {
				_ = e.volumes.Remove(v)
			}
		}
	}
	e.emit("container", "destroy", rec.ID, map[string]string{"name": rec.Name})
	return nil
}

// Wait blocks until the container is not running and returns its exit code.
// For a container with a restart policy it returns at the end of the current run.
func (e *Engine) Wait(ctx context.Context, ref string) (*api.WaitResponse, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	exited := c.exited
	c.mu.Unlock()
	select {
	case <-exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := c.snapshot()
	return &api.WaitResponse{StatusCode: r.State.ExitCode, Error: r.State.Error}, nil
}

// volumeInUse reports whether any container mounts the volume.
func (e *Engine) volumeInUse(name string) bool {
	return len(e.volumeUsers(name)) > 0
}

func (e *Engine) volumeUsers(name string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for id, c := range e.containers {
		for _, m := range c.rec.Config.Mounts {
			if m.Type == "volume" && m.Source == name {
				ids = append(ids, id)
				break
			}
		}
	}
	return ids
}
