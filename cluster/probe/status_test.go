package probe

import (
	"errors"
	"testing"

	"kedge/api"
)

func TestPodReady(t *testing.T) {
	ready, unready := Status{Started: true, Live: true, Ready: true}, Status{Started: true, Live: true}
	for _, tc := range []struct {
		in   []Status
		want bool
	}{
		{nil, false},
		{[]Status{ready}, true},
		{[]Status{ready, ready}, true},
		{[]Status{ready, unready}, false},
	} {
		if got := PodReady(tc.in...); got != tc.want {
			t.Errorf("PodReady(%+v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestStatusComposition(t *testing.T) {
	p := &api.Probe{}
	var probes [numKinds]probeState
	if s := status(&probes, -1); !s.Started || !s.Live || !s.Ready {
		t.Fatalf("no probes: %+v", s)
	}
	probes[Readiness] = probeState{spec: p, set: settings{success: 1, failure: 1}}
	if s := status(&probes, -1); s.Ready {
		t.Fatalf("pending readiness: %+v, want not ready", s)
	}
	probes[Readiness].record(nil)
	probes[Liveness] = probeState{spec: p, set: settings{success: 1, failure: 2}}
	if s := status(&probes, -1); !s.Ready || !s.Live {
		t.Fatalf("pending liveness, passed readiness: %+v, want live and ready", s)
	}
	if flipped := probes[Liveness].record(errors.New("x")); flipped {
		t.Fatal("one failure of two flipped liveness")
	}
	if s := status(&probes, Liveness); s.Failures != 1 || s.LastError != "liveness: x" {
		t.Fatalf("%+v", s)
	}
	probes[Liveness].record(errors.New("y"))
	if s := status(&probes, Liveness); s.Live || s.Ready || s.LastError != "liveness: y" {
		t.Fatalf("failed liveness: %+v, want neither live nor ready", s)
	}
}
