package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"kedge/api"
	"kedge/cluster/state"
)

// Rollouts: every template a Deployment had is kept as a history object
// (kind DeploymentRevision, key "deploymentrevision/NS/NAME/N"), up to its
// revisionHistoryLimit, so that `kedge rollout undo` can go back to one.

const kindRevision = "DeploymentRevision"

// Revision is one template of a Deployment's history.
type Revision struct {
	Number   int                 `json:"number"`
	Hash     string              `json:"hash"`
	Created  time.Time           `json:"created"`
	Template api.PodTemplateSpec `json:"template"`
}

func revisionPrefix(namespace, name string) string {
	return strings.ToLower(kindRevision) + "/" + namespace + "/" + name + "/"
}

// history returns a Deployment's revisions, oldest first.
func history(view *state.View, namespace, name string) []Revision {
	var out []Revision
	prefix := revisionPrefix(namespace, name)
	for _, o := range view.Objects(strings.ToLower(kindRevision)) {
		if !strings.HasPrefix(o.Key, prefix) {
			continue
		}
		var r Revision
		if json.Unmarshal(o.Manifest, &r) == nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// recordRevision makes a Deployment's template its newest revision, and
// trims the history to limit. A template it had before moves to the next
// number, as kubectl's do (undo to 1 of 1, 2 makes it 3), so that trimming,
// which drops the lowest numbers, never drops the current template.
func (m *Manager) recordRevision(ctx context.Context, view *state.View, d *api.Deployment) error {
	hist := history(view, d.Namespace, d.Name)
	hash := revision(&d.Spec.Template)
	if len(hist) > 0 && hist[len(hist)-1].Hash == hash {
		return nil // already the newest
	}
	next := 1
	if len(hist) > 0 {
		next = hist[len(hist)-1].Number + 1
	}
	for i, r := range hist {
		if r.Hash == hash {
			if cmd, err := state.DeleteObject(revisionPrefix(d.Namespace, d.Name)+strconv.Itoa(r.Number), time.Now().UTC()); err == nil {
				if _, err := m.apply(ctx, cmd); err != nil {
					return err
				}
			}
			hist = append(hist[:i:i], hist[i+1:]...)
			break
		}
	}
	r := Revision{Number: next, Hash: hash, Created: time.Now().UTC(), Template: d.Spec.Template}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	key := revisionPrefix(d.Namespace, d.Name) + strconv.Itoa(next)
	cmd, err := state.PutObject(state.Object{Key: key, Kind: kindRevision, Namespace: d.Namespace, Name: d.Name + "-" + strconv.Itoa(next),
		UID: newID(), SpecHash: hash, Manifest: raw}, time.Now().UTC())
	if err != nil {
		return err
	}
	if _, err := m.apply(ctx, cmd); err != nil {
		return err
	}
	limit := 10
	if d.Spec.RevisionHistoryLimit != nil {
		limit = int(*d.Spec.RevisionHistoryLimit)
	}
	for len(hist) > limit { // the current one plus limit old ones
		old := revisionPrefix(d.Namespace, d.Name) + strconv.Itoa(hist[0].Number)
		if cmd, err := state.DeleteObject(old, time.Now().UTC()); err == nil {
			if _, err := m.apply(ctx, cmd); err != nil {
				return err
			}
		}
		hist = hist[1:]
	}
	return nil
}

// RolloutHistory lists a Deployment's revisions, oldest first.
func (m *Manager) RolloutHistory(ctx context.Context, namespace, name string) ([]api.Revision, error) {
	_, _, fsm, err := m.member()
	if err != nil {
		return nil, err
	}
	d, view, err := deploymentIn(fsm.State(), namespace, name) // a read: the local state serves it, also cut off
	if err != nil {
		return nil, err
	}
	cur := revision(&d.Spec.Template)
	out := []api.Revision{}
	for _, r := range history(view, d.Namespace, name) {
		ar := api.Revision{Number: r.Number, Hash: r.Hash, Created: r.Created, Current: r.Hash == cur}
		for _, c := range r.Template.Spec.Containers {
			ar.Images = append(ar.Images, c.Image)
		}
		out = append(out, ar)
	}
	return out, nil
}

// RolloutUndo goes back to a revision (0: the one before the current).
func (m *Manager) RolloutUndo(ctx context.Context, namespace, name string, to int) error {
	d, view, err := m.deployment(ctx, namespace, name)
	if err != nil {
		return err
	}
	hist := history(view, namespace, name)
	cur := revision(&d.Spec.Template)
	var target *Revision
	for i := len(hist) - 1; i >= 0; i-- {
		r := hist[i]
		if (to == 0 && r.Hash != cur) || (to != 0 && r.Number == to) {
			target = &hist[i]
			break
		}
	}
	if target == nil {
		return fmt.Errorf("deployment %s: no revision to go back to: %w", name, api.ErrNotFound)
	}
	d.Spec.Template = target.Template
	return m.writeBack(ctx, view, d)
}

// RolloutRestart replaces every pod of a Deployment, rolling, as kubectl
// does: a new annotation on the template.
func (m *Manager) RolloutRestart(ctx context.Context, namespace, name string) error {
	d, view, err := m.deployment(ctx, namespace, name)
	if err != nil {
		return err
	}
	if d.Spec.Template.Annotations == nil {
		d.Spec.Template.Annotations = map[string]string{}
	}
	d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] = time.Now().UTC().Format(time.RFC3339Nano)
	return m.writeBack(ctx, view, d)
}

// writeBack applies a Deployment read from view and changed, deciding on
// that same view (no second read of the cluster's state).
func (m *Manager) writeBack(ctx context.Context, view *state.View, d *api.Deployment) error {
	d.Default()
	if err := d.Validate(); err != nil {
		return fmt.Errorf("deployment %s: %w: %w", d.Name, err, api.ErrInvalid)
	}
	_, err := m.applyObjectsIn(ctx, view, []api.Object{d})
	return err
}

// deployment reads a Deployment from the cluster's state (see freshState),
// for undo and restart, which write it back.
func (m *Manager) deployment(ctx context.Context, namespace, name string) (*api.Deployment, *state.View, error) {
	view, err := m.freshState(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("deployment %s/%s: %w", namespace, name, err)
	}
	return deploymentIn(view, namespace, name)
}

// deploymentIn reads a Deployment from view.
func deploymentIn(view *state.View, namespace, name string) (*api.Deployment, *state.View, error) {
	if namespace == "" {
		namespace = api.DefaultNamespace
	}
	o, ok := view.Object(objectKey(api.KindDeployment, namespace, name))
	if !ok {
		return nil, nil, fmt.Errorf("deployment %s/%s: %w", namespace, name, api.ErrNotFound)
	}
	var d api.Deployment
	if err := json.Unmarshal(o.Manifest, &d); err != nil {
		return nil, nil, err
	}
	return &d, view, nil
}
