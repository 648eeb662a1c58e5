package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kedge/api"
	"kedge/engine/image"
	"kedge/engine/shim"
)

// Docker's health check defaults.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	healthLogKeep         = 5
	healthOutputMax       = 4096
)

// resolveHealthcheck overlays the container's health check on the image's
// (fields the container leaves zero come from the image), fills Docker's
// defaults, and returns nil for none.
func resolveHealthcheck(user, img *api.HealthConfig) *api.HealthConfig {
	var hc api.HealthConfig
	if img != nil {
		hc = *img
	}
	if user != nil {
		if len(user.Test) > 0 {
			hc.Test = user.Test
		}
		if user.Interval != 0 {
			hc.Interval = user.Interval
		}
		if user.Timeout != 0 {
			hc.Timeout = user.Timeout
		}
		if user.StartPeriod != 0 {
			hc.StartPeriod = user.StartPeriod
		}
		if user.Retries != 0 {
			hc.Retries = user.Retries
		}
	}
	if len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil
	}
	if hc.Interval <= 0 {
		hc.Interval = defaultHealthInterval
	}
	if hc.Timeout <= 0 {
		hc.Timeout = defaultHealthTimeout
	}
	if hc.Retries <= 0 {
		hc.Retries = defaultHealthRetries
	}
	return &hc
}

// healthcheckOf reads the HEALTHCHECK of an image's Docker config, which the
// OCI config type does not carry.
func (e *Engine) healthcheckOf(img *image.Image) *api.HealthConfig {
	raw, err := os.ReadFile(filepath.Join(e.images.Root(), "blobs", "sha256", strings.TrimPrefix(img.ID, "sha256:")))
	if err != nil {
		return nil
	}
	return imageHealthcheck(raw)
}

// healthCommand turns a health check's Test into the command to exec.
func healthCommand(test []string) []string {
	switch test[0] {
	case "CMD":
		return test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", test[1]}
	}
	return test
}

// runHealthchecks probes the container every interval until ctx ends,
// recording results and the healthy/unhealthy status as Docker does.
func (e *Engine) runHealthchecks(ctx context.Context, c *container, client *shim.Client, hc api.HealthConfig) {
	cmd := healthCommand(hc.Test)
	started := time.Now()
	t := time.NewTicker(hc.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rec := c.snapshot()
		proc, err := e.execProcess(&rec, &api.ExecConfig{Cmd: cmd})
		if err != nil {
			continue
		}
		var out bytes.Buffer
		res := api.HealthResult{Start: time.Now().UTC()}
		pctx, cancel := context.WithTimeout(ctx, hc.Timeout)
		code, err := client.Exec(pctx, shim.ExecOptions{Process: proc, Stdout: &out, Stderr: &out})
		cancel()
		if ctx.Err() != nil {
			return
		}
		res.End, res.ExitCode = time.Now().UTC(), code
		if err != nil {
			res.ExitCode = -1
			out.WriteString(err.Error())
		}
		res.Output = string(out.Bytes()[:min(out.Len(), healthOutputMax)])
		inStartPeriod := time.Since(started) < hc.StartPeriod
		c.mu.Lock()
		h := c.rec.State.Health
		if h == nil {
			h = &api.Health{Status: "starting"}
			c.rec.State.Health = h
		}
		old := h.Status
		h.Log = append(h.Log, res)
		if len(h.Log) > healthLogKeep {
			h.Log = h.Log[len(h.Log)-healthLogKeep:]
		}
		if res.ExitCode == 0 {
			h.Status, h.FailingStreak = "healthy", 0
		} else if !inStartPeriod {
			h.FailingStreak++
			if h.FailingStreak >= hc.Retries {
				h.Status = "unhealthy"
			}
		}
		status, id := h.Status, c.rec.ID
		c.mu.Unlock()
		e.persist(c)
		if status != old {
			e.emit("container", "health_status: "+status, id, nil)
		}
	}
}

// imageHealthcheck decodes a HEALTHCHECK from raw Docker image config JSON.
func imageHealthcheck(raw []byte) *api.HealthConfig {
	var cfg struct {
		Config struct {
			Healthcheck *struct {
				Test        []string
				Interval    time.Duration
				Timeout     time.Duration
				StartPeriod time.Duration
				Retries     int
			}
		} `json:"config"`
	}
	if json.Unmarshal(raw, &cfg) != nil || cfg.Config.Healthcheck == nil {
		return nil
	}
	h := cfg.Config.Healthcheck
	return &api.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
}
