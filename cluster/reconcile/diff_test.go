package reconcile

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// pod builds a desired alloc; containers are "name=image", "init:name=image".
func pod(alloc, hash string, policy RestartPolicy, containers ...string) Desired {
	d := Desired{AllocID: alloc, Pod: PodSpec{Name: "p-" + alloc, Namespace: "default", Hash: hash, RestartPolicy: policy}}
	for _, c := range containers {
		init := strings.HasPrefix(c, "init:")
		name, image, _ := strings.Cut(strings.TrimPrefix(c, "init:"), "=")
		d.Pod.Containers = append(d.Pod.Containers, ContainerSpec{Name: name, Image: image, Init: init})
	}
	return d
}

func running(name string) ContainerState {
	return ContainerState{Name: name, ID: "id-" + name, Running: true, StartedAt: t0.Add(-time.Hour)}
}

func exited(name string, code int, at time.Time) ContainerState {
	return ContainerState{Name: name, ID: "id-" + name, ExitCode: code, StartedAt: at.Add(-time.Minute), FinishedAt: at}
}

func have(alloc, hash string, cs ...ContainerState) Actual {
	return Actual{AllocID: alloc, SandboxExists: true, SpecHash: hash, Containers: cs}
}

// brief renders an action for comparison: "Kind alloc[/container][ image][ #attempt][ +wait]".
func brief(a Action, now time.Time) string {
	s := string(a.Kind) + " " + a.AllocID
	if a.Container != "" && a.Kind != EnsureImage {
		s += "/" + a.Container
	}
	if a.Kind == EnsureImage {
		s += " " + a.Image
	}
	if a.Attempt != 0 {
		s += fmt.Sprintf(" #%d", a.Attempt)
	}
	if !a.NotBefore.IsZero() {
		s += " +" + a.NotBefore.Sub(now).String()
	}
	return s
}

func briefs(as []Action, now time.Time) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, brief(a, now))
	}
	return out
}

func connected(now time.Time) NodeContext { return NodeContext{Now: now, ConnectedToLeader: true} }

