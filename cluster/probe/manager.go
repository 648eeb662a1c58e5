package probe

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Options configure a Manager; the zero value is usable.
type Options struct {
	// Logger receives result flips (Info) and failed checks (Debug);
	// nil is slog.Default().
	Logger *slog.Logger
	// DialContext opens the connections of HTTP and TCP probes; nil is a
	// net.Dialer. Tests and agents with unusual pod networks replace it.
	DialContext DialFunc
}

// Manager runs the probes of a node's containers: one goroutine per probe
// of each target. Its methods are safe for concurrent use.
type Manager struct {
	log     *slog.Logger
	check   *checker
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	changed chan struct{}

	mu      sync.Mutex
	closed  bool
	targets map[string]*entry
}

// entry is one target being probed. It is replaced, never reset, when the
// target restarts; its workers stop when ctx ends.
type entry struct {
	target  Target // a clone; read-only
	origin  time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	started chan struct{} // closed once Started: gates liveness and readiness

	// Under Manager.mu.
	probes   [numKinds]probeState
	lastFail Kind
}

func (e *entry) status() Status { return status(&e.probes, e.lastFail) }

// New returns a Manager with no targets. execer runs exec probes; it may be
// nil if none will be used (their checks then fail with ErrNoExecer).
func New(execer Execer, opts Options) *Manager {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Manager{
		log:     log.With("subsystem", "probe"),
		check:   newChecker(execer, opts.DialContext),
		ctx:     ctx,
		stop:    stop,
		changed: make(chan struct{}, 1),
		targets: map[string]*entry{},
	}
}

// Sync makes targets the set of probed containers: it starts probing new
// ones, stops gone ones, and probes afresh those whose StartedAt, pod IP,
// probes or ports changed. Targets with an empty or repeated Key are
// ignored. Sync does not wait for stopped workers; Close does.
func (m *Manager) Sync(targets []Target) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	seen := make(map[string]bool, len(targets))
	flipped := false
	for i := range targets {
		t := &targets[i]
		if t.Key == "" || seen[t.Key] {
			continue
		}
		seen[t.Key] = true
		old := m.targets[t.Key]
		if old != nil && !old.target.restartedBy(t) {
			continue
		}
		e := m.start(t)
		if old != nil {
			old.cancel()
			flipped = flipped || old.status().flips(e.status())
			m.log.Debug("probing restarted", "container", t.Key)
		}
		m.targets[t.Key] = e
	}
	for key, e := range m.targets {
		if !seen[key] {
			e.cancel()
			delete(m.targets, key)
		}
	}
	if flipped {
		m.notify()
	}
}

// start builds the entry of t and its workers; m.mu is held.
func (m *Manager) start(t *Target) *entry {
	ctx, cancel := context.WithCancel(m.ctx)
	e := &entry{
		target:   t.clone(),
		origin:   t.StartedAt,
		ctx:      ctx,
		cancel:   cancel,
		started:  make(chan struct{}),
		lastFail: -1,
	}
	if e.origin.IsZero() {
		e.origin = time.Now()
	}
	for k, p := range e.target.probes() {
		if p != nil {
			e.probes[k] = probeState{spec: p, set: settingsFor(Kind(k), p)}
		}
	}
	if e.probes[Startup].spec == nil {
		close(e.started)
	}
	for k := range numKinds {
		if e.probes[k].spec != nil {
			m.wg.Go(func() { m.run(e, k) })
		}
	}
	return e
}

// record applies one check of probe k of e and reports whether its worker
// goes on: a startup probe stops once it flips, a liveness probe once it
// fails, and every worker once e is stopped.
func (m *Manager) record(e *entry, k Kind, err error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.ctx.Err() != nil {
		return false // stopped or replaced: the result is stale
	}
	before := e.status()
	p := &e.probes[k]
	flipped := p.record(err)
	log := m.log.With("container", e.target.Key, "probe", k.String())
	if err != nil {
		e.lastFail = k
		log.Debug("probe check failed", "failures", p.failures, "threshold", p.set.failure, "err", err)
	}
	if flipped {
		log.Info("probe result changed", "result", p.outcome.String(), "err", p.lastErr)
		if k == Startup && p.outcome == passed {
			close(e.started)
		}
	}
	if e.status().flips(before) {
		m.notify()
	}
	switch k {
	case Startup:
		return p.outcome == pending
	case Liveness:
		return p.outcome != failed
	}
	return true
}

func (m *Manager) notify() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// Result returns the Status of the target named key, and false if there is
// no such target.
func (m *Manager) Result(key string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.targets[key]
	if !ok {
		return Status{}, false
	}
	return e.status(), true
}

// Changed receives a value after a target's Started, Live or Ready flips
// (signals coalesce; read every Result after one). It is never closed.
func (m *Manager) Changed() <-chan struct{} { return m.changed }

// Close stops every worker and waits for them to return. Later calls to
// Sync do nothing; Result reports no targets. Close may be called again.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.targets = map[string]*entry{}
	m.stop() // under mu: no worker records a result after this
	m.mu.Unlock()
	m.wg.Wait()
	m.check.close()
}
