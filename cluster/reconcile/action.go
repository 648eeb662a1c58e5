package reconcile

import (
	"fmt"
	"time"
)

// ActionKind names one step for the engine.
type ActionKind string

// The kinds of Action, in the groups Diff orders them by.
const (
	// StopPod stops every running container of the pod (graceful: the
	// engine's stop signal, then a kill after its grace period).
	StopPod ActionKind = "StopPod"
	// RemovePod removes the pod's containers and its sandbox.
	RemovePod ActionKind = "RemovePod"
	// KillContainer stops one container whose liveness check failed.
	KillContainer ActionKind = "KillContainer"
	// ReplacePod tears the pod down (stop, remove) and creates an empty sandbox
	// for Action.Pod in its place, in one step.
	ReplacePod ActionKind = "ReplacePod"
	// EnsureImage makes Action.Image present on the node; a no-op if it is.
	EnsureImage ActionKind = "EnsureImage"
	// CreatePod creates the sandbox (network namespace and friends) for
	// Action.Pod, labelled with the alloc id and Pod.Hash.
	CreatePod ActionKind = "CreatePod"
	// StartContainer creates (unless it exists: ContainerID) and starts one
	// container of the pod.
	StartContainer ActionKind = "StartContainer"
	// RestartContainer starts an exited container again; Attempt counts the
	// consecutive restarts including this one.
	RestartContainer ActionKind = "RestartContainer"
)

// Action is one step for the engine.
type Action struct {
	Kind    ActionKind `json:"kind"`
	AllocID string     `json:"alloc_id"`
	// Container is the container's name (StartContainer, RestartContainer,
	// KillContainer, and EnsureImage for the container that needs the image).
	Container string `json:"container,omitempty"`
	// ContainerID is the engine's id of an existing container.
	ContainerID string `json:"container_id,omitempty"`
	// Image is set on EnsureImage and StartContainer.
	Image string `json:"image,omitempty"`
	// Pod is set on CreatePod and ReplacePod. Read only: it shares its
	// Containers slice with Diff's input.
	Pod *PodSpec `json:"pod,omitempty"`
	// Attempt is set on RestartContainer.
	Attempt int `json:"attempt,omitempty"`
	// NotBefore is set on a waiting RestartContainer: apply it no earlier.
	NotBefore time.Time `json:"not_before"`
	// Reason says why, for events and logs.
	Reason string `json:"reason"`
}

// Due reports whether the action may be applied at now.
func (a Action) Due(now time.Time) bool {
	return a.NotBefore.IsZero() || !a.NotBefore.After(now)
}

// String renders the action for logs and test failures.
func (a Action) String() string {
	s := string(a.Kind) + " " + a.AllocID
	if a.Container != "" {
		s += "/" + a.Container
	}
	if a.Kind == EnsureImage {
		s += " " + a.Image
	}
	if !a.NotBefore.IsZero() {
		s += " not before " + a.NotBefore.Format(time.RFC3339)
	}
	return fmt.Sprintf("%s (%s)", s, a.Reason)
}
