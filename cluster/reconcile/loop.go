package reconcile

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Defaults of Run.
const (
	DefaultInterval       = time.Second
	DefaultReportInterval = 500 * time.Millisecond
)

// Option configures Run.
type Option func(*runner)

// WithInterval sets the longest time between two rounds (default 1 s).
func WithInterval(d time.Duration) Option {
	return func(r *runner) {
		if d > 0 {
			r.interval = d
		}
	}
}

// WithReportInterval sets the shortest time between two reports (default 500 ms).
func WithReportInterval(d time.Duration) Option {
	return func(r *runner) {
		if d > 0 {
			r.reportEvery = d
		}
	}
}

// WithLogger sets the logger (default slog.Default()); Run adds
// "subsystem"="reconcile" and the alloc id of each action.
func WithLogger(l *slog.Logger) Option {
	return func(r *runner) {
		if l != nil {
			r.log = l
		}
	}
}

// WithObserver calls f after each action Run applied, with its error (nil on
// success): the agent turns these into events.
func WithObserver(f func(Action, error)) Option {
	return func(r *runner) { r.observe = f }
}

// Run reconciles until ctx is done, then returns ctx.Err(). A round lists
// the desired set and the engine's pods, applies Diff's due actions in order,
// records restarts in the back-off state it keeps, and summarizes the pods.
// A round runs at start, when src.Changed fires, at least every interval,
// when the earliest waiting restart falls due, and when an Engine that is an
// EngineWatcher reports a change. Statuses are reported
// when they differ from the last batch sent, at most once per report
// interval; a batch that fails is retried.
func Run(ctx context.Context, eng Engine, src Source, rep Reporter, clk Clock, opts ...Option) error {
	r := &runner{
		eng: eng, src: src, rep: rep, clk: clk,
		interval: DefaultInterval, reportEvery: DefaultReportInterval,
		log: slog.Default(), observe: func(Action, error) {}, backoff: BackoffState{},
	}
	for _, o := range opts {
		o(r)
	}
	if r.observe == nil {
		r.observe = func(Action, error) {}
	}
	r.log = r.log.With("subsystem", "reconcile")
	return r.run(ctx)
}

type runner struct {
	eng         Engine
	src         Source
	rep         Reporter
	clk         Clock
	interval    time.Duration
	reportEvery time.Duration
	log         *slog.Logger
	observe     func(Action, error)

	backoff    BackoffState
	sent       []PodStatus // last batch the reporter accepted
	delivered  bool        // the reporter accepted a batch (sent is valid)
	pending    []PodStatus // newer batch waiting to be sent; nil if none
	reported   bool        // a report was attempted
	lastReport time.Time   // when the last report was attempted
	// reportFailures counts the reports that failed in a row.
	reportFailures int
}

