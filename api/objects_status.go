package api

import "time"

// Pod phases.
const (
	PodPending   = "Pending"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"
	PodUnknown   = "Unknown"
)

// Pod condition types, and condition statuses.
const (
	PodScheduled       = "PodScheduled"
	PodInitialized     = "Initialized"
	PodContainersReady = "ContainersReady"
	PodReady           = "Ready"

	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// PodStatus is what Kedge observes of a pod; nodes report it.
type PodStatus struct {
	// Phase is Pending, Running, Succeeded, Failed or Unknown.
	Phase      string         `json:"phase,omitempty"`
	Conditions []PodCondition `json:"conditions,omitempty"`
	// Reason is a CamelCase word for the state ("NodeLost"); Message explains it.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// NodeName is the node the pod is placed on.
	NodeName string `json:"nodeName,omitempty"`
	// HostIP is the node's address, PodIP the pod's own.
	HostIP string `json:"hostIP,omitempty"`
	PodIP  string `json:"podIP,omitempty"`
	// StartTime is when the node accepted the pod.
	StartTime             time.Time         `json:"startTime,omitzero"`
	InitContainerStatuses []ContainerStatus `json:"initContainerStatuses,omitempty"`
	ContainerStatuses     []ContainerStatus `json:"containerStatuses,omitempty"`
}

// PodCondition is one aspect of a pod's state (Ready: True).
type PodCondition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
}

// ContainerStatus is the state of one container of a pod.
type ContainerStatus struct {
	Name string `json:"name"`
	// Ready: the container runs and its readiness probe passes.
	Ready        bool  `json:"ready"`
	RestartCount int32 `json:"restartCount"`
	// State is now; LastState is the previous run's end, if any.
	State     PodContainerState `json:"state,omitzero"`
	LastState PodContainerState `json:"lastState,omitzero"`
	// Image is the image as the spec names it; ImageID its digest.
	Image       string `json:"image"`
	ImageID     string `json:"imageID,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
}

// PodContainerState is a container's state: at most one of the three is
// set (Kubernetes' ContainerState).
type PodContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting is a container not yet running ("ContainerCreating",
// "ImagePullBackOff", "CrashLoopBackOff").
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning is a running container.
type ContainerStateRunning struct {
	StartedAt time.Time `json:"startedAt,omitzero"`
}

// ContainerStateTerminated is a container that ran and exited.
type ContainerStateTerminated struct {
	ExitCode int32 `json:"exitCode"`
	Signal   int32 `json:"signal,omitempty"`
	// Reason is "Completed", "Error", "OOMKilled" ...
	Reason      string    `json:"reason,omitempty"`
	Message     string    `json:"message,omitempty"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
	ContainerID string    `json:"containerID,omitempty"`
}

// DeploymentStatus is what Kedge observes of a Deployment's pods.
type DeploymentStatus struct {
	// ObservedGeneration is the generation the controller last acted on.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Replicas is the pods of any version; UpdatedReplicas of the current
	// template; ReadyReplicas the ready ones; AvailableReplicas those ready
	// for at least MinReadySeconds.
	Replicas            int32 `json:"replicas,omitempty"`
	UpdatedReplicas     int32 `json:"updatedReplicas,omitempty"`
	ReadyReplicas       int32 `json:"readyReplicas,omitempty"`
	AvailableReplicas   int32 `json:"availableReplicas,omitempty"`
	UnavailableReplicas int32 `json:"unavailableReplicas,omitempty"`
}

// DaemonSetStatus is what Kedge observes of a DaemonSet's pods.
type DaemonSetStatus struct {
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// DesiredNumberScheduled is the number of matching nodes;
	// CurrentNumberScheduled those running a pod of the set.
	DesiredNumberScheduled int32 `json:"desiredNumberScheduled"`
	CurrentNumberScheduled int32 `json:"currentNumberScheduled"`
	// NumberMisscheduled is pods on nodes that no longer match.
	NumberMisscheduled     int32 `json:"numberMisscheduled"`
	NumberReady            int32 `json:"numberReady"`
	UpdatedNumberScheduled int32 `json:"updatedNumberScheduled,omitempty"`
	NumberAvailable        int32 `json:"numberAvailable,omitempty"`
	NumberUnavailable      int32 `json:"numberUnavailable,omitempty"`
}
