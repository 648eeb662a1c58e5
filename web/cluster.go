package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"kedge/api"
)

// ClusterView is the cluster state the status page and the cluster API read.
// The cluster package implements it; the web package only reads through it.
//
// Rules for implementations: every method is safe for concurrent use by any
// number of goroutines; the returned values are copies the caller may keep
// (the handlers never modify them); the methods answer from local state and
// do not block on the network for long (ctx bounds them).
type ClusterView interface {
	// Status is the control plane's health as this node sees it. On a
	// standalone engine it returns a status with Member false and no error.
	Status(ctx context.Context) (api.ClusterStatus, error)
	// Nodes lists the nodes the cluster knows, in any order.
	Nodes(ctx context.Context) ([]api.ClusterNode, error)
	// Events returns the events with Index > sinceIndex, oldest first. The
	// view may have trimmed old events; then it returns what it still has.
	Events(ctx context.Context, sinceIndex uint64) ([]api.ClusterEvent, error)
	// Changed returns a channel closed at the next change of the state (a new
	// Raft index or a gossip change), for watchers. A watcher takes the
	// channel before it reads the state, so no change is missed.
	Changed() <-chan struct{}
	// StateIndexer gives the replicated state's index, for blocking
	// queries of the nodes and events.
	StateIndexer
}

// ClusterSnapshot is one message of the watch stream (GET /v1/cluster/watch):
// the whole state the status page shows.
type ClusterSnapshot struct {
	Status api.ClusterStatus `json:"status"`
	Nodes  []api.ClusterNode `json:"nodes"`
	// Events are the most recent events, oldest first.
	Events []api.ClusterEvent `json:"events"`
	// Workloads are the workloads with their pods, sorted by namespace and
	// name; an empty list when the view is no WorkloadView.
	Workloads []api.WorkloadSummary `json:"workloads"`
}

// Defaults of the watch stream.
const (
	// DefaultWatchHeartbeat is how often an idle watch stream sends an SSE
	// comment, so proxies and clients see the connection alive.
	DefaultWatchHeartbeat = 15 * time.Second
	// DefaultWatchInterval is the least time between two snapshots of one
	// stream: changes closer together are coalesced (at most ~5/s).
	DefaultWatchInterval = 200 * time.Millisecond
	// DefaultWatchEvents is how many recent events a snapshot carries.
	DefaultWatchEvents = 100
)

// ClusterAPIOptions tune a ClusterAPI; zero fields take the defaults.
type ClusterAPIOptions struct {
	// Heartbeat is the period of the keep-alive comments of a watch stream.
	Heartbeat time.Duration
	// MinInterval is the least time between two snapshots of a stream.
	MinInterval time.Duration
	// MaxEvents bounds the events of a snapshot.
	MaxEvents int
}

// ClusterAPI serves the cluster's read API over a ClusterView:
// status, nodes, events, workloads (when the view is a WorkloadView) and the
// server-sent-events watch stream.
type ClusterAPI struct {
	view ClusterView
	log  *slog.Logger
	opts ClusterAPIOptions

	// done ends every watch stream when the API closes; http.Server.Shutdown
	// alone would wait for them until its deadline.
	done      chan struct{}
	closeOnce sync.Once
}

// NewClusterAPI builds the cluster API over view. Call Close when the HTTP
// server shuts down (http.Server.RegisterOnShutdown(c.Close)).
func NewClusterAPI(view ClusterView, log *slog.Logger, opts ClusterAPIOptions) *ClusterAPI {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultWatchHeartbeat
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = DefaultWatchInterval
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultWatchEvents
	}
	return &ClusterAPI{view: view, log: log.With("subsystem", "cluster-api"), opts: opts, done: make(chan struct{})}
}

// Close ends the open watch streams; later watches end at once.
func (c *ClusterAPI) Close() {
	c.closeOnce.Do(func() { close(c.done) })
}