func (r *runner) run(ctx context.Context) error {
	changed := r.src.Changed()
	var engineChanged <-chan struct{}
	if w, ok := r.eng.(EngineWatcher); ok {
		engineChanged = w.Changed()
	}
	var tick, reportAt <-chan time.Time
	doRound := true
	for {
		if doRound {
			tick = r.clk.After(r.round(ctx))
			doRound = false
		}
		if r.pending != nil && reportAt == nil {
			wait := r.reportGap() - r.clk.Now().Sub(r.lastReport)
			if !r.reported || wait <= 0 {
				r.flush(ctx)
				wait = r.reportGap()
			}
			if r.pending != nil {
				reportAt = r.clk.After(wait)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			doRound = true
		case <-engineChanged:
			doRound = true
		case <-tick:
			doRound = true
		case <-reportAt:
			reportAt = nil
		}
	}
}

// round runs one reconciliation and returns how long to wait for the next.
func (r *runner) round(ctx context.Context) time.Duration {
	now := r.clk.Now()
	desired, err := r.src.Desired(ctx)
	if err != nil {
		r.log.Warn("desired allocations unknown; skipping round", "err", err)
		return r.interval
	}
	actual, err := r.eng.ListPods(ctx)
	if err != nil {
		r.log.Warn("list pods", "err", err)
		return r.interval
	}
	nc := NodeContext{ConnectedToLeader: true}
	if c, ok := r.src.(NodeContexter); ok {
		nc = c.NodeContext(now)
	}
	nc.Now = now

	wait := r.interval
	// The due actions, in Diff's order, grouped by allocation: different
	// allocations are independent and run in parallel (ten new pods start
	// together), one allocation's actions run in order, and the removals
	// Diff puts first finish before any creation starts.
	var removals, others [][]Action
	removalIndex, otherIndex := map[string]int{}, map[string]int{}
	for _, a := range Diff(desired, actual, nc, r.backoff) {
		if !a.Due(now) {
			wait = min(wait, a.NotBefore.Sub(now))
			continue
		}
		groups, index := &others, otherIndex
		if a.Kind == StopPod || a.Kind == RemovePod || a.Kind == KillContainer {
			groups, index = &removals, removalIndex
		}
		i, ok := index[a.AllocID]
		if !ok {
			i = len(*groups)
			index[a.AllocID] = i
			*groups = append(*groups, nil)
		}
		(*groups)[i] = append((*groups)[i], a)
	}
	applied := r.applyGroups(ctx, removals) + r.applyGroups(ctx, others)
	r.backoff.Prune(desired)
	if applied > 0 {
		if after, err := r.eng.ListPods(ctx); err == nil {
			actual = after
		}
	}
	st := Summarize(desired, actual)
	if r.delivered && slices.Equal(st, r.sent) {
		r.pending = nil
	} else {
		r.pending = st
	}
	return max(wait, time.Millisecond)
}

// flush sends the pending batch.
func (r *runner) flush(ctx context.Context) {
	r.reported, r.lastReport = true, r.clk.Now()
	if err := r.rep.Report(ctx, r.pending); err != nil {
		if r.reportFailures == 0 {
			r.log.Warn("report status; retrying with back-off", "pods", len(r.pending), "err", err)
		}
		r.reportFailures++
		return
	}
	if r.reportFailures > 0 {
		r.log.Info("status reported again", "failed_attempts", r.reportFailures)
	}
	r.reportFailures = 0
	r.sent, r.pending, r.delivered = r.pending, nil, true
}

// maxReportBackoff bounds the wait between failed status reports.
const maxReportBackoff = 5 * time.Second

// reportGap is the wait between reports: the report interval, doubled for
// each further report that failed in a row (a node cut off from its
// leader), at most maxReportBackoff.
func (r *runner) reportGap() time.Duration {
	gap := r.reportEvery
	for i := 1; i < r.reportFailures && gap < maxReportBackoff; i++ {
		gap *= 2
	}
	return min(gap, max(maxReportBackoff, r.reportEvery))
}

// maxParallel bounds the allocations a round works on at once. Making a
// pod waits mostly on the kernel (namespaces, links), not the CPU, so even a
// two-core board gains from starting a 10-replica placement in one wave.
const maxParallel = 16

// applyGroups applies each group's actions in order, the groups in
// parallel; a failed action skips the rest of its group. It returns how
// many actions were applied.
func (r *runner) applyGroups(ctx context.Context, groups [][]Action) int {
	var (
		mu      sync.Mutex
		applied int
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, maxParallel)
	for _, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func(g []Action) {
			defer wg.Done()
			defer func() { <-sem }()
			for _, a := range g {
				if ctx.Err() != nil {
					return
				}
				err := r.eng.Apply(ctx, a)
				mu.Lock()
				r.observe(a, err)
				if err != nil {
					mu.Unlock()
					r.log.Warn("apply", "alloc", a.AllocID, "action", a.Kind, "container", a.Container, "err", err)
					return
				}
				r.backoff.Record(a, r.clk.Now())
				applied++
				mu.Unlock()
				r.log.Debug("applied", "alloc", a.AllocID, "action", a.Kind, "container", a.Container, "reason", a.Reason)
			}
		}(g)
	}
	wg.Wait()
	return applied
}