func TestDiff(t *testing.T) {
	web := pod("a1", "h1", RestartAlways, "init:setup=busybox", "init:migrate=tools", "web=nginx", "side=busybox")
	app := pod("a1", "h1", RestartAlways, "web=nginx")
	cutOff := func(since, stopAfter time.Duration) NodeContext {
		return NodeContext{Now: t0, CutOffSince: t0.Add(-since), StopAfter: map[string]time.Duration{"a1": stopAfter}}
	}
	tests := []struct {
		name    string
		desired []Desired
		actual  []Actual
		ctx     NodeContext
		backoff BackoffState
		want    []string
	}{
		{
			name:    "fresh start: images, sandbox, first init container",
			desired: []Desired{web},
			want:    []string{"EnsureImage a1 busybox", "EnsureImage a1 tools", "EnsureImage a1 nginx", "CreatePod a1", "StartContainer a1/setup"},
		},
		{
			name:    "fresh start without init containers starts every app container",
			desired: []Desired{pod("a1", "h1", "", "web=nginx", "side=busybox")},
			want:    []string{"EnsureImage a1 nginx", "EnsureImage a1 busybox", "CreatePod a1", "StartContainer a1/web", "StartContainer a1/side"},
		},
		{
			name:    "init: wait while the first runs",
			desired: []Desired{web},
			actual:  []Actual{have("a1", "h1", running("setup"))},
		},
		{
			name:    "init: the second after the first succeeded",
			desired: []Desired{web},
			actual:  []Actual{have("a1", "h1", exited("setup", 0, t0))},
			want:    []string{"EnsureImage a1 tools", "StartContainer a1/migrate"},
		},
		{
			name:    "init: app containers after all succeeded",
			desired: []Desired{web},
			actual:  []Actual{have("a1", "h1", exited("setup", 0, t0), exited("migrate", 0, t0))},
			want:    []string{"EnsureImage a1 nginx", "StartContainer a1/web", "EnsureImage a1 busybox", "StartContainer a1/side"},
		},
		{
			name:    "init: a failed one is retried at once, the next waits",
			desired: []Desired{web},
			actual:  []Actual{have("a1", "h1", exited("setup", 0, t0), exited("migrate", 1, t0.Add(-3*time.Second)))},
			want:    []string{"RestartContainer a1/migrate #1"},
		},
		{
			name:    "init: a failed one's second retry waits",
			desired: []Desired{web},
			actual:  []Actual{have("a1", "h1", exited("setup", 0, t0), exited("migrate", 1, t0.Add(-3*time.Second)))},
			backoff: BackoffState{{"a1", "migrate"}: {Restarts: 1, LastRestart: t0.Add(-4 * time.Second)}},
			want:    []string{"RestartContainer a1/migrate #2 +7s"},
		},
		{
			name:    "init: under Never a failed one fails the pod",
			desired: []Desired{pod("a1", "h1", RestartNever, "init:setup=busybox", "web=nginx")},
			actual:  []Actual{have("a1", "h1", exited("setup", 2, t0.Add(-time.Hour)))},
		},
		{
			name:    "init: exit 0 is done even under Always",
			desired: []Desired{pod("a1", "h1", RestartAlways, "init:setup=busybox")},
			actual:  []Actual{have("a1", "h1", exited("setup", 0, t0.Add(-time.Hour)))},
		},
		{
			name:    "init: not re-run once app containers exist",
			desired: []Desired{web},
			actual:  []Actual{have("a1", "h1", running("web"), running("side"))},
		},
		{
			name:    "crash: the first restart is immediate",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", exited("web", 1, t0))},
			want:    []string{"RestartContainer a1/web #1"},
		},
		{
			name:    "crash: the second restart waits 10s from the exit",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", exited("web", 1, t0.Add(-4*time.Second)))},
			backoff: BackoffState{{"a1", "web"}: {Restarts: 1, LastRestart: t0.Add(-5 * time.Second)}},
			want:    []string{"RestartContainer a1/web #2 +6s"},
		},
		{
			name:    "crash: due once the back-off has passed",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", exited("web", 1, t0.Add(-10*time.Second)))},
			backoff: BackoffState{{"a1", "web"}: {Restarts: 1, LastRestart: t0.Add(-11 * time.Second)}},
			want:    []string{"RestartContainer a1/web #2"},
		},
		{
			name:    "crash: the fourth consecutive restart waits 40s",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", exited("web", 1, t0))},
			backoff: BackoffState{{"a1", "web"}: {Restarts: 3, LastRestart: t0.Add(-time.Minute)}},
			want:    []string{"RestartContainer a1/web #4 +40s"},
		},
		{
			name:    "crash: the back-off is capped at 5 minutes",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", exited("web", 1, t0))},
			backoff: BackoffState{{"a1", "web"}: {Restarts: 12, LastRestart: t0.Add(-time.Minute)}},
			want:    []string{"RestartContainer a1/web #13 +5m0s"},
		},
		{
			name:    "crash: 10 minutes of running reset the back-off (recorded restart time)",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", ContainerState{Name: "web", ID: "id-web", ExitCode: 1, FinishedAt: t0})},
			backoff: BackoffState{{"a1", "web"}: {Restarts: 6, LastRestart: t0.Add(-10 * time.Minute)}},
			want:    []string{"RestartContainer a1/web #1"},
		},
		{
			name:    "crash: 10 minutes of running reset the back-off (engine's start time)",
			desired: []Desired{app},
			actual: []Actual{have("a1", "h1", ContainerState{Name: "web", ID: "id-web", ExitCode: 1,
				StartedAt: t0.Add(-11 * time.Minute), FinishedAt: t0})},
			backoff: BackoffState{{"a1", "web"}: {Restarts: 6, LastRestart: t0.Add(-30 * time.Minute)}},
			want:    []string{"RestartContainer a1/web #1"},
		},
		{
			name:    "crash: 9 minutes of running do not",
			desired: []Desired{app},
			actual: []Actual{have("a1", "h1", ContainerState{Name: "web", ID: "id-web", ExitCode: 1,
				StartedAt: t0.Add(-9 * time.Minute), FinishedAt: t0})},
			backoff: BackoffState{{"a1", "web"}: {Restarts: 2, LastRestart: t0.Add(-9 * time.Minute)}},
			want:    []string{"RestartContainer a1/web #3 +20s"},
		},
		{
			name:    "crash: unknown exit time restarts now",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", ContainerState{Name: "web", ID: "id-web", ExitCode: 1, StartedAt: t0.Add(-time.Hour)})},
			want:    []string{"RestartContainer a1/web #1"},
		},
		{
			name:    "liveness: a failed check kills the container",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", ContainerState{Name: "web", ID: "id-web", Running: true, Healthy: ptr(false)})},
			want:    []string{"KillContainer a1/web"},
		},
		{
			name:    "liveness: a passing check does nothing",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", ContainerState{Name: "web", ID: "id-web", Running: true, Healthy: ptr(true)})},
		},
		{
			name:    "spec change replaces the pod and starts again",
			desired: []Desired{web},
			actual:  []Actual{have("a1", "h0", running("web"), running("side"))},
			want:    []string{"ReplacePod a1", "EnsureImage a1 busybox", "EnsureImage a1 tools", "EnsureImage a1 nginx", "StartContainer a1/setup"},
		},
		{
			name:    "a lost sandbox replaces the pod",
			desired: []Desired{app},
			actual:  []Actual{{AllocID: "a1", SpecHash: "h1", Containers: []ContainerState{running("web")}}},
			want:    []string{"ReplacePod a1", "EnsureImage a1 nginx", "StartContainer a1/web"},
		},
		{
			name:    "a container not in the spec replaces the pod",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", running("web"), running("old"))},
			want:    []string{"ReplacePod a1", "EnsureImage a1 nginx", "StartContainer a1/web"},
		},
		{
			name:    "stale allocs are stopped and removed before anything is created",
			desired: []Desired{pod("a1", "h1", "", "web=nginx")},
			actual:  []Actual{have("z9", "h1", running("web")), have("b2", "h1", exited("web", 0, t0))},
			want:    []string{"RemovePod b2", "StopPod z9", "RemovePod z9", "EnsureImage a1 nginx", "CreatePod a1", "StartContainer a1/web"},
		},
		{
			name:    "replacements come after removals and before creations",
			desired: []Desired{pod("a1", "h1", "", "web=nginx"), pod("b2", "h2", "", "web=nginx")},
			actual:  []Actual{have("b2", "h1", running("web")), have("c3", "h1", running("web"))},
			want: []string{"StopPod c3", "RemovePod c3", "ReplacePod b2", "EnsureImage a1 nginx", "CreatePod a1",
				"StartContainer a1/web", "EnsureImage b2 nginx", "StartContainer b2/web"},
		},
		{
			name:    "cut off for less than stop-after: business as usual",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", exited("web", 1, t0.Add(-time.Minute)))},
			ctx:     cutOff(time.Hour, 2*time.Hour),
			want:    []string{"RestartContainer a1/web #1"},
		},
		{
			name:    "cut off for longer than stop-after: stopped",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", running("web"))},
			ctx:     cutOff(3*time.Hour, 2*time.Hour),
			want:    []string{"StopPod a1"},
		},
		{
			name:    "cut off past stop-after: not restarted",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", exited("web", 143, t0.Add(-time.Hour)))},
			ctx:     cutOff(3*time.Hour, 2*time.Hour),
		},
		{
			name:    "cut off past stop-after: not created (a reboot while cut off)",
			desired: []Desired{app},
			ctx:     cutOff(3*time.Hour, 2*time.Hour),
		},
		{
			name:    "cut off past stop-after: not replaced",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h0", exited("web", 143, t0.Add(-time.Hour)))},
			ctx:     cutOff(3*time.Hour, 2*time.Hour),
		},
		{
			name:    "cut off: allocs without stop-after keep going",
			desired: []Desired{pod("b2", "h1", "", "web=nginx")},
			actual:  []Actual{have("b2", "h1", exited("web", 1, t0.Add(-time.Minute)))},
			ctx:     cutOff(3*time.Hour, 2*time.Hour),
			want:    []string{"RestartContainer b2/web #1"},
		},
		{
			name:    "cut off since an unknown time: stop-after cannot fire",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", running("web"))},
			ctx:     NodeContext{Now: t0, StopAfter: map[string]time.Duration{"a1": time.Second}},
		},
		{
			name:    "reconnected: a pod stopped by stop-after restarts",
			desired: []Desired{app},
			actual:  []Actual{have("a1", "h1", exited("web", 143, t0.Add(-time.Hour)))},
			ctx:     NodeContext{Now: t0, ConnectedToLeader: true, StopAfter: map[string]time.Duration{"a1": time.Second}},
			want:    []string{"RestartContainer a1/web #1"},
		},
		{
			name:    "steady state: nothing to do",
			desired: []Desired{web, pod("b2", "h1", RestartNever, "job=busybox")},
			actual: []Actual{
				have("a1", "h1", exited("setup", 0, t0), exited("migrate", 0, t0), running("web"), running("side")),
				have("b2", "h1", exited("job", 0, t0)),
			},
		},
		{
			name:    "duplicate desired: the higher generation wins",
			desired: []Desired{{AllocID: "a1", Generation: 2, Pod: app.Pod}, {AllocID: "a1", Generation: 1, Pod: pod("a1", "h0", "", "x=y").Pod}},
			actual:  []Actual{have("a1", "h1", running("web"))},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx.Now.IsZero() {
				ctx = connected(t0)
			}
			backoff := tc.backoff
			if backoff == nil {
				backoff = BackoffState{}
			}
			before := maps.Clone(backoff)
			got := Diff(tc.desired, tc.actual, ctx, backoff)
			if !slices.Equal(briefs(got, t0), append([]string{}, tc.want...)) {
				t.Errorf("Diff:\n got %q\nwant %q", briefs(got, t0), tc.want)
			}
			if !maps.Equal(before, backoff) {
				t.Errorf("Diff changed the back-off state")
			}
			checkActions(t, got, ctx.Now)
			for _, a := range got {
				if a.Reason == "" {
					t.Errorf("%v has no reason", a)
				}
			}
		})
	}
}

