package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"kedge/api"
	"kedge/engine/runtime"
	"kedge/engine/shim"
)

// monitor waits, in a goroutine owned by the engine, for the container's run
// to end, then records the exit and applies its restart policy.
func (e *Engine) monitor(c *container, client *shim.Client, exited chan struct{}) {
	if hc := c.snapshot().Healthcheck; hc != nil {
		ctx, cancel := context.WithCancel(e.ctx)
		c.mu.Lock()
		c.stopHealth = cancel
		c.mu.Unlock()
		e.goOwned(func(context.Context) { e.runHealthchecks(ctx, c, client, *hc) })
	}
	e.goOwned(func(ctx context.Context) {
		exit, err := client.Wait(ctx)
		if ctx.Err() != nil {
			return // the agent is stopping; the container keeps running
		}
		lost := err != nil
		if err != nil {
			// The supervisor is gone without telling us: use its exit file if it wrote one.
			if exit, err = shim.ReadExit(filepath.Join(e.containerDir(c.snapshot().ID), "exit.json")); err != nil {
				exit = &shim.Exit{Code: 255, FinishedAt: time.Now().UTC(), Error: "supervisor lost: " + err.Error()}
			}
		}
		e.handleExit(c, exit, exited, lost)
	})
}

// handleExit records how a run ended, tidies up, and restarts or removes the
// container as its configuration says.
func (e *Engine) handleExit(c *container, exit *shim.Exit, exited chan struct{}, lost bool) {
	c.mu.Lock()
	if c.stopHealth != nil {
		c.stopHealth()
		c.stopHealth = nil
	}
	if c.shim != nil {
		c.shim.Close()
		c.shim = nil
	}
	startedAt := c.rec.State.StartedAt
	health := c.rec.State.Health
	if health != nil {
		health.Status = "unhealthy"
	}
	c.rec.State = api.ContainerState{
		Status: api.StateExited, ExitCode: exit.Code, OOMKilled: exit.OOMKilled, Error: exit.Error,
		StartedAt: startedAt, FinishedAt: exit.FinishedAt, Health: health,
	}
	onBridge := c.rec.Network != nil && !strings.HasPrefix(c.rec.Config.NetworkMode, "pod:") // a pod keeps its own
	c.rec.Network = nil
	if c.rec.State.FinishedAt.IsZero() {
		c.rec.State.FinishedAt = time.Now().UTC()
	}
	rec := c.rec
	c.mu.Unlock()
	dir := e.containerDir(rec.ID)
	if err := unmountRootfs(filepath.Join(dir, "rootfs")); err != nil {
		e.log.Warn("unmount rootfs", "container", rec.ID[:12], "err", err)
	}
	if lost {
		// The supervisor, which removes the cgroup, is gone.
		if err := runtime.RemoveCgroup(e.cgroupParent() + "/" + rec.ID); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.log.Debug("remove cgroup", "container", rec.ID[:12], "err", err)
		}
	}
	os.RemoveAll(e.stateDir(rec.ID))
	if onBridge {
		// The address and ports go with the run (a restart gets them anew).
		if err := e.detachBridge(e.ctx, rec.ID, rec.Config.NetworkMode); err != nil {
			e.log.Warn("detach from the bridge network", "container", rec.ID[:12], "err", err)
		}
	}
	e.persist(c)
	attrs := map[string]string{"name": rec.Name, "exitCode": strconv.Itoa(exit.Code)}
	if exit.OOMKilled {
		e.emit("container", "oom", rec.ID, map[string]string{"name": rec.Name})
	}
	e.emit("container", "die", rec.ID, attrs)
	close(exited)

	if rec.Config.AutoRemove {
		e.goOwned(func(ctx context.Context) {
			if err := e.Remove(ctx, rec.ID, true, true); err != nil && !errors.Is(err, api.ErrNotFound) {
				e.log.Warn("auto-remove", "container", rec.ID[:12], "err", err)
			}
		})
		return
	}
	if e.shouldRestart(&rec) {
		e.scheduleRestart(c, rec.State.FinishedAt.Sub(startedAt))
	}
}

// shouldRestart applies the restart policy to a run that just ended.
func (e *Engine) shouldRestart(rec *record) bool {
	if rec.ManuallyStopped {
		return false
	}
	p := rec.Config.RestartPolicy
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return rec.State.ExitCode != 0 && (p.MaximumRetryCount == 0 || rec.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// scheduleRestart restarts the container after a backoff that doubles with
// each quick failure (100 ms up to a minute) and resets after a run of 10 s.
func (e *Engine) scheduleRestart(c *container, ran time.Duration) {
	c.mu.Lock()
	if ran > 10*time.Second {
		c.rec.RestartCount = 0
	}
	n := c.rec.RestartCount
	c.rec.RestartCount++
	c.rec.State.Status = api.StateRestarting
	c.mu.Unlock()
	e.persist(c)
	delay := 100 * time.Millisecond
	for i := 0; i < n && delay < time.Minute; i++ {
		delay *= 2
	}
	if delay > time.Minute {
		delay = time.Minute
	}
	e.goOwned(func(ctx context.Context) {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.op.Lock()
		defer c.op.Unlock()
		r := c.snapshot()
		if c.removed || r.ManuallyStopped || r.State.Running || r.State.Status != api.StateRestarting {
			return
		}
		if err := e.startLocked(ctx, c); err != nil {
			e.log.Warn("restart", "container", r.ID[:12], "err", err)
			if e.shouldRestart(&r) {
				e.scheduleRestart(c, 0)
			}
		}
	})
}
