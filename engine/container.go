package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"kedge/api"
	"kedge/engine/shim"
)

// record is a container as persisted in the store.
type record struct {
	ID           string              `json:"id"`
	Name         string              `json:"name"`
	Image        string              `json:"image"`
	ImageID      string              `json:"image_id"`
	Created      time.Time           `json:"created"`
	Config       api.ContainerConfig `json:"config"`
	State        api.ContainerState  `json:"state"`
	Path         string              `json:"path"`
	Args         []string            `json:"args"`
	RestartCount int                 `json:"restart_count"`
	Mounts       []api.MountPoint    `json:"mounts,omitempty"`
	// StopSignal is the resolved stop signal (config, else image, else SIGTERM).
	StopSignal string `json:"stop_signal"`
	// Healthcheck is the resolved health check, nil for none.
	Healthcheck *api.HealthConfig `json:"healthcheck,omitempty"`
	// BootID is the host's boot id when the container last started; a
	// different one at load time means the host rebooted.
	BootID string `json:"boot_id,omitempty"`
	// ManuallyStopped is set by stop/kill so that restart policies (and
	// unless-stopped after a reboot) leave it alone.
	ManuallyStopped bool `json:"manually_stopped,omitempty"`
	// AnonymousVolumes are the volumes created for this container alone
	// (`-v /path`, image VOLUMEs); `rm -v` removes them.
	AnonymousVolumes []string `json:"anonymous_volumes,omitempty"`
	// Network is the container's place on the bridge network while it runs.
	Network *api.NetworkSettings `json:"network,omitempty"`
	// netnsPath is the bridge network namespace of a starting run (not stored).
	netnsPath string
}

// container is the in-memory state of one container.
type container struct {
	// op serialises lifecycle operations (start, stop, remove) on this container.
	op sync.Mutex

	mu  sync.Mutex // guards the fields below
	rec record
	// shim is the connection to the running container's supervisor.
	shim *shim.Client
	// exited is closed when the current run ends; replaced at each start.
	exited chan struct{}
	// stopHealth stops the health checker of the current run.
	stopHealth context.CancelFunc
	// removed is set once the container is deleted, and gone closed.
	removed bool
	gone    chan struct{}
	// pending is an attach waiting for the next start (see PrepareAttach).
	pending *pendingAttach
}

func (c *container) snapshot() record {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rec
	// The health record is updated in place by the checker: copy it.
	if h := r.State.Health; h != nil {
		hc := *h
		hc.Log = append([]api.HealthResult(nil), h.Log...)
		r.State.Health = &hc
	}
	return r
}

func (c *container) closeShim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shim != nil {
		c.shim.Close()
		c.shim = nil
	}
}

// toAPI renders the record as the API shows it.
func (r *record) toAPI(logPath string) api.Container {
	var state api.ContainerState
	b, _ := json.Marshal(r.State)
	_ = json.Unmarshal(b, &state)
	return api.Container{
		ID: r.ID, Name: r.Name, Image: r.Image, ImageID: r.ImageID, Created: r.Created,
		Config: r.Config, State: state, Path: r.Path, Args: r.Args,
		RestartCount: r.RestartCount, LogPath: logPath, Mounts: r.Mounts,
		NetworkSettings: r.Network,
	}
}

var validContainerName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// generatedName makes a Docker-like "adjective_noun" name.
func generatedName(taken func(string) bool) string {
	adjectives := []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud", "quiet", "sharp", "tender", "vivid", "witty", "zen"}
	nouns := []string{"albatross", "badger", "comet", "dolphin", "ember", "falcon", "glacier", "harbor", "island", "kestrel", "lighthouse", "meadow", "nebula", "orchid", "pier", "reef", "schooner", "tide"}
	for {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		name := adjectives[int(b[0])%len(adjectives)] + "_" + nouns[int(b[1])%len(nouns)]
		if !taken(name) {
			return name
		}
		name = fmt.Sprintf("%s%d", name, b[2])
		if !taken(name) {
			return name
		}
	}
}

// lookup finds a container by full id, unique id prefix or name.
func (e *Engine) lookup(ref string) (*container, error) {
	ref = strings.TrimPrefix(ref, "/")
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.containers[ref]; ok {
		return c, nil
	}
	for _, c := range e.containers {
		if c.rec.Name == ref {
			return c, nil
		}
	}
	var found *container
	if len(ref) >= 1 && isHex(ref) {
		for id, c := range e.containers {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, fmt.Errorf("container %q: ambiguous id prefix: %w", ref, api.ErrInvalid)
				}
				found = c
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no such container: %s: %w", ref, api.ErrNotFound)
	}
	return found, nil
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// persist writes the container's record.
func (e *Engine) persist(c *container) error {
	rec := c.snapshot()
	c.mu.Lock()
	removed := c.removed
	c.mu.Unlock()
	if removed {
		return nil
	}
	if err := e.db.Put(bucketContainers, rec.ID, &rec); err != nil {
		return fmt.Errorf("save container %s: %w", rec.ID[:12], err)
	}
	return nil
}

// List returns running containers, or all of them with all, newest first.
func (e *Engine) List(all bool) []api.Container {
	e.mu.Lock()
	cs := make([]*container, 0, len(e.containers))
	for _, c := range e.containers {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	out := make([]api.Container, 0, len(cs))
	for _, c := range cs {
		r := c.snapshot()
		if !all && !r.State.Running {
			continue
		}
		out = append(out, r.toAPI(e.logPath(r.ID)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// Inspect returns one container.
func (e *Engine) Inspect(ref string) (*api.Container, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	r := c.snapshot()
	a := r.toAPI(e.logPath(r.ID))
	return &a, nil
}

func (e *Engine) logPath(id string) string { return e.containerDir(id) + "/container.log" }

// imageInUse reports whether any container uses the image id.
func (e *Engine) imageInUse(imageID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.containers {
		if c.rec.ImageID == imageID {
			return true
		}
	}
	return false
}
