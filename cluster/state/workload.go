package state

import (
	"encoding/json"
	"time"
)

// Workloads: the objects users apply (Namespace, Pod, Deployment, DaemonSet,
// ConfigMap, Secret, ResourceQuota, stored as their manifest JSON, which
// this package does not interpret) and the allocations the scheduler makes
// of their pods to nodes, with the status nodes report.

// Workload tables.
const (
	TableObjects = "objects"
	TableAllocs  = "allocs"
)

// Object is an applied object. Key is "kind/namespace/name" (kind in
// lower case; namespace empty for Namespace objects).
type Object struct {
	Key       string `json:"key"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Generation counts changes of the spec (SpecHash); metadata-only
	// changes keep it.
	Generation int64  `json:"generation"`
	SpecHash   string `json:"spec_hash"`
	// Manifest is the object as applied (JSON), without status.
	Manifest  json.RawMessage `json:"manifest"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func (o *Object) clone() Object {
	out := *o
	out.Manifest = append(json.RawMessage(nil), o.Manifest...)
	return out
}

// Desired states of an allocation.
const (
	AllocRun  = "run"
	AllocStop = "stop"
)

// AllocStatus is what the node running an allocation reports.
type AllocStatus struct {
	// Phase is Pending, Running, Succeeded, Failed or Unknown.
	Phase    string `json:"phase"`
	Ready    bool   `json:"ready"`
	Restarts int64  `json:"restarts"`
	Message  string `json:"message,omitempty"`
	PodIP    string `json:"pod_ip,omitempty"`
	// Containers is the per-container detail (JSON), for describe.
	Containers json.RawMessage `json:"containers,omitempty"`
	// Gone is set when the node has removed a stopped allocation.
	Gone      bool      `json:"gone,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Alloc places one pod of a workload on a node.
type Alloc struct {
	ID        string `json:"id"`
	NodeID    string `json:"node_id"`
	Namespace string `json:"namespace"`
	// Name is the pod's name (web-5d8f9-x7k2p).
	Name string `json:"name"`
	// Owner is the Key of the object the pod belongs to; OwnerUID its UID.
	Owner    string `json:"owner"`
	OwnerUID string `json:"owner_uid"`
	// Revision identifies the pod template (a hash), for rollouts.
	Revision string `json:"revision"`
	// Pod is the pod's manifest (JSON), as the node runs it.
	Pod       json.RawMessage `json:"pod"`
	Desired   string          `json:"desired"`
	Status    AllocStatus     `json:"status"`
	CreatedAt time.Time       `json:"created_at"`
	// StopReason says why a stop was asked for (rescheduled, scaled down...).
	StopReason string `json:"stop_reason,omitempty"`
}

func (a *Alloc) clone() Alloc {
	out := *a
	out.Pod = append(json.RawMessage(nil), a.Pod...)
	out.Status.Containers = append(json.RawMessage(nil), a.Status.Containers...)
	return out
}

// ObjectPut (object.put) creates or updates an object.
type ObjectPut struct {
	Object Object    `json:"object"`
	At     time.Time `json:"at"`
}

// ObjectDelete (object.delete) removes an object; the allocations it owns
// are asked to stop.
type ObjectDelete struct {
	Key string    `json:"key"`
	At  time.Time `json:"at"`
}

// AllocPlan (alloc.plan) is a scheduler decision: new allocations and
// allocations to stop, applied together.
type AllocPlan struct {
	Place []Alloc           `json:"place,omitempty"`
	Stop  map[string]string `json:"stop,omitempty"` // id -> reason
	At    time.Time         `json:"at"`
}

// AllocStatusBatch (alloc.status) is a node's batch of status reports.
type AllocStatusBatch struct {
	NodeID   string                 `json:"node_id"`
	Statuses map[string]AllocStatus `json:"statuses"`
	At       time.Time              `json:"at"`
}

// AllocGC (alloc.gc) forgets stopped allocations.
type AllocGC struct {
	IDs []string `json:"ids"`
}

func (p *ObjectPut) validate() error {
	o := &p.Object
	if err := checkID("object key", o.Key); err != nil {
		return err
	}
	if o.Kind == "" || o.Name == "" || len(o.Manifest) == 0 {
		return errorf(ErrInvalid, "object %q: kind, name and manifest are required", o.Key)
	}
	if !json.Valid(o.Manifest) {
		return errorf(ErrInvalid, "object %q: the manifest is not JSON", o.Key)
	}
	return nil
}

func (p *ObjectDelete) validate() error { return checkID("object key", p.Key) }

func (p *AllocPlan) validate() error {
	for _, a := range p.Place {
		if err := checkID("alloc id", a.ID); err != nil {
			return err
		}
		if err := checkID("alloc node", a.NodeID); err != nil {
			return err
		}
		if a.Desired != AllocRun && a.Desired != AllocStop {
			return errorf(ErrInvalid, "alloc %q: desired %q, want run or stop", a.ID, a.Desired)
		}
	}
	for id := range p.Stop {
		if err := checkID("alloc id", id); err != nil {
			return err
		}
	}
	return nil
}

func (p *AllocStatusBatch) validate() error { return checkID("node id", p.NodeID) }

func (p *AllocGC) validate() error {
	for _, id := range p.IDs {
		if err := checkID("alloc id", id); err != nil {
			return err
		}
	}
	return nil
}

func applyObjectPut(w *writer, p *ObjectPut) (any, error) {
	o := p.Object.clone()
	at := utc(p.At)
	if old := w.get(TableObjects, o.Key); old != nil {
		prev := old.(*Object)
		o.UID, o.CreatedAt, o.Generation = prev.UID, prev.CreatedAt, prev.Generation
		if prev.SpecHash != o.SpecHash {
			o.Generation++
		}
	} else {
		o.CreatedAt, o.Generation = at, 1
		if err := w.event(at, "object.created", o.Key, o.Kind+" "+o.Name+" created"); err != nil {
			return nil, err
		}
	}
	o.UpdatedAt = at
	if err := w.put(TableObjects, &o); err != nil {
		return nil, err
	}
	return o.clone(), nil
}

func applyObjectDelete(w *writer, p *ObjectDelete) (any, error) {
	obj := w.get(TableObjects, p.Key)
	if obj == nil {
		return nil, errorf(ErrNotFound, "object %q: not found", p.Key)
	}
	o := obj.(*Object)
	if err := w.del(TableObjects, obj); err != nil {
		return nil, err
	}
	if err := w.stopOwned(o.Key, "owner deleted"); err != nil {
		return nil, err
	}
	return nil, w.event(utc(p.At), "object.deleted", o.Key, o.Kind+" "+o.Name+" deleted")
}

// stopOwned asks every running allocation of owner to stop.
func (w *writer) stopOwned(owner, reason string) error {
	it, err := w.txn.Get(TableAllocs, "owner", owner)
	if err != nil {
		return errorf(ErrInternal, "allocs of %s: %v", owner, err)
	}
	var stop []Alloc
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if a := obj.(*Alloc); a.Desired == AllocRun {
			stop = append(stop, a.clone())
		}
	}
	for i := range stop {
		stop[i].Desired, stop[i].StopReason = AllocStop, reason
		if err := w.put(TableAllocs, &stop[i]); err != nil {
			return err
		}
	}
	return nil
}

func applyAllocPlan(w *writer, p *AllocPlan) (any, error) {
	at := utc(p.At)
	for id, reason := range p.Stop {
		obj := w.get(TableAllocs, id)
		if obj == nil {
			continue // already gone
		}
		a := obj.(*Alloc).clone()
		if a.Desired == AllocStop {
			continue
		}
		a.Desired, a.StopReason = AllocStop, reason
		if err := w.put(TableAllocs, &a); err != nil {
			return nil, err
		}
		if err := w.event(at, "pod.stopping", a.Namespace+"/"+a.Name, "stopping pod "+a.Name+": "+reason); err != nil {
			return nil, err
		}
	}
	for _, a := range p.Place {
		if w.get(TableAllocs, a.ID) != nil {
			return nil, errorf(ErrExists, "alloc %q: already exists", a.ID)
		}
		a := a.clone()
		a.CreatedAt = at
		if a.Status.Phase == "" {
			a.Status = AllocStatus{Phase: "Pending", UpdatedAt: at}
		}
		if err := w.put(TableAllocs, &a); err != nil {
			return nil, err
		}
		node := a.NodeID
		if n := w.node(a.NodeID); n != nil {
			node = n.Name
		}
		if err := w.event(at, "pod.scheduled", a.Namespace+"/"+a.Name, "pod "+a.Name+" scheduled on "+node); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func applyAllocStatus(w *writer, p *AllocStatusBatch) (any, error) {
	at := utc(p.At)
	for id, st := range p.Statuses {
		obj := w.get(TableAllocs, id)
		if obj == nil {
			continue
		}
		a := obj.(*Alloc).clone()
		if a.NodeID != p.NodeID {
			continue // only the node running it reports it
		}
		st.UpdatedAt = at
		st.Containers = append(json.RawMessage(nil), st.Containers...)
		if a.Status.Phase != st.Phase {
			msg := "pod " + a.Name + " is " + st.Phase
			if st.Message != "" {
				msg += ": " + st.Message
			}
			if err := w.event(at, "pod."+st.Phase, a.Namespace+"/"+a.Name, msg); err != nil {
				return nil, err
			}
		}
		a.Status = st
		if err := w.put(TableAllocs, &a); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func applyAllocGC(w *writer, p *AllocGC) (any, error) {
	for _, id := range p.IDs {
		if obj := w.get(TableAllocs, id); obj != nil && obj.(*Alloc).Desired == AllocStop {
			if err := w.del(TableAllocs, obj); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// Objects lists the objects of a kind ("" for all), by key.
func (v *View) Objects(kind string) []Object {
	if kind == "" {
		return rows[Object](v.txn, TableObjects, "id")
	}
	return rows[Object](v.txn, TableObjects, "kind", kind)
}

// Object returns one object by key.
func (v *View) Object(key string) (Object, bool) { return row[Object](v.txn, TableObjects, "id", key) }

// Allocs lists every allocation.
func (v *View) Allocs() []Alloc { return rows[Alloc](v.txn, TableAllocs, "id") }

// AllocsOnNode lists the allocations of a node.
func (v *View) AllocsOnNode(nodeID string) []Alloc {
	return rows[Alloc](v.txn, TableAllocs, "node", nodeID)
}

// AllocsOf lists the allocations of an owner (an object key).
func (v *View) AllocsOf(owner string) []Alloc { return rows[Alloc](v.txn, TableAllocs, "owner", owner) }

// Alloc returns one allocation.
func (v *View) Alloc(id string) (Alloc, bool) { return row[Alloc](v.txn, TableAllocs, "id", id) }

// PutObject encodes object.put.
func PutObject(o Object, at time.Time) ([]byte, error) {
	return Encode(CmdObjectPut, ObjectPut{Object: o, At: at})
}

// DeleteObject encodes object.delete.
func DeleteObject(key string, at time.Time) ([]byte, error) {
	return Encode(CmdObjectDelete, ObjectDelete{Key: key, At: at})
}

// PlanAllocs encodes alloc.plan.
func PlanAllocs(place []Alloc, stop map[string]string, at time.Time) ([]byte, error) {
	return Encode(CmdAllocPlan, AllocPlan{Place: place, Stop: stop, At: at})
}

// ReportAllocs encodes alloc.status.
func ReportAllocs(nodeID string, statuses map[string]AllocStatus, at time.Time) ([]byte, error) {
	return Encode(CmdAllocStatus, AllocStatusBatch{NodeID: nodeID, Statuses: statuses, At: at})
}

// CollectAllocs encodes alloc.gc.
func CollectAllocs(ids []string) ([]byte, error) { return Encode(CmdAllocGC, AllocGC{IDs: ids}) }
