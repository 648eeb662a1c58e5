package reconcile

import "time"

// Restart back-off, as the kubelet's: the first restart after a run is
// immediate (a liveness kill or a one-off crash costs no wait); the n-th
// consecutive one (n ≥ 2) waits BackoffBase·2^(n-2) after the exit, at most
// BackoffMax; a run of BackoffReset or longer starts the count again.
const (
	BackoffBase  = 10 * time.Second
	BackoffMax   = 5 * time.Minute
	BackoffReset = 10 * time.Minute
)

// ContainerKey names one container of one allocation.
type ContainerKey struct {
	AllocID   string
	Container string
}

// Backoff is the restart history of one container.
type Backoff struct {
	// Restarts counts consecutive restarts since the last reset.
	Restarts int
	// LastRestart is when the last restart was applied.
	LastRestart time.Time
}

// BackoffState is the restart history the caller keeps between rounds: Diff
// reads it, the caller updates it with Record after applying actions (Run
// does). It is not safe for concurrent use.
type BackoffState map[ContainerKey]Backoff

// BackoffDelay is the wait before the given consecutive restart (1-based):
// none before the first.
func BackoffDelay(attempt int) time.Duration {
	if attempt <= 1 {
		return 0
	}
	d := BackoffBase
	for i := 2; i < attempt && d < BackoffMax; i++ {
		d *= 2
	}
	return min(d, BackoffMax)
}

// Record notes an action the engine applied at the given time: a restart
// counts towards the back-off; a created, replaced or removed pod forgets its
// containers' history.
func (b BackoffState) Record(a Action, at time.Time) {
	switch a.Kind {
	case RestartContainer:
		b[ContainerKey{a.AllocID, a.Container}] = Backoff{Restarts: a.Attempt, LastRestart: at}
	case CreatePod, ReplacePod, RemovePod:
		for k := range b {
			if k.AllocID == a.AllocID {
				delete(b, k)
			}
		}
	}
}

// Prune forgets the history of allocs that are no longer desired.
func (b BackoffState) Prune(desired []Desired) {
	keep := make(map[string]bool, len(desired))
	for _, d := range desired {
		keep[d.AllocID] = true
	}
	for k := range b {
		if !keep[k.AllocID] {
			delete(b, k)
		}
	}
}

// next computes the attempt number and the earliest time of the next restart
// of an exited container. A zero time means "now": the exit time is unknown
// and nothing was recorded.
func (b BackoffState) next(key ContainerKey, cs ContainerState) (attempt int, notBefore time.Time, delay time.Duration) {
	h := b[key]
	n := h.Restarts
	started := cs.StartedAt
	if started.IsZero() {
		started = h.LastRestart
	}
	if n > 0 && !started.IsZero() && !cs.FinishedAt.IsZero() && cs.FinishedAt.Sub(started) >= BackoffReset {
		n = 0
	}
	attempt = n + 1
	delay = BackoffDelay(attempt)
	base := cs.FinishedAt
	if base.IsZero() {
		base = h.LastRestart
	}
	if base.IsZero() || delay == 0 {
		return attempt, time.Time{}, 0
	}
	return attempt, base.Add(delay), delay
}
