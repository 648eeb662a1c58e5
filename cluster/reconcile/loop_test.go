package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The loop tests run inside testing/synctest bubbles: SystemClock there is a
// fake clock that moves only when every goroutine is blocked, and
// synctest.Wait is the condition "Run has done all it can and is waiting".
// time.Sleep in a bubble advances that fake clock; it synchronises nothing.

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startRun runs Run in the background; the returned func stops it and
// returns its error (again on later calls).
func startRun(t *testing.T, eng Engine, src Source, rep Reporter, clk Clock, opts ...Option) func() error {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	opts = append([]Option{WithLogger(testLogger(t))}, opts...)
	go func() { done <- Run(ctx, eng, src, rep, clk, opts...) }()
	return sync.OnceValue(func() error { cancel(); return <-done })
}

func TestRunReactsToChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eng, src, rep := newFakeEngine(time.Now), newFakeSource(), &fakeReporter{now: time.Now}
		stop := startRun(t, eng, src, rep, SystemClock{}, WithInterval(time.Hour))
		synctest.Wait()
		start := time.Now()
		if b := rep.get(); len(b) != 1 || len(b[0].pod) != 0 || !b[0].at.Equal(start) {
			t.Fatalf("first report: %+v, want one empty batch at once", b)
		}

		src.set(pod("a1", "h1", "", "init:setup=busybox", "web=nginx"))
		synctest.Wait()
		if !time.Now().Equal(start) {
			t.Fatalf("reacted after %s, not at once", time.Since(start))
		}
		if !eng.running("a1", "setup") {
			t.Fatalf("init container not started: %+v", eng.actual())
		}
		if b := rep.get(); len(b) != 1 {
			t.Fatalf("reported within the report interval: %+v", b)
		}
		time.Sleep(DefaultReportInterval)
		synctest.Wait()
		b := rep.get()
		if len(b) != 2 || !b[1].at.Equal(start.Add(DefaultReportInterval)) || b[1].pod[0].Phase != PhasePending {
			t.Fatalf("reports: %+v", b)
		}

		// The init container finishes; the engine says so; the app starts.
		eng.step()
		eng.events <- struct{}{}
		synctest.Wait()
		if !eng.running("a1", "web") {
			t.Fatalf("app container not started: %+v", eng.actual())
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	})
}

func TestRunBatchesReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eng, src, rep := newFakeEngine(time.Now), newFakeSource(), &fakeReporter{now: time.Now}
		stop := startRun(t, eng, src, rep, SystemClock{}) // interval 1 s, reports every 500 ms
		synctest.Wait()
		start := time.Now()
		web := func(id string) Desired { return pod(id, "h1", "", "web=nginx") }

		// Three changes within 200 ms make one report, at 500 ms, of the last state.
		src.set(web("a1"))
		time.Sleep(100 * time.Millisecond)
		src.set(web("a1"), web("a2"))
		time.Sleep(100 * time.Millisecond)
		src.set(web("a1"), web("a2"), web("a3"))
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		b := rep.get()
		if len(b) != 2 || !b[1].at.Equal(start.Add(500*time.Millisecond)) || len(b[1].pod) != 3 {
			t.Fatalf("reports: %+v", b)
		}
		for _, s := range b[1].pod {
			if s.Phase != PhaseRunning || !s.Ready {
				t.Fatalf("status %+v", s)
			}
		}

		// Nothing changes for 10 s of rounds: nothing is reported.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(rep.get()); n != 2 {
			t.Fatalf("%d reports of an unchanged state", n)
		}

		// The control plane refuses reports: the newest batch is retried
		// after the report interval, then twice that and so on (at 0,
		// 0.5 and 1.5 s, the next at 3.5 s), then delivered.
		rep.mu.Lock()
		rep.fail, rep.tries = true, 0
		rep.mu.Unlock()
		src.set(web("a1"))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		rep.mu.Lock()
		tries := rep.tries
		rep.fail = false
		rep.mu.Unlock()
		if tries != 3 {
			t.Fatalf("%d tries in 2 s, want 3 (a doubling back-off)", tries)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		b = rep.get()
		if len(b) != 3 || len(b[2].pod) != 1 {
			t.Fatalf("reports after recovery: %+v", b)
		}
		for i := 1; i < len(b); i++ {
			if gap := b[i].at.Sub(b[i-1].at); gap < DefaultReportInterval {
				t.Fatalf("reports %d and %d only %s apart", i-1, i, gap)
			}
			if slices.Equal(b[i].pod, b[i-1].pod) {
				t.Fatalf("report %d repeats the last", i)
			}
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}

// TestRunWakesForBackoff: a crashed container restarts at once the first
// time, then exactly when its back-off ends, though the interval is an hour.
func TestRunWakesForBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eng, src, rep := newFakeEngine(time.Now), newFakeSource(), &fakeReporter{now: time.Now}
		var mu sync.Mutex
		restarts := []time.Time{}
		observe := func(a Action, err error) {
			if a.Kind == RestartContainer && err == nil {
				mu.Lock()
				restarts = append(restarts, time.Now())
				mu.Unlock()
			}
		}
		src.set(pod("a1", "h1", "", "web=nginx"))
		stop := startRun(t, eng, src, rep, SystemClock{}, WithInterval(time.Hour), WithObserver(observe))
		synctest.Wait()
		var crashes []time.Time
		for i := range 3 {
			time.Sleep(time.Second)
			crashes = append(crashes, time.Now())
			eng.crash("a1", "web", 1)
			synctest.Wait()
			if i > 0 && eng.running("a1", "web") {
				t.Fatalf("restart %d went without back-off", i+1)
			}
			time.Sleep(6 * time.Minute)
			synctest.Wait()
			if !eng.running("a1", "web") {
				t.Fatal("not restarted")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for i, want := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
			if got := restarts[i].Sub(crashes[i]); got != want {
				t.Errorf("restart %d after %s, want %s", i+1, got, want)
			}
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}

// TestRunUnknownDesiredKeepsPods: a Source error is not an empty set.
func TestRunUnknownDesiredKeepsPods(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eng, src, rep := newFakeEngine(time.Now), newFakeSource(), &fakeReporter{now: time.Now}
		src.set(pod("a1", "h1", "", "web=nginx"))
		stop := startRun(t, eng, src, rep, SystemClock{})
		synctest.Wait()
		src.mu.Lock()
		src.desired, src.err = nil, errors.New("no idea")
		src.mu.Unlock()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if !eng.running("a1", "web") {
			t.Fatal("pod removed while the desired set was unknown")
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}

// TestRunRealClock runs the loop on the real clock: it reacts to Changed
// (the interval is an hour) and reports; the test waits on conditions with a
// deadline.
func TestRunRealClock(t *testing.T) {
	eng, src, rep := newFakeEngine(time.Now), newFakeSource(), &fakeReporter{now: time.Now}
	stop := startRun(t, eng, src, rep, SystemClock{}, WithInterval(time.Hour), WithReportInterval(10*time.Millisecond))
	defer stop()
	src.set(pod("a1", "h1", "", "web=nginx"))
	waitFor(t, "the pod runs", func() bool { return eng.running("a1", "web") })
	waitFor(t, "a report of it", func() bool {
		b := rep.get()
		return len(b) > 0 && len(b[len(b)-1].pod) == 1 && b[len(b)-1].pod[0].Ready
	})
	src.set()
	waitFor(t, "the pod is removed", func() bool { return !eng.has("a1") })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