// GetStatus serves GET /v1/cluster/status: an api.ClusterStatus.
func (c *ClusterAPI) GetStatus(w http.ResponseWriter, r *http.Request) {
	st, err := c.view.Status(r.Context())
	if err != nil {
		writeError(w, fmt.Errorf("cluster status: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// GetNodes serves GET /v1/cluster/nodes: a JSON array of api.ClusterNode.
// It is a blocking query (?index=&wait=, see api.IndexHeader) that a
// gossip change also ends, as it shows in the nodes' roles.
func (c *ClusterAPI) GetNodes(w http.ResponseWriter, r *http.Request) {
	if !awaitIndex(w, r, c.view, c.view.Changed, c.done) {
		return
	}
	nodes, err := c.view.Nodes(r.Context())
	if err != nil {
		writeError(w, fmt.Errorf("cluster nodes: %w", err))
		return
	}
	if nodes == nil {
		nodes = []api.ClusterNode{}
	}
	writeJSON(w, http.StatusOK, nodes)
}

// GetEvents serves GET /v1/cluster/events?since=N: the events with an index
// above N (0 when absent), oldest first, as a JSON array of api.ClusterEvent.
// It is a blocking query (?index=&wait=, see api.IndexHeader).
func (c *ClusterAPI) GetEvents(w http.ResponseWriter, r *http.Request) {
	if !awaitIndex(w, r, c.view, nil, c.done) {
		return
	}
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, fmt.Errorf("since %q: want a Raft index: %w", v, api.ErrInvalid))
			return
		}
		since = n
	}
	evs, err := c.view.Events(r.Context(), since)
	if err != nil {
		writeError(w, fmt.Errorf("cluster events since %d: %w", since, err))
		return
	}
	if evs == nil {
		evs = []api.ClusterEvent{}
	}
	writeJSON(w, http.StatusOK, evs)
}

// Watch serves GET /v1/cluster/watch as server-sent events (text/event-stream).
// On connect it sends one "snapshot" event (a ClusterSnapshot as JSON), then
// another after each change of the view, coalesced to at most one per
// MinInterval; an idle stream gets an SSE comment every Heartbeat. A failed
// read of the view is sent as a "failure" event ({"message": ...}) and the
// stream waits for the next change. The stream ends when the client goes or
// the API closes.
func (c *ClusterAPI) Watch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// Read the first snapshot before any header goes out, so a failing view
	// answers with a plain JSON error and status code.
	changed := c.view.Changed()
	ring := &eventRing{max: c.opts.MaxEvents}
	snap, err := c.snapshot(ctx, ring)
	if err != nil {
		writeError(w, fmt.Errorf("cluster watch: %w", err))
		return
	}

	rc := http.NewResponseController(w)
	// A server-wide WriteTimeout would cut the stream: lift it for this one.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sse := &sseWriter{w: w, rc: rc}
	if err := sse.event("snapshot", snap); err != nil {
		return
	}
	log := c.log.With("remote", r.RemoteAddr)
	log.Debug("watch started")
	defer log.Debug("watch ended")

	heartbeat := time.NewTicker(c.opts.Heartbeat)
	defer heartbeat.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-heartbeat.C:
			if err := sse.comment("keepalive"); err != nil {
				return
			}
			continue
		case <-changed:
		}
		// Coalesce: wait out the rest of the interval; changes meanwhile
		// are read below with the state.
		if wait := c.opts.MinInterval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-c.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		changed = c.view.Changed()
		last = time.Now()
		snap, err := c.snapshot(ctx, ring)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("watch: read cluster state", "err", err)
			err = sse.event("failure", api.Error{Message: err.Error()})
		} else {
			err = sse.event("snapshot", snap)
		}
		if err != nil {
			return
		}
		heartbeat.Reset(c.opts.Heartbeat)
	}
}

// snapshot reads the view; ring keeps the stream's recent events so each
// snapshot asks the view only for the events it has not seen.
func (c *ClusterAPI) snapshot(ctx context.Context, ring *eventRing) (ClusterSnapshot, error) {
	st, err := c.view.Status(ctx)
	if err != nil {
		return ClusterSnapshot{}, fmt.Errorf("status: %w", err)
	}
	nodes, err := c.view.Nodes(ctx)
	if err != nil {
		return ClusterSnapshot{}, fmt.Errorf("nodes: %w", err)
	}
	if nodes == nil {
		nodes = []api.ClusterNode{}
	}
	evs, err := c.view.Events(ctx, ring.last)
	if err != nil {
		return ClusterSnapshot{}, fmt.Errorf("events since %d: %w", ring.last, err)
	}
	ws, err := c.workloads(ctx)
	if err != nil {
		return ClusterSnapshot{}, fmt.Errorf("workloads: %w", err)
	}
	ring.add(evs)
	return ClusterSnapshot{Status: st, Nodes: nodes, Events: ring.list(), Workloads: ws}, nil
}

// eventRing keeps the last max events of one stream, oldest first.
type eventRing struct {
	max  int
	last uint64
	evs  []api.ClusterEvent
}

func (e *eventRing) add(evs []api.ClusterEvent) {
	for _, ev := range evs {
		if ev.Index <= e.last && len(e.evs) > 0 {
			continue // already seen; the view should not repeat it
		}
		e.evs = append(e.evs, ev)
		e.last = ev.Index
	}
	if n := len(e.evs) - e.max; n > 0 {
		e.evs = append(e.evs[:0:0], e.evs[n:]...)
	}
}

func (e *eventRing) list() []api.ClusterEvent {
	out := make([]api.ClusterEvent, len(e.evs))
	copy(out, e.evs)
	return out
}

// sseWriter writes server-sent events and flushes each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// event writes one event whose data is v as JSON (one line: encoding/json
// never emits a raw newline, so the data needs no splitting).
func (s *sseWriter) event(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sse %s: %w", name, err)
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return fmt.Errorf("sse %s: %w", name, err)
	}
	return s.flush()
}

// comment writes an SSE comment line, which clients ignore.
func (s *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return fmt.Errorf("sse comment: %w", err)
	}
	return s.flush()
}

func (s *sseWriter) flush() error {
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("sse flush: %w", err)
	}
	return nil
}
