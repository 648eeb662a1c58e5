package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"kedge/api"
	"kedge/engine/runtime"
	"kedge/engine/shim"
)

// loadAndAdopt reads the container records and reconnects to the supervisors
// of containers that kept running while the agent was away. Containers that
// ended meanwhile get the exit status their supervisor recorded; after a host
// reboot (a new boot id) stale state is cleaned and restart policies apply.
func (e *Engine) loadAndAdopt(ctx context.Context) error {
	var recs []record
	err := e.db.ForEach(bucketContainers, func(key string, raw []byte) error {
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			e.log.Error("skip unreadable container record", "container", key, "err", err)
			return nil
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load containers: %w", err)
	}
	boot := bootID()
	var restart []*container
	for _, r := range recs {
		c := &container{rec: r, exited: closedChan(), gone: make(chan struct{})}
		e.containers[r.ID] = c
		if !r.State.Running && r.State.Status != api.StateRestarting {
			// Docker's difference between always and unless-stopped: an
			// `always` container stopped by hand starts again with the agent.
			if r.Config.RestartPolicy.Name == "always" && r.ManuallyStopped && !r.Config.AutoRemove {
				c.rec.ManuallyStopped = false
				restart = append(restart, c)
			}
			continue
		}
		if r.State.Running && r.BootID == boot {
			if client, err := shim.Dial(ctx, e.stateDir(r.ID)); err == nil {
				exited := make(chan struct{})
				c.shim, c.exited = client, exited
				c.rec.State.Pid = client.Pid()
				e.log.Info("adopted running container", "container", r.ID[:12], "name", r.Name)
				e.monitor(c, client, exited)
				continue
			}
		}
		// The container is not running any more: find out how it ended.
		exit, err := shim.ReadExit(filepath.Join(e.containerDir(r.ID), "exit.json"))
		if err != nil || r.BootID != boot {
			exit = &shim.Exit{Code: 255, FinishedAt: time.Now().UTC(), Error: "the host restarted or the supervisor was lost"}
		}
		e.cleanupStale(&c.rec)
		startedAt := c.rec.State.StartedAt
		c.rec.State = api.ContainerState{Status: api.StateExited, ExitCode: exit.Code, OOMKilled: exit.OOMKilled, Error: exit.Error, StartedAt: startedAt, FinishedAt: exit.FinishedAt}
		e.persist(c)
		if c.rec.Config.AutoRemove {
			continue
		}
		if e.shouldRestart(&c.rec) || (r.State.Status == api.StateRestarting && !r.ManuallyStopped) {
			restart = append(restart, c)
		}
	}
	e.collectNetworkGarbage(ctx)
	for _, c := range restart {
		e.scheduleRestart(c, 0)
	}
	// --rm containers that ended while the agent was away are removed now.
	for _, r := range recs {
		c := e.containers[r.ID]
		if c != nil && c.rec.Config.AutoRemove && !c.rec.State.Running {
			id := r.ID
			e.goOwned(func(ctx context.Context) { _ = e.Remove(ctx, id, true, true) })
		}
	}
	return nil
}

// cleanupStale removes what a run that ended without the agent left: the
// rootfs mount, the cgroup and the supervisor's state dir.
func (e *Engine) cleanupStale(r *record) {
	_ = unmountRootfs(filepath.Join(e.containerDir(r.ID), "rootfs"))
	_ = runtime.RemoveCgroup(e.cgroupParent() + "/" + r.ID)
	os.RemoveAll(e.stateDir(r.ID))
}

// collectNetworkGarbage releases the addresses, veths and port rules of
// bridge attachments whose container no longer runs (an agent killed
// mid-teardown, a reboot), keeping those of adopted running containers.
func (e *Engine) collectNetworkGarbage(ctx context.Context) {
	if _, err := os.Stat(filepath.Join(e.opts.DataDir, "net")); err != nil {
		return // no CNI network was ever used
	}
	valid := map[string][]string{}
	for id, c := range e.containers {
		mode := c.rec.Config.NetworkMode
		if !e.onCNINetwork(mode) {
			continue
		}
		if c.rec.State.Running {
			valid[mode] = append(valid[mode], id)
			if un, ok := e.userNetwork(mode); ok {
				un.register(&c.rec)
				un.ensureDNS(e)
			}
		} else {
			_ = removeNetNS(e.netnsPath(id))
			c.rec.Network = nil
		}
	}
	e.podMu.Lock()
	for id, p := range e.pods {
		if e.onCNINetwork(p.Config.NetworkMode) {
			valid[p.Config.NetworkMode] = append(valid[p.Config.NetworkMode], id)
			if un, ok := e.userNetwork(p.Config.NetworkMode); ok && p.Network != nil {
				un.register(&record{ID: p.ID, Name: p.Name, Config: *podNetConfig(&p.Config), Network: p.Network})
				un.ensureDNS(e)
			}
		}
	}
	e.podMu.Unlock()
	modes := []string{"bridge"}
	e.netMu.Lock()
	for name := range e.userNets {
		modes = append(modes, name)
	}
	e.netMu.Unlock()
	for _, mode := range modes {
		n, _, err := e.networkOf(mode)
		if err != nil {
			continue
		}
		if err := n.GC(ctx, valid[mode]); err != nil {
			e.log.Warn("collect network garbage", "network", mode, "err", err)
		}
	}
}
