package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeUpstream is the control plane as AutonomousSource sees it.
type fakeUpstream struct {
	mu      sync.Mutex
	snap    Snapshot
	down    bool
	changed chan struct{}
}

func newFakeUpstream(d ...Desired) *fakeUpstream {
	return &fakeUpstream{snap: Snapshot{Desired: d}, changed: make(chan struct{}, 1)}
}

func (u *fakeUpstream) Fetch(context.Context) (Snapshot, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.down {
		return Snapshot{}, errors.New("no leader")
	}
	s := u.snap
	s.Desired = slices.Clone(s.Desired)
	return s, nil
}

func (u *fakeUpstream) Changed() <-chan struct{} { return u.changed }

func (u *fakeUpstream) set(down bool, stopAfter map[string]time.Duration, d ...Desired) {
	u.mu.Lock()
	u.down = down
	if !down {
		u.snap = Snapshot{Desired: d, StopAfter: stopAfter}
	}
	u.mu.Unlock()
	select {
	case u.changed <- struct{}{}:
	default:
	}
}

// TestEdgeAutonomy drives Run with an AutonomousSource through a cut-off:
// the node keeps restarting its pods from the local copy, stops an alloc
// once its stop-after has passed, and when the control plane is back removes
// what was rescheduled elsewhere.
func TestEdgeAutonomy(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		a1, a2 := pod("a1", "h1", "", "web=nginx"), pod("a2", "h1", "", "web=nginx")
		up := newFakeUpstream(a1, a2)
		up.snap.StopAfter = map[string]time.Duration{"a1": time.Minute}
		store := NewLocalStore(filepath.Join(dir, "desired.json"))
		src, err := NewAutonomousSource(up, store, SystemClock{}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		eng, rep := newFakeEngine(time.Now), &fakeReporter{now: time.Now}
		stop := startRun(t, eng, src, rep, SystemClock{})
		synctest.Wait()
		if !eng.running("a1", "web") || !eng.running("a2", "web") {
			t.Fatalf("not started: %+v", eng.actual())
		}
		if saved, err := store.Load(); err != nil || len(saved.Desired) != 2 {
			t.Fatalf("saved %+v, %v", saved, err)
		}

		// Cut off: crashed containers still restart from the local copy.
		up.set(true, nil)
		cutAt := time.Now()
		time.Sleep(20 * time.Second)
		eng.crash("a2", "web", 1)
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if !eng.running("a1", "web") || !eng.running("a2", "web") {
			t.Fatalf("cut off for %s: %+v", time.Since(cutAt), eng.actual())
		}
		if nc := src.NodeContext(time.Now()); nc.ConnectedToLeader || nc.CutOffSince.IsZero() || nc.CutOffSince.After(cutAt) {
			t.Fatalf("node context %+v", nc)
		}

		// Past a1's stop-after (a minute; a round a second): a1 stops, and
		// stays stopped; a2 keeps running.
		time.Sleep(time.Minute - 35*time.Second + 2*time.Second)
		synctest.Wait()
		if eng.running("a1", "web") || !eng.running("a2", "web") || !eng.has("a1") {
			t.Fatalf("after stop-after: %+v", eng.actual())
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if eng.running("a1", "web") {
			t.Fatal("a1 restarted while cut off")
		}

		// Back: a1 was rescheduled elsewhere; its stale copy goes.
		up.set(false, nil, a2)
		synctest.Wait()
		if eng.has("a1") || !eng.running("a2", "web") {
			t.Fatalf("after return: %+v", eng.actual())
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}

// TestAutonomousSourceReboot: rebooted while cut off, the node serves the
// saved set and counts the cut-off from the saved contact time.
func TestAutonomousSourceReboot(t *testing.T) {
	store := NewLocalStore(filepath.Join(t.TempDir(), "desired.json"))
	a1, a2 := pod("a1", "h1", "", "web=nginx"), pod("a2", "h1", "", "web=nginx")
	contact := t0.Add(-2 * time.Hour)
	if err := store.Save(Snapshot{Desired: []Desired{a1, a2}, StopAfter: map[string]time.Duration{"a1": time.Hour}, Contact: contact}); err != nil {
		t.Fatal(err)
	}
	up := newFakeUpstream()
	up.down = true
	clk := fixedClock(t0)
	src, err := NewAutonomousSource(up, store, clk, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	desired, err := src.Desired(t.Context())
	if err != nil || len(desired) != 2 {
		t.Fatalf("Desired: %v, %v", desired, err)
	}
	nc := src.NodeContext(t0)
	if nc.ConnectedToLeader || !nc.CutOffSince.Equal(contact) || nc.StopAfter["a1"] != time.Hour {
		t.Fatalf("node context %+v", nc)
	}
	// The engine lost its pods in the reboot: a2 comes back, a1 (past its
	// stop-after) does not.
	got := briefs(Diff(desired, nil, nc, BackoffState{}), t0)
	want := []string{"EnsureImage a2 nginx", "CreatePod a2", "StartContainer a2/web"}
	if !slices.Equal(got, want) {
		t.Fatalf("after reboot: %q, want %q", got, want)
	}
}

func TestAutonomousSourceSaves(t *testing.T) {
	store := NewLocalStore(filepath.Join(t.TempDir(), "desired.json"))
	up := newFakeUpstream()
	up.down = true
	now := t0
	clk := funcClock(func() time.Time { return now })
	src, err := NewAutonomousSource(up, store, clk, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Desired(t.Context()); !errors.Is(err, ErrUnknownDesired) {
		t.Fatalf("fresh node, no control plane: %v", err)
	}
	up.set(false, nil, pod("a1", "h1", "", "w=n"))
	if _, err := src.Desired(t.Context()); err != nil {
		t.Fatal(err)
	}
	saved, err := store.Load()
	if err != nil || !saved.Contact.Equal(t0) || len(saved.Desired) != 1 {
		t.Fatalf("saved %+v %v", saved, err)
	}
	// Unchanged within ContactRefresh: not rewritten.
	now = t0.Add(ContactRefresh / 2)
	src.Desired(t.Context())
	if saved, _ := store.Load(); !saved.Contact.Equal(t0) {
		t.Fatalf("rewritten: %+v", saved)
	}
	// A change is written at once; so is an old contact time.
	up.set(false, nil, pod("a1", "h2", "", "w=n"))
	src.Desired(t.Context())
	if saved, _ := store.Load(); saved.Desired[0].Pod.Hash != "h2" {
		t.Fatalf("change not saved: %+v", saved)
	}
	now = now.Add(ContactRefresh)
	src.Desired(t.Context())
	if saved, _ := store.Load(); !saved.Contact.Equal(now) {
		t.Fatalf("contact not refreshed: %+v", saved)
	}
}

func TestAutonomousSourceCorruptStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.json")
	if err := writeFile(path, "{"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAutonomousSource(newFakeUpstream(), NewLocalStore(path), SystemClock{}, nil); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("got %v", err)
	}
}

type funcClock func() time.Time

func (f funcClock) Now() time.Time                         { return f() }
func (f funcClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func fixedClock(at time.Time) Clock { return funcClock(func() time.Time { return at }) }
