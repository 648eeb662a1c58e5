package web

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	"kedge/api"
)

// WorkloadView is an optional capability of a ClusterView: the workloads and their pods.
//
// The cluster API finds it with a type assertion on the view it was given
// (cluster.Manager implements it), so a ClusterView without it keeps working:
// it then has no workloads. A wrapper around a view hides the capability
// unless it implements Workloads too. The rules of ClusterView apply: safe
// for concurrent use, copies the caller may keep, answered from local state.
type WorkloadView interface {
	// Workloads lists the workloads (Deployments, DaemonSets, bare Pods)
	// with the pods placed for them, in any order.
	Workloads(ctx context.Context) ([]api.WorkloadSummary, error)
}

// GetWorkloads serves GET /v1/cluster/workloads: a JSON array of
// api.WorkloadSummary sorted by namespace, name and kind, each with its pods
// (never null). A view without the WorkloadView capability answers [].
func (c *ClusterAPI) GetWorkloads(w http.ResponseWriter, r *http.Request) {
	ws, err := c.workloads(r.Context())
	if err != nil {
		writeError(w, fmt.Errorf("cluster workloads: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, ws)
}

// workloads reads the view's workloads when it has the capability: a new
// slice (the view's is not modified), sorted, with empty lists rather than
// nil ones so the JSON carries [] and not null.
func (c *ClusterAPI) workloads(ctx context.Context) ([]api.WorkloadSummary, error) {
	wv, ok := c.view.(WorkloadView)
	if !ok {
		return []api.WorkloadSummary{}, nil
	}
	ws, err := wv.Workloads(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.WorkloadSummary, len(ws))
	copy(out, ws)
	for i := range out {
		if out[i].Pods == nil {
			out[i].Pods = []api.PodSummary{}
		}
	}
	slices.SortStableFunc(out, func(a, b api.WorkloadSummary) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	return out, nil
}