// TestDiffOrderIndependent: Diff's output does not depend on input order.
func TestDiffOrderIndependent(t *testing.T) {
	desired := []Desired{pod("c", "h", "", "w=n"), pod("a", "h", "", "w=n"), pod("b", "h", "", "init:i=b", "w=n")}
	actual := []Actual{have("x", "h", running("w")), have("b", "old"), have("y", "h")}
	want := Diff(desired, actual, connected(t0), BackoffState{})
	slices.Reverse(desired)
	slices.Reverse(actual)
	if got := Diff(desired, actual, connected(t0), BackoffState{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("order matters:\n%v\n%v", got, want)
	}
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy  RestartPolicy
		code    int
		restart bool
	}{
		{RestartAlways, 0, true}, {RestartAlways, 1, true}, {"", 0, true},
		{RestartOnFailure, 0, false}, {RestartOnFailure, 3, true},
		{RestartNever, 0, false}, {RestartNever, 1, false},
	} {
		d := pod("a1", "h1", tc.policy, "web=nginx")
		got := Diff([]Desired{d}, []Actual{have("a1", "h1", exited("web", tc.code, t0.Add(-time.Hour)))}, connected(t0), BackoffState{})
		if restarted := len(got) == 1 && got[0].Kind == RestartContainer; restarted != tc.restart || len(got) > 1 {
			t.Errorf("policy %q exit %d: got %v, want restart=%v", tc.policy, tc.code, got, tc.restart)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := BackoffDelay(i + 1); got != w {
			t.Errorf("BackoffDelay(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := BackoffDelay(1 << 30); got != BackoffMax {
		t.Errorf("BackoffDelay(huge) = %s", got)
	}
}

// TestBackoffSequence walks a container that crashes right after every
// restart through Diff and Record: at once, then 10s, 20s, 40s ... 5m, 5m;
// then it runs for 10 minutes and the next crash is restarted at once again.
func TestBackoffSequence(t *testing.T) {
	d := []Desired{pod("a1", "h1", "", "web=nginx")}
	b := BackoffState{}
	now := t0
	var waits []time.Duration
	for range 8 {
		crash := now.Add(time.Second)
		act := []Actual{have("a1", "h1", ContainerState{Name: "web", ID: "x", ExitCode: 1, FinishedAt: crash})}
		got := Diff(d, act, connected(crash), b)
		if len(got) != 1 || got[0].Due(crash) != (len(waits) == 0) {
			t.Fatalf("at crash %d: %v", len(waits)+1, got)
		}
		now = crash
		if !got[0].NotBefore.IsZero() {
			now = got[0].NotBefore
		}
		waits = append(waits, now.Sub(crash))
		got = Diff(d, act, connected(now), b)
		if len(got) != 1 || !got[0].Due(now) {
			t.Fatalf("when due: %v", got)
		}
		b.Record(got[0], now)
	}
	want := []time.Duration{0, 10, 20, 40, 80, 160, 300, 300}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	crash := now.Add(BackoffReset)
	act := []Actual{have("a1", "h1", ContainerState{Name: "web", ID: "x", ExitCode: 1, FinishedAt: crash})}
	if got := Diff(d, act, connected(crash), b); len(got) != 1 || got[0].Attempt != 1 || !got[0].Due(crash) {
		t.Fatalf("after a long run: %v", got)
	}
	b.Record(Action{Kind: ReplacePod, AllocID: "a1"}, now)
	if len(b) != 0 {
		t.Fatalf("a replaced pod keeps its history: %v", b)
	}
	b.Record(Action{Kind: RestartContainer, AllocID: "a1", Container: "web", Attempt: 2}, now)
	b.Prune(nil)
	if len(b) != 0 {
		t.Fatalf("Prune kept %v", b)
	}
}

// checkActions asserts the invariants every Diff output holds.
func checkActions(t *testing.T, as []Action, now time.Time) {
	t.Helper()
	group := func(a Action) int {
		switch a.Kind {
		case StopPod, RemovePod, KillContainer:
			return 0
		case ReplacePod:
			return 1
		}
		if !a.Due(now) {
			return 3
		}
		return 2
	}
	type allocSeen struct {
		lifecycle []ActionKind // CreatePod, ReplacePod, RemovePod
		stop      bool
		bringUp   bool
		images    map[string]bool
		sandbox   bool // created or replaced in this round
	}
	seen := map[string]*allocSeen{}
	last := 0
	for i, a := range as {
		if g := group(a); g < last {
			t.Errorf("action %d %v out of order (group %d after %d)", i, a, g, last)
		} else {
			last = g
		}
		if !a.NotBefore.IsZero() && !a.NotBefore.After(now) {
			t.Errorf("%v: a due action carries NotBefore", a)
		}
		if !a.NotBefore.IsZero() && a.Kind != RestartContainer {
			t.Errorf("%v: only restarts wait", a)
		}
		s := seen[a.AllocID]
		if s == nil {
			s = &allocSeen{images: map[string]bool{}}
			seen[a.AllocID] = s
		}
		switch a.Kind {
		case CreatePod, ReplacePod, RemovePod:
			s.lifecycle = append(s.lifecycle, a.Kind)
			s.sandbox = a.Kind != RemovePod
			if a.Kind != RemovePod && (a.Pod == nil || a.Pod.Hash == "") {
				t.Errorf("%v without a pod spec", a)
			}
		case StopPod:
			s.stop = true
		case EnsureImage:
			if s.images[a.Image] {
				t.Errorf("%v twice", a)
			}
			s.images[a.Image] = true
			s.bringUp = true
		case StartContainer:
			if !s.images[a.Image] {
				t.Errorf("%v before its image", a)
			}
			s.bringUp = true
		case RestartContainer:
			if a.Attempt < 1 || a.ContainerID == "" {
				t.Errorf("%v: attempt %d, id %q", a, a.Attempt, a.ContainerID)
			}
			s.bringUp = true
		}
	}
	for id, s := range seen {
		if len(s.lifecycle) > 1 {
			t.Errorf("alloc %s: %v in one round", id, s.lifecycle)
		}
		if s.stop && (s.bringUp || s.sandbox) {
			t.Errorf("alloc %s: stopped and started in one round", id)
		}
	}
}
