package cluster

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"kedge/api"
	"kedge/cluster/state"
)

// ResourceQuota: a namespace's workloads may ask for no more than its
// quotas allow. Checked when objects are applied, against what the
// namespace's workloads would want once the change is in (a Deployment
// counts replicas × its pod, a DaemonSet one pod per node, a Pod one).

// usage is what a namespace's workloads want, by quota resource.
type usage map[string]int64

func (u usage) add(spec *api.PodSpec, n int64) {
	var reqCPU, reqMem, limCPU, limMem int64
	for _, c := range spec.Containers {
		reqCPU += c.Resources.Requests[api.ResourceCPU].MilliValue()
		reqMem += c.Resources.Requests[api.ResourceMemory].Value()
		limCPU += c.Resources.Limits[api.ResourceCPU].MilliValue()
		limMem += c.Resources.Limits[api.ResourceMemory].Value()
	}
	u[api.QuotaRequestsCPU] += n * reqCPU
	u[api.QuotaCPU] += n * reqCPU
	u[api.QuotaRequestsMemory] += n * reqMem
	u[api.QuotaMemory] += n * reqMem
	u[api.QuotaLimitsCPU] += n * limCPU
	u[api.QuotaLimitsMemory] += n * limMem
	u[api.QuotaPods] += n
}

// workloadUse is what one workload object wants.
func workloadUse(kind string, manifest []byte, nodes int64, u usage) {
	switch kind {
	case api.KindDeployment:
		var d api.Deployment
		if json.Unmarshal(manifest, &d) == nil {
			d.Default()
			u.add(&d.Spec.Template.Spec, int64(*d.Spec.Replicas))
		}
	case api.KindDaemonSet:
		var ds api.DaemonSet
		if json.Unmarshal(manifest, &ds) == nil {
			u.add(&ds.Spec.Template.Spec, nodes)
		}
	case api.KindPod:
		var p api.ClusterPod
		if json.Unmarshal(manifest, &p) == nil {
			u.add(&p.Spec, 1)
		}
	}
}

// checkQuotas refuses a change that would take a namespace past a quota:
// pending are the objects being applied, by key, as manifests.
func checkQuotas(view *state.View, pending map[string]api.Object) error {
	nodes := int64(len(view.Nodes()))
	quotas := map[string][]api.ResourceQuota{} // namespace -> quotas
	for _, o := range view.Objects("resourcequota") {
		if _, replaced := pending[o.Key]; replaced {
			continue
		}
		var q api.ResourceQuota
		if json.Unmarshal(o.Manifest, &q) == nil {
			quotas[o.Namespace] = append(quotas[o.Namespace], q)
		}
	}
	touched := map[string]bool{}
	for _, obj := range pending {
		meta := obj.GetObjectMeta()
		touched[meta.Namespace] = true
		if q, ok := obj.(*api.ResourceQuota); ok {
			quotas[meta.Namespace] = append(quotas[meta.Namespace], *q)
		}
	}
	var problems []string
	for ns := range touched {
		if len(quotas[ns]) == 0 {
			continue
		}
		use := usage{}
		for _, o := range view.Objects("") {
			if o.Namespace != ns {
				continue
			}
			if _, replaced := pending[o.Key]; !replaced {
				workloadUse(o.Kind, o.Manifest, nodes, use)
			}
		}
		for _, obj := range pending {
			if obj.GetObjectMeta().Namespace != ns {
				continue
			}
			raw, _ := json.Marshal(obj)
			workloadUse(obj.GetKind(), raw, nodes, use)

		}
		for _, q := range quotas[ns] {
			res := make([]string, 0, len(q.Spec.Hard))
			for r := range q.Spec.Hard {
				res = append(res, r)
			}
			sort.Strings(res)
			for _, r := range res {
				hard := q.Spec.Hard[r]
				limit := hard.Value()
				if strings.HasSuffix(r, "cpu") || r == api.QuotaCPU {
					limit = hard.MilliValue()
				}
				if got, ok := use[r]; ok && got > limit {
					problems = append(problems, fmt.Sprintf("namespace %s: %s would be %s, over the %s of quota %s",
						ns, r, show(r, got), hard.String(), q.Name))
				}
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("exceeded quota: %s: %w", strings.Join(problems, "; "), api.ErrConflict)
	}
	return nil
}

func show(resource string, v int64) string {
	switch {
	case strings.HasSuffix(resource, "cpu"):
		return api.NewMilliQuantity(v).String()
	case strings.HasSuffix(resource, "memory"):
		return api.NewBinaryQuantity(v).String()
	}
	return fmt.Sprint(v)
}
