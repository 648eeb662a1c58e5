package reconcile

import (
	"context"
	"time"
)

// The interfaces the loop consumes. Run calls them from one goroutine, one
// call at a time; implementations must still be safe to use from other
// goroutines of the agent at the same time (a status page listing pods while
// Run applies an action). Run never retains the slices they return past the
// round that asked for them, and never modifies them.

// Engine is the node's container engine as the reconciler sees it.
type Engine interface {
	// ListPods reports the pods the engine holds that carry a kedge alloc id
	// label, running or not. One entry per alloc id.
	ListPods(ctx context.Context) ([]Actual, error)
	// Apply performs one action. It should be idempotent where it can (an
	// image already present, a pod already removed) and return an error
	// otherwise; Run then skips the rest of that alloc's actions this round
	// and tries again in the next.
	Apply(ctx context.Context, a Action) error
}

// EngineWatcher is an optional capability of an Engine: Changed is
// signalled when a container exits or a probe changes its verdict, so Run
// reacts at once instead of at the next interval.
type EngineWatcher interface {
	Changed() <-chan struct{}
}

// Source provides the allocations desired on this node.
type Source interface {
	// Desired returns the current set. An error means the set is unknown (not
	// empty): Run then skips the round rather than remove every pod.
	Desired(ctx context.Context) ([]Desired, error)
	// Changed is signalled (never closed while Run runs) when the set may
	// have changed; a buffered channel of one coalesces bursts.
	Changed() <-chan struct{}
}

// NodeContexter is an optional capability of a Source that knows the link to
// the control plane (AutonomousSource has it). Without it Run assumes the node
// is connected and stop-after never fires.
type NodeContexter interface {
	// NodeContext describes the node at now; Run overwrites Now.
	NodeContext(now time.Time) NodeContext
}

// Reporter sends a node's pod statuses to the control plane.
type Reporter interface {
	// Report sends the complete batch of this node's pod statuses. On error
	// Run keeps the newest batch and tries again a report interval later.
	Report(ctx context.Context, batch []PodStatus) error
}

// Clock is the time source of Run and AutonomousSource. Tests use a fake, or
// SystemClock inside a testing/synctest bubble.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

var _ Clock = SystemClock{}
var _ Source = (*AutonomousSource)(nil)
var _ NodeContexter = (*AutonomousSource)(nil)
