package api

import "slices"

// Deployment keeps a number of identical pods running and rolls them to a
// new template gradually.
type Deployment struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       DeploymentSpec   `json:"spec"`
	Status     DeploymentStatus `json:"status,omitzero"`
}

// DeploymentSpec is a Deployment's desired state.
type DeploymentSpec struct {
	// Replicas is the number of pods (default 1).
	Replicas *int32 `json:"replicas,omitempty"`
	// Selector finds the Deployment's pods; it must match Template's labels.
	Selector *LabelSelector  `json:"selector"`
	Template PodTemplateSpec `json:"template"`
	// Strategy is how pods are replaced (default RollingUpdate 25%/25%).
	Strategy DeploymentStrategy `json:"strategy,omitzero"`
	// MinReadySeconds a new pod must be ready to count as available.
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// RevisionHistoryLimit is how many old templates are kept for rollback
	// (default 10).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Paused stops rollouts of template changes.
	Paused bool `json:"paused,omitempty"`
}

// Deployment strategy types.
const (
	StrategyRollingUpdate = "RollingUpdate"
	StrategyRecreate      = "Recreate"
)

// DeploymentStrategy is how a Deployment replaces its pods.
type DeploymentStrategy struct {
	// Type is RollingUpdate (default) or Recreate (stop all, then start all).
	Type          string                   `json:"type,omitempty"`
	RollingUpdate *RollingUpdateDeployment `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDeployment bounds a rolling update: numbers of pods, or
// percentages of the replicas.
type RollingUpdateDeployment struct {
	// MaxSurge is how many pods may exist above the replicas (default 25%,
	// rounded up).
	MaxSurge *IntOrString `json:"maxSurge,omitempty"`
	// MaxUnavailable is how many replicas may be unavailable (default 25%,
	// rounded down).
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
}

// Resolve turns the bounds into pod counts for replicas, as Kubernetes does:
// surge rounds up, unavailable rounds down, and when both come to zero one
// pod may be unavailable so the rollout can progress.
func (r *RollingUpdateDeployment) Resolve(replicas int32) (surge, unavailable int32, err error) {
	return resolveRolling(r.MaxSurge, r.MaxUnavailable, replicas)
}

// DaemonSet runs one pod on every node that matches its template's node
// selector and tolerations.
type DaemonSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       DaemonSetSpec   `json:"spec"`
	Status     DaemonSetStatus `json:"status,omitzero"`
}

// DaemonSetSpec is a DaemonSet's desired state.
type DaemonSetSpec struct {
	// Selector finds the set's pods; it must match Template's labels.
	Selector *LabelSelector  `json:"selector"`
	Template PodTemplateSpec `json:"template"`
	// UpdateStrategy is how pods are replaced (default RollingUpdate with
	// maxUnavailable 1).
	UpdateStrategy  DaemonSetUpdateStrategy `json:"updateStrategy,omitzero"`
	MinReadySeconds int32                   `json:"minReadySeconds,omitempty"`
	// RevisionHistoryLimit is how many old templates are kept (default 10).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
}

// DaemonSet update strategy types (besides StrategyRollingUpdate).
const (
	StrategyOnDelete = "OnDelete"
)

// DaemonSetUpdateStrategy is how a DaemonSet replaces its pods.
type DaemonSetUpdateStrategy struct {
	// Type is RollingUpdate (default) or OnDelete (replace a pod only when
	// it is deleted).
	Type          string                  `json:"type,omitempty"`
	RollingUpdate *RollingUpdateDaemonSet `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDaemonSet bounds a DaemonSet's rolling update, in nodes or
// percentages of the matching nodes.
type RollingUpdateDaemonSet struct {
	// MaxUnavailable nodes may be without a ready pod (default 1).
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge nodes may run the old and the new pod at once (default 0).
	MaxSurge *IntOrString `json:"maxSurge,omitempty"`
}

// Resolve turns the bounds into node counts for nodes matching nodes, as
// for a Deployment.
func (r *RollingUpdateDaemonSet) Resolve(nodes int32) (surge, unavailable int32, err error) {
	return resolveRolling(r.MaxSurge, r.MaxUnavailable, nodes)
}

// resolveRolling resolves surge (rounded up) and unavailable (rounded down)
// against total; both zero becomes one unavailable.
func resolveRolling(maxSurge, maxUnavailable *IntOrString, total int32) (surge, unavailable int32, err error) {
	if maxSurge != nil {
		s, err := maxSurge.ScaledValue(int(total), true)
		if err != nil {
			return 0, 0, err
		}
		surge = int32(s)
	}
	if maxUnavailable != nil {
		u, err := maxUnavailable.ScaledValue(int(total), false)
		if err != nil {
			return 0, 0, err
		}
		unavailable = int32(u)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable, nil
}

// Label selector operators.
const (
	SelectorOpIn           = "In"
	SelectorOpNotIn        = "NotIn"
	SelectorOpExists       = "Exists"
	SelectorOpDoesNotExist = "DoesNotExist"
)

// LabelSelector matches labels: all MatchLabels and all MatchExpressions.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one expression: Key In/NotIn Values, or Key
// Exists/DoesNotExist.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Empty reports whether the selector has no terms (and so would match
// everything).
func (s *LabelSelector) Empty() bool {
	return s == nil || len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// Matches reports whether labels satisfy every term of the selector. A nil
// selector matches nothing; an empty one matches everything.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, ok := labels[e.Key]
		switch e.Operator {
		case SelectorOpIn:
			if !ok || !slices.Contains(e.Values, v) {
				return false
			}
		case SelectorOpNotIn:
			if ok && slices.Contains(e.Values, v) {
				return false
			}
		case SelectorOpExists:
			if !ok {
				return false
			}
		case SelectorOpDoesNotExist:
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}
