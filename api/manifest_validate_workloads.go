package api

import "fmt"

// Validate implements Object: the selector is set and matches the
// template's labels, the template's pods restart Always, and the rollout
// bounds are numbers or percentages that let the rollout progress.
func (o *Deployment) Validate() error {
	var l errList
	validateObjectMeta(&l, &o.ObjectMeta, KindDeployment, nameLabel)
	s := &o.Spec
	validateNonNegative(&l, "spec.replicas", s.Replicas)
	validateNonNegative(&l, "spec.revisionHistoryLimit", s.RevisionHistoryLimit)
	if s.MinReadySeconds < 0 {
		l.add("spec.minReadySeconds", "%d: must not be negative", s.MinReadySeconds)
	}
	validateTemplate(&l, s.Selector, &s.Template)
	switch s.Strategy.Type {
	case StrategyRecreate:
		if s.Strategy.RollingUpdate != nil {
			l.add("spec.strategy.rollingUpdate", "only with strategy type RollingUpdate")
		}
	case StrategyRollingUpdate:
		if ru := s.Strategy.RollingUpdate; ru != nil {
			validateRollingBounds(&l, "spec.strategy.rollingUpdate", ru.MaxSurge, ru.MaxUnavailable)
		}
	default:
		l.add("spec.strategy.type", "%q: want RollingUpdate or Recreate", s.Strategy.Type)
	}
	return l.join()
}

// Validate implements Object: as a Deployment's, for the update strategy
// RollingUpdate or OnDelete.
func (o *DaemonSet) Validate() error {
	var l errList
	validateObjectMeta(&l, &o.ObjectMeta, KindDaemonSet, nameLabel)
	s := &o.Spec
	validateNonNegative(&l, "spec.revisionHistoryLimit", s.RevisionHistoryLimit)
	if s.MinReadySeconds < 0 {
		l.add("spec.minReadySeconds", "%d: must not be negative", s.MinReadySeconds)
	}
	validateTemplate(&l, s.Selector, &s.Template)
	switch s.UpdateStrategy.Type {
	case StrategyOnDelete:
		if s.UpdateStrategy.RollingUpdate != nil {
			l.add("spec.updateStrategy.rollingUpdate", "only with update strategy type RollingUpdate")
		}
	case StrategyRollingUpdate:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			validateRollingBounds(&l, "spec.updateStrategy.rollingUpdate", ru.MaxSurge, ru.MaxUnavailable)
		}
	default:
		l.add("spec.updateStrategy.type", "%q: want RollingUpdate or OnDelete", s.UpdateStrategy.Type)
	}
	return l.join()
}

// validateTemplate checks a controller's selector and pod template.
func validateTemplate(l *errList, sel *LabelSelector, t *PodTemplateSpec) {
	switch {
	case sel == nil:
		l.add("spec.selector", "required")
	case sel.Empty():
		l.add("spec.selector", "must not be empty (it would select every pod)")
	default:
		validateSelector(l, "spec.selector", sel)
	}
	validateTemplateMeta(l, "spec.template.metadata", &t.ObjectMeta)
	switch {
	case len(t.Labels) == 0:
		l.add("spec.template.metadata.labels", "required, and matched by spec.selector")
	case !sel.Empty() && !sel.Matches(t.Labels):
		l.add("spec.selector", "does not match the template's labels (spec.template.metadata.labels)")
	}
	validatePodSpec(l, "spec.template.spec", &t.Spec, true)
}

// validateSelector checks a label selector's keys, values and operators.
func validateSelector(l *errList, p string, s *LabelSelector) {
	validateLabels(l, p+".matchLabels", s.MatchLabels)
	for i, e := range s.MatchExpressions {
		ep := fmt.Sprintf("%s.matchExpressions[%d]", p, i)
		if !isQualifiedName(e.Key) {
			l.add(ep+".key", "%q %s", e.Key, msgQualifiedName)
		}
		switch e.Operator {
		case SelectorOpIn, SelectorOpNotIn:
			if len(e.Values) == 0 {
				l.add(ep+".values", "required with operator %s", e.Operator)
			}
		case SelectorOpExists, SelectorOpDoesNotExist:
			if len(e.Values) > 0 {
				l.add(ep+".values", "must be empty with operator %s", e.Operator)
			}
		default:
			l.add(ep+".operator", "%q: want In, NotIn, Exists or DoesNotExist", e.Operator)
		}
		for j, v := range e.Values {
			if !isLabelValue(v) {
				l.add(fmt.Sprintf("%s.values[%d]", ep, j), "%q %s", v, msgLabelValue)
			}
		}
	}
}

// validateRollingBounds checks maxSurge and maxUnavailable: whole numbers
// not negative or percentages, maxUnavailable at most 100%, not both zero.
func validateRollingBounds(l *errList, p string, surge, unavailable *IntOrString) {
	zero := func(name string, v *IntOrString) bool {
		if v == nil {
			return true
		}
		if !v.IsString {
			if v.IntVal < 0 {
				l.add(p+"."+name, "%d: must not be negative", v.IntVal)
			}
			return v.IntVal == 0
		}
		pct, ok, err := v.Percent()
		switch {
		case err != nil:
			l.addErr(p+"."+name, err)
		case !ok:
			l.add(p+"."+name, "%q: want a whole number or a percentage like \"25%%\"", v.StrVal)
		case name == "maxUnavailable" && pct > 100:
			l.add(p+"."+name, "%q: must be at most 100%%", v.StrVal)
		}
		return ok && err == nil && pct == 0
	}
	surgeZero := zero("maxSurge", surge)
	unavailableZero := zero("maxUnavailable", unavailable)
	if surgeZero && unavailableZero {
		l.add(p, "maxSurge and maxUnavailable cannot both be 0")
	}
}
