package reconcile

import "time"

// RestartPolicy says when an exited container is started again.
type RestartPolicy string

// Restart policies. The empty policy means RestartAlways.
const (
	RestartAlways    RestartPolicy = "Always"
	RestartOnFailure RestartPolicy = "OnFailure"
	RestartNever     RestartPolicy = "Never"
)

// ContainerSpec is the part of a container's spec the reconciler reasons
// about; the engine gets the rest from the alloc it names.
type ContainerSpec struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Init containers run before the app containers, one at a time in order,
	// each to a successful exit.
	Init bool `json:"init,omitempty"`
}

// PodSpec is the minimal pod the reconciler needs.
type PodSpec struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Hash stands for the whole spec: when it changes, the pod is replaced.
	Hash          string          `json:"hash"`
	RestartPolicy RestartPolicy   `json:"restart_policy,omitempty"`
	Containers    []ContainerSpec `json:"containers"`
}

// Desired is one allocation placed on this node.
type Desired struct {
	AllocID string  `json:"alloc_id"`
	Pod     PodSpec `json:"pod"`
	// Generation orders versions of one allocation: given the same alloc twice,
	// Diff keeps the higher generation. It does not replace a pod by itself;
	// Pod.Hash does.
	Generation int64 `json:"generation"`
}

// ContainerState is what the engine reports for one container of a pod.
// A container that was created but never started has Running false and zero
// StartedAt and FinishedAt.
type ContainerState struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Running  bool   `json:"running"`
	ExitCode int    `json:"exit_code"`
	// StartedAt is when the current or last run began (optional; the back-off
	// reset falls back to the last restart the loop recorded).
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is when the last run ended; restart back-off counts from it.
	FinishedAt time.Time `json:"finished_at"`
	// Restarts counts the engine's restarts of this container (reported).
	Restarts int `json:"restarts"`
	// Healthy is the liveness verdict; nil when there is no liveness probe or
	// it has not decided yet.
	Healthy *bool `json:"healthy,omitempty"`
	// Ready is the readiness verdict; nil when there is no readiness probe.
	Ready *bool `json:"ready,omitempty"`
}

// Actual is what the engine reports for the pod of one allocation. The
// engine reports at most one pod per alloc id; Diff ignores later duplicates.
type Actual struct {
	AllocID       string           `json:"alloc_id"`
	SandboxExists bool             `json:"sandbox_exists"`
	SpecHash      string           `json:"spec_hash"`
	Containers    []ContainerState `json:"containers"`
}

// NodeContext is what Diff needs to know about the node's situation.
type NodeContext struct {
	Now time.Time
	// ConnectedToLeader is false while the node cannot reach the control plane.
	ConnectedToLeader bool
	// CutOffSince is when the node last had the control plane. Zero while
	// connected, or when unknown (then stop-after never fires).
	CutOffSince time.Time
	// StopAfter holds kedge.io/stop-after per alloc id: cut off for this
	// long, the node stops its copy. Absent or <= 0: never.
	StopAfter map[string]time.Duration
}

func (p PodSpec) restartPolicy() RestartPolicy {
	if p.RestartPolicy == "" {
		return RestartAlways
	}
	return p.RestartPolicy
}

// neverStarted reports a container that exists but has not run.
func (c ContainerState) neverStarted() bool {
	return !c.Running && c.StartedAt.IsZero() && c.FinishedAt.IsZero()
}

func (a Actual) anyRunning() bool {
	for _, c := range a.Containers {
		if c.Running {
			return true
		}
	}
	return false
}

// shouldRestart applies the restart policy to an exited container.
func shouldRestart(p RestartPolicy, init bool, exitCode int) bool {
	switch {
	case p == RestartNever:
		return false
	case init || p == RestartOnFailure:
		return exitCode != 0
	default:
		return true
	}
}
