package reconcile

import (
	"testing"
)

func TestSummarize(t *testing.T) {
	initPod := pod("a1", "h1", RestartAlways, "init:setup=busybox", "web=nginx", "side=busybox")
	withRestarts := func(cs ContainerState, n int) ContainerState { cs.Restarts = n; return cs }
	ready := func(cs ContainerState, r bool) ContainerState { cs.Ready = &r; return cs }
	tests := []struct {
		name    string
		desired Desired
		actual  []Actual
		phase   Phase
		ready   bool
		restart int
	}{
		{"no pod yet", initPod, nil, PhasePending, false, 0},
		{"init container running", initPod, []Actual{have("a1", "h1", running("setup"))}, PhasePending, false, 0},
		{"init container failed, retried", initPod, []Actual{have("a1", "h1", withRestarts(exited("setup", 1, t0), 2))}, PhasePending, false, 2},
		{"init container failed under Never", pod("a1", "h1", RestartNever, "init:setup=busybox", "web=nginx"),
			[]Actual{have("a1", "h1", exited("setup", 1, t0))}, PhaseFailed, false, 0},
		{"an app container not started yet", initPod, []Actual{have("a1", "h1", exited("setup", 0, t0), running("web"))}, PhasePending, false, 0},
		{"all running", initPod, []Actual{have("a1", "h1", exited("setup", 0, t0), running("web"), withRestarts(running("side"), 3))}, PhaseRunning, true, 3},
		{"readiness says no", initPod, []Actual{have("a1", "h1", exited("setup", 0, t0), ready(running("web"), false), running("side"))}, PhaseRunning, false, 0},
		{"readiness says yes", initPod, []Actual{have("a1", "h1", ready(running("web"), true), running("side"))}, PhaseRunning, true, 0},
		{"one crashed, restarting", initPod, []Actual{have("a1", "h1", running("web"), exited("side", 1, t0))}, PhaseRunning, false, 0},
		{"all exited under Always: restarting", pod("a1", "h1", "", "job=busybox"), []Actual{have("a1", "h1", exited("job", 0, t0))}, PhaseRunning, false, 0},
		{"done under OnFailure", pod("a1", "h1", RestartOnFailure, "job=busybox"), []Actual{have("a1", "h1", exited("job", 0, t0))}, PhaseSucceeded, false, 0},
		{"failed under OnFailure: restarting", pod("a1", "h1", RestartOnFailure, "job=busybox"), []Actual{have("a1", "h1", exited("job", 1, t0))}, PhaseRunning, false, 0},
		{"done under Never", pod("a1", "h1", RestartNever, "job=busybox"), []Actual{have("a1", "h1", exited("job", 0, t0))}, PhaseSucceeded, false, 0},
		{"failed under Never", pod("a1", "h1", RestartNever, "a=busybox", "b=busybox"), []Actual{have("a1", "h1", exited("a", 0, t0), exited("b", 2, t0))}, PhaseFailed, false, 0},
		{"being replaced", initPod, []Actual{have("a1", "h0", withRestarts(running("web"), 1))}, PhasePending, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize([]Desired{tc.desired}, append(tc.actual, have("stale", "h1", running("x"))))
			if len(got) != 1 {
				t.Fatalf("got %d statuses, want 1 (stale pods are not reported): %+v", len(got), got)
			}
			s := got[0]
			if s.AllocID != "a1" || s.Phase != tc.phase || s.Ready != tc.ready || s.Restarts != tc.restart {
				t.Errorf("got %+v, want phase %s ready %v restarts %d", s, tc.phase, tc.ready, tc.restart)
			}
			if s.Phase != PhaseRunning && s.Phase != PhaseSucceeded && s.Message == "" {
				t.Errorf("%s without a message", s.Phase)
			}
		})
	}
}

func TestSummarizeSorted(t *testing.T) {
	got := Summarize([]Desired{pod("b", "h", "", "w=n"), pod("a", "h", "", "w=n"), pod("c", "h", "", "w=n")}, nil)
	if len(got) != 3 || got[0].AllocID != "a" || got[1].AllocID != "b" || got[2].AllocID != "c" {
		t.Fatalf("not sorted: %+v", got)
	}
}
