package state

import (
	"encoding/json"
	"testing"
	"time"
)

func TestWorkloadObjectsAndAllocs(t *testing.T) {
	h := newHarness(t).base()
	at := t0.Add(time.Minute)
	obj := Object{Key: "deployment/default/web", Kind: "Deployment", Namespace: "default", Name: "web", UID: "u1", SpecHash: "h1",
		Manifest: json.RawMessage(`{"kind":"Deployment","spec":{"replicas":2}}`)}
	h.ok(PutObject(obj, at))
	obj.Manifest = json.RawMessage(`{"kind":"Deployment","metadata":{"labels":{"a":"b"}},"spec":{"replicas":2}}`)
	h.ok(PutObject(obj, at)) // same spec hash: same generation
	v := h.f.State()
	if o, ok := v.Object(obj.Key); !ok || o.Generation != 1 || o.UID != "u1" {
		t.Fatalf("after a metadata change: %+v", o)
	}
	obj.SpecHash, obj.UID = "h2", "ignored"
	h.ok(PutObject(obj, at))
	if o, _ := h.f.State().Object(obj.Key); o.Generation != 2 || o.UID != "u1" {
		t.Fatalf("after a spec change: generation %d uid %s, want 2 and the first uid", o.Generation, o.UID)
	}
	if got := len(h.f.State().Objects("deployment")); got != 1 {
		t.Fatalf("objects of kind deployment: %d", got)
	}
	place := []Alloc{
		{ID: "a1", NodeID: "n1", Namespace: "default", Name: "web-1", Owner: obj.Key, Desired: AllocRun, Pod: json.RawMessage(`{}`)},
		{ID: "a2", NodeID: "n2", Namespace: "default", Name: "web-2", Owner: obj.Key, Desired: AllocRun, Pod: json.RawMessage(`{}`)},
	}
	h.ok(PlanAllocs(place, nil, at))
	wantErr(t, h.apply(PlanAllocs(place[:1], nil, at)), ErrExists)
	if got := h.f.State().AllocsOnNode("n1"); len(got) != 1 || got[0].Status.Phase != "Pending" {
		t.Fatalf("allocs on n1: %+v", got)
	}
	// Only the node running an allocation reports its status.
	h.ok(ReportAllocs("n2", map[string]AllocStatus{"a1": {Phase: "Running"}, "a2": {Phase: "Running", Ready: true}}, at))
	if a, _ := h.f.State().Alloc("a1"); a.Status.Phase != "Pending" {
		t.Fatalf("n2 changed a1's status: %+v", a.Status)
	}
	if a, _ := h.f.State().Alloc("a2"); a.Status.Phase != "Running" || !a.Status.Ready {
		t.Fatalf("a2 status: %+v", a.Status)
	}
	// A stop in a plan; GC forgets only stopped allocations.
	h.ok(PlanAllocs(nil, map[string]string{"a1": "rescheduled"}, at))
	h.ok(CollectAllocs([]string{"a1", "a2"}))
	if _, ok := h.f.State().Alloc("a1"); ok {
		t.Fatal("a stopped alloc survived gc")
	}
	if _, ok := h.f.State().Alloc("a2"); !ok {
		t.Fatal("gc removed a running alloc")
	}
	// Deleting the owner stops what it owns.
	h.ok(DeleteObject(obj.Key, at))
	if a, _ := h.f.State().Alloc("a2"); a.Desired != AllocStop || a.StopReason == "" {
		t.Fatalf("after the owner's deletion: %+v", a)
	}
	wantErr(t, h.apply(DeleteObject(obj.Key, at)), ErrNotFound)
	wantErr(t, h.apply(PutObject(Object{Key: "x"}, at)), ErrInvalid)
}
