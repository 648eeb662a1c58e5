package reconcile

import (
	"fmt"
	"slices"
	"strings"
)

// Phase is the coarse state of a pod, as the node reports it.
type Phase string

// Pod phases.
const (
	// PhasePending: the pod or some of its containers do not run yet (image,
	// sandbox, init containers, replacement in progress).
	PhasePending Phase = "Pending"
	// PhaseRunning: the app containers have started; some run or will be
	// restarted.
	PhaseRunning Phase = "Running"
	// PhaseSucceeded: every app container exited 0 and none will restart.
	PhaseSucceeded Phase = "Succeeded"
	// PhaseFailed: a container failed and the restart policy gives up.
	PhaseFailed Phase = "Failed"
)

// PodStatus is one alloc's line in the batch a node reports. It is
// comparable: Run reports a batch only when it differs from the last one.
type PodStatus struct {
	AllocID string `json:"alloc_id"`
	Phase   Phase  `json:"phase"`
	// Ready: running, every app container runs and no readiness check says no.
	Ready bool `json:"ready"`
	// Restarts sums the engine's restart counts of the pod's containers.
	Restarts int    `json:"restarts"`
	Message  string `json:"message,omitempty"`
}

// Summarize computes the status of every desired alloc (sorted by alloc id)
// from what the engine reports. Pods of allocs that are not desired are not
// reported: they are no longer this node's.
func Summarize(desired []Desired, actual []Actual) []PodStatus {
	want := indexDesired(desired)
	have := make(map[string]*Actual, len(actual))
	for i := range actual {
		if _, dup := have[actual[i].AllocID]; !dup {
			have[actual[i].AllocID] = &actual[i]
		}
	}
	out := make([]PodStatus, 0, len(want))
	for id, d := range want {
		out = append(out, podStatus(d, have[id]))
	}
	slices.SortFunc(out, func(a, b PodStatus) int { return strings.Compare(a.AllocID, b.AllocID) })
	return out
}

func podStatus(d Desired, a *Actual) PodStatus {
	s := PodStatus{AllocID: d.AllocID, Phase: PhasePending}
	if a == nil {
		s.Message = "pod not created"
		return s
	}
	states := map[string]ContainerState{}
	for _, cs := range a.Containers {
		if _, dup := states[cs.Name]; !dup {
			states[cs.Name] = cs
			s.Restarts += cs.Restarts
		}
	}
	if why := mismatch(d, a); why != "" {
		s.Message = why
		return s
	}
	policy := d.Pod.restartPolicy()
	appStarted := false
	for _, c := range d.Pod.Containers {
		if _, ok := states[c.Name]; ok && !c.Init {
			appStarted = true
		}
	}
	if !appStarted {
		for _, c := range d.Pod.Containers {
			if !c.Init {
				continue
			}
			cs, ok := states[c.Name]
			switch {
			case !ok || cs.neverStarted() || cs.Running:
				s.Message = fmt.Sprintf("waiting for init container %q", c.Name)
				return s
			case cs.ExitCode == 0:
				continue
			case !shouldRestart(policy, true, cs.ExitCode):
				s.Phase, s.Message = PhaseFailed, fmt.Sprintf("init container %q exited with code %d", c.Name, cs.ExitCode)
				return s
			default:
				s.Message = fmt.Sprintf("init container %q exited with code %d, restarting", c.Name, cs.ExitCode)
				return s
			}
		}
	}
	allExited, allZero, ready, apps := true, true, true, 0
	for _, c := range d.Pod.Containers {
		if c.Init {
			continue
		}
		apps++
		cs, ok := states[c.Name]
		if !ok || cs.neverStarted() {
			s.Message = fmt.Sprintf("container %q not started", c.Name)
			return s
		}
		if cs.Running {
			allExited = false
			if cs.Ready != nil && !*cs.Ready {
				ready = false
			}
			continue
		}
		ready = false
		if cs.ExitCode != 0 {
			allZero = false
			if s.Message == "" {
				s.Message = fmt.Sprintf("container %q exited with code %d", c.Name, cs.ExitCode)
			}
		}
	}
	s.Phase = PhaseRunning
	switch {
	case apps == 0:
		s.Phase = PhaseSucceeded // only init containers, all done
	case !allExited:
	case allZero && policy != RestartAlways:
		s.Phase = PhaseSucceeded
	case !allZero && policy == RestartNever:
		s.Phase = PhaseFailed
	}
	s.Ready = s.Phase == PhaseRunning && ready
	return s
}
