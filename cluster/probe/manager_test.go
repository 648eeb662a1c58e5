package probe

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"kedge/api"
)

// These tests run inside testing/synctest bubbles: time there is fake and
// moves only when every goroutine is blocked. time.Sleep advances it;
// synctest.Wait is the condition "every worker has done all it can".

// step advances the fake clock by d and waits for the workers to settle.
func step(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func newManager(t *testing.T, ex Execer) *Manager {
	return New(ex, Options{Logger: testLogger(t)})
}

func TestNoProbesIsReadyAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newManager(t, nil)
		defer m.Close()
		m.Sync([]Target{target("a/c", nil, nil, nil)})
		if s := result(t, m, "a/c"); !s.Started || !s.Live || !s.Ready {
			t.Fatalf("status %+v, want started, live and ready", s)
		}
		if _, ok := m.Result("b/c"); ok {
			t.Fatal("unknown key has a result")
		}
	})
}

func TestLivenessNeedsFailureThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setCode("a/c/live", 1)
		m := newManager(t, ex)
		defer m.Close()
		m.Sync([]Target{target("a/c", nil, execProbe("live"), nil)})
		synctest.Wait()
		for i := 1; i <= 2; i++ {
			s := result(t, m, "a/c")
			if !s.Live || !s.Ready || s.Failures != i || !strings.Contains(s.LastError, "liveness: exec") {
				t.Fatalf("after %d failures: %+v, want live with %d failures", i, s, i)
			}
			if drained(m) {
				t.Fatalf("Changed fired after %d failures", i)
			}
			step(10 * time.Second)
		}
		if s := result(t, m, "a/c"); s.Live || s.Ready || s.Failures != 3 {
			t.Fatalf("after 3 failures: %+v, want not live, not ready", s)
		}
		if !drained(m) {
			t.Fatal("Changed did not fire when liveness failed")
		}
		// Failed liveness holds: no more checks until the container restarts.
		step(time.Hour)
		if n := ex.count("a/c/live"); n != 3 {
			t.Fatalf("%d liveness checks, want 3", n)
		}
	})
}

func TestLivenessRecoversBelowThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setCode("a/c/live", 1)
		m := newManager(t, ex)
		defer m.Close()
		m.Sync([]Target{target("a/c", nil, execProbe("live"), nil)})
		step(10 * time.Second) // two failures
		ex.setCode("a/c/live", 0)
		step(10 * time.Second)
		if s := result(t, m, "a/c"); !s.Live || s.Failures != 0 || s.LastError != "" {
			t.Fatalf("after a pass: %+v, want live with no failures", s)
		}
		ex.setCode("a/c/live", 1)
		step(20 * time.Second) // two failures again: the run restarted
		if s := result(t, m, "a/c"); !s.Live || s.Failures != 2 {
			t.Fatalf("%+v, want live with 2 failures", s)
		}
	})
}

func TestReadinessThresholds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		m := newManager(t, ex)
		defer m.Close()
		m.Sync([]Target{target("a/c", nil, nil, execProbe("ready", successes(2)))})
		synctest.Wait()
		if s := result(t, m, "a/c"); s.Ready || !s.Started || !s.Live {
			t.Fatalf("after one success: %+v, want started, live, not ready", s)
		}
		if drained(m) {
			t.Fatal("Changed fired before readiness flipped")
		}
		step(10 * time.Second)
		if s := result(t, m, "a/c"); !s.Ready {
			t.Fatalf("after two successes: %+v, want ready", s)
		}
		if !drained(m) {
			t.Fatal("Changed did not fire when the container became ready")
		}

		ex.setCode("a/c/ready", 1)
		step(20 * time.Second)
		if s := result(t, m, "a/c"); !s.Ready || s.Failures != 2 {
			t.Fatalf("after two failures: %+v, want still ready", s)
		}
		step(10 * time.Second)
		if s := result(t, m, "a/c"); s.Ready || !s.Live || s.Failures != 3 {
			t.Fatalf("after three failures: %+v, want live but not ready", s)
		}
		if !drained(m) {
			t.Fatal("Changed did not fire when the container became unready")
		}
		// Readiness keeps probing and recovers.
		ex.setCode("a/c/ready", 0)
		step(20 * time.Second)
		if s := result(t, m, "a/c"); !s.Ready {
			t.Fatalf("after two successes: %+v, want ready again", s)
		}
	})
}

func TestSuccessThresholdIsOneForLiveness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setCode("a/c/live", 1)
		m := newManager(t, ex)
		defer m.Close()
		m.Sync([]Target{target("a/c", nil, execProbe("live", successes(5)), nil)})
		step(10 * time.Second)
		ex.setCode("a/c/live", 0)
		step(10 * time.Second) // one pass resets the run despite successThreshold 5
		ex.setCode("a/c/live", 1)
		step(10 * time.Second)
		if s := result(t, m, "a/c"); !s.Live || s.Failures != 1 {
			t.Fatalf("%+v, want live with 1 failure", s)
		}
	})
}

func TestInitialDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		m := newManager(t, ex)
		defer m.Close()
		tg := target("a/c", nil, execProbe("live", delay(30)), execProbe("ready", delay(15)))
		tg.StartedAt = time.Now().Add(-5 * time.Second) // delays count from the start
		m.Sync([]Target{tg})
		step(10*time.Second - time.Nanosecond)
		if n := ex.count("a/c/ready"); n != 0 {
			t.Fatalf("%d readiness checks before the initial delay", n)
		}
		if s := result(t, m, "a/c"); s.Ready {
			t.Fatalf("%+v: ready before the readiness probe ran", s)
		}
		step(time.Nanosecond)
		if n := ex.count("a/c/ready"); n != 1 {
			t.Fatalf("%d readiness checks at the initial delay, want 1", n)
		}
		step(15*time.Second - time.Nanosecond)
		if n := ex.count("a/c/live"); n != 0 {
			t.Fatalf("%d liveness checks before the initial delay", n)
		}
		step(time.Nanosecond)
		if n := ex.count("a/c/live"); n != 1 {
			t.Fatalf("%d liveness checks at the initial delay, want 1", n)
		}
		step(10 * time.Second)
		if n := ex.count("a/c/live"); n != 2 {
			t.Fatalf("%d liveness checks one period later, want 2", n)
		}
	})
}

func TestStartupGatesLivenessAndReadiness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setCode("a/c/startup", 1)
		ex.setCode("a/c/live", 1) // would kill at once if it ran
		m := newManager(t, ex)
		defer m.Close()
		m.Sync([]Target{target("a/c",
			execProbe("startup", period(5), failuresNeeded(30)),
			execProbe("live", failuresNeeded(1), delay(20)),
			execProbe("ready"))})
		step(10 * time.Second) // three failed startup checks
		s := result(t, m, "a/c")
		if s.Started || !s.Live || s.Ready || s.Failures != 3 || !strings.HasPrefix(s.LastError, "startup: ") {
			t.Fatalf("before startup passed: %+v", s)
		}
		if a, b := ex.count("a/c/live"), ex.count("a/c/ready"); a+b != 0 {
			t.Fatalf("%d liveness and %d readiness checks before startup passed", a, b)
		}
		drained(m)

		ex.setCode("a/c/startup", 0)
		step(5 * time.Second)
		s = result(t, m, "a/c")
		if !s.Started || !s.Live || !s.Ready {
			t.Fatalf("after startup passed: %+v, want started, live, ready", s)
		}
		if !drained(m) {
			t.Fatal("Changed did not fire on startup")
		}
		if n := ex.count("a/c/ready"); n != 1 {
			t.Fatalf("%d readiness checks right after startup, want 1", n)
		}
		// Liveness's initial delay counts from StartedAt: 20s, not 15s+20s.
		step(5*time.Second - time.Nanosecond)
		if n := ex.count("a/c/live"); n != 0 {
			t.Fatalf("%d liveness checks before its delay", n)
		}
		step(time.Nanosecond)
		if s := result(t, m, "a/c"); s.Live || s.Ready {
			t.Fatalf("after liveness failed: %+v, want not live, not ready", s)
		}
		// The startup probe does not run once it has passed.
		step(time.Hour)
		if n := ex.count("a/c/startup"); n != 4 {
			t.Fatalf("%d startup checks, want 4", n)
		}
	})
}

func TestStartupFailureKills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setCode("a/c/startup", 1)
		m := newManager(t, ex)
		defer m.Close()
		m.Sync([]Target{target("a/c", execProbe("startup", failuresNeeded(2)), execProbe("live"), nil)})
		step(10 * time.Second)
		s := result(t, m, "a/c")
		if s.Started || s.Live || s.Ready || s.Failures != 2 {
			t.Fatalf("after startup failed: %+v, want neither started nor live", s)
		}
		if !drained(m) {
			t.Fatal("Changed did not fire when startup failed")
		}
		step(time.Hour)
		if a, b := ex.count("a/c/startup"), ex.count("a/c/live"); a != 2 || b != 0 {
			t.Fatalf("%d startup and %d liveness checks, want 2 and 0", a, b)
		}
	})
}

func TestExecTimeoutFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setHang("a/c/live", true)
		m := newManager(t, ex)
		defer m.Close()
		m.Sync([]Target{target("a/c", nil, execProbe("live", timeout(2), failuresNeeded(1)), nil)})
		step(2*time.Second - time.Nanosecond)
		if s := result(t, m, "a/c"); !s.Live || s.Failures != 0 {
			t.Fatalf("before the timeout: %+v", s)
		}
		step(time.Nanosecond)
		s := result(t, m, "a/c")
		if s.Live || !strings.Contains(s.LastError, ErrTimeout.Error()) {
			t.Fatalf("after the timeout: %+v, want not live, timed out", s)
		}
	})
}

func TestSyncAddsRemovesAndRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setCode("a/c/live", 1)
		m := newManager(t, ex)
		defer m.Close()
		a := target("a/c", nil, execProbe("live"), execProbe("ready"))
		b := target("b/c", nil, nil, execProbe("ready"))
		m.Sync([]Target{a, b})
		step(10 * time.Second)
		if x, y := ex.count("a/c/ready"), ex.count("b/c/ready"); x != 2 || y != 2 {
			t.Fatalf("%d and %d readiness checks, want 2 each", x, y)
		}
		if s := result(t, m, "a/c"); !s.Ready || s.Failures != 2 {
			t.Fatalf("a: %+v, want ready with 2 liveness failures", s)
		}
		drained(m)

		// The same targets again (a copy, StartedAt unchanged): nothing restarts.
		b2 := target("b/c", nil, nil, execProbe("ready"))        // equal probes, other pointers
		b2.StartedAt = b.StartedAt.In(time.FixedZone("x", 3600)) // the same instant
		m.Sync([]Target{a, b2})
		synctest.Wait()
		if x, y := ex.count("a/c/ready"), ex.count("b/c/ready"); x != 2 || y != 2 {
			t.Fatalf("an unchanged Sync ran readiness checks: %d and %d, want 2 each", x, y)
		}
		if s := result(t, m, "a/c"); s.Failures != 2 {
			t.Fatalf("an unchanged Sync reset a: %+v", s)
		}

		// Remove b, restart a.
		a.StartedAt = time.Now()
		m.Sync([]Target{a})
		synctest.Wait()
		if _, ok := m.Result("b/c"); ok {
			t.Fatal("b still has a result")
		}
		if s := result(t, m, "a/c"); !s.Ready || s.Failures != 1 {
			t.Fatalf("restarted a: %+v, want probed afresh (1 failure)", s)
		}
		step(time.Hour)
		if y := ex.count("b/c/ready"); y != 2 {
			t.Fatalf("removed b was checked %d times, want 2", y)
		}
		if s := result(t, m, "a/c"); s.Live {
			t.Fatalf("restarted a: %+v, want liveness failed again", s)
		}

		// A restart resets a failed liveness probe; the flip is signalled.
		drained(m)
		ex.setCode("a/c/live", 0)
		a.StartedAt = time.Now()
		m.Sync([]Target{a})
		if !drained(m) {
			t.Fatal("Changed did not fire when a restart flipped a's status")
		}
		synctest.Wait()
		if s := result(t, m, "a/c"); !s.Live || !s.Ready || s.Failures != 0 {
			t.Fatalf("restarted a: %+v, want live and ready", s)
		}
	})
}

func TestSyncRestartsOnProbeChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setCode("a/c/ready", 1)
		m := newManager(t, ex)
		defer m.Close()
		a := target("a/c", nil, nil, execProbe("ready"))
		m.Sync([]Target{a})
		synctest.Wait()
		// Mutating the caller's probe must not leak into the Manager...
		a.Container.ReadinessProbe.Exec.Command[0] = "ready2"
		step(10 * time.Second)
		if n := ex.count("a/c/ready"); n != 2 {
			t.Fatalf("%d checks of the original command, want 2", n)
		}
		// ...but syncing the changed probe restarts the target.
		m.Sync([]Target{a})
		synctest.Wait()
		if n := ex.count("a/c/ready2"); n != 1 {
			t.Fatalf("%d checks of the new command, want 1", n)
		}
		if s := result(t, m, "a/c"); !s.Ready || s.Failures != 0 {
			t.Fatalf("%+v, want probed afresh and ready", s)
		}
	})
}

func TestSyncIgnoresEmptyAndDuplicateKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		m := newManager(t, ex)
		defer m.Close()
		m.Sync([]Target{
			target("", nil, execProbe("live"), nil),
			target("a/c", nil, execProbe("live"), nil),
			target("a/c", nil, execProbe("other"), nil),
		})
		synctest.Wait()
		if a, b, c := ex.count("/live"), ex.count("a/c/live"), ex.count("a/c/other"); a != 0 || b != 1 || c != 0 {
			t.Fatalf("checks: empty key %d, first a/c %d, duplicate %d", a, b, c)
		}
	})
}

func TestTCPProbeUsesDialContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dials atomic.Int32
		up := atomic.Bool{}
		up.Store(true)
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			if network != "tcp" || addr != "10.0.0.2:8080" {
				t.Errorf("dialled %s %s", network, addr)
			}
			if !up.Load() {
				return nil, &net.OpError{Op: "dial", Net: network, Err: context.Canceled}
			}
			c1, c2 := net.Pipe()
			c2.Close()
			return c1, nil
		}
		m := New(nil, Options{Logger: testLogger(t), DialContext: dial})
		defer m.Close()
		tg := target("a/c", nil, nil, &api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromString("web")}, FailureThreshold: 1})
		tg.Container.Ports = []api.ContainerPort{{Name: "web", ContainerPort: 8080}}
		m.Sync([]Target{tg})
		synctest.Wait()
		if s := result(t, m, "a/c"); !s.Ready || dials.Load() != 1 {
			t.Fatalf("%+v after %d dials, want ready after 1", s, dials.Load())
		}
		up.Store(false)
		step(10 * time.Second)
		if s := result(t, m, "a/c"); s.Ready {
			t.Fatalf("%+v, want unready once the port is down", s)
		}
	})
}

func TestCloseStopsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := newFakeExecer()
		ex.setHang("a/c/live", true) // a worker blocked in a check
		m := newManager(t, ex)
		m.Sync([]Target{
			target("a/c", execProbe("startup"), execProbe("live", timeout(60)), execProbe("ready")),
			target("b/c", nil, execProbe("live"), execProbe("ready")),
			target("c/c", execProbe("startup", delay(100)), execProbe("live"), nil), // waiting on the gate
		})
		synctest.Wait()
		m.Close()
		m.Close()
		before := ex.count("b/c/ready")
		step(time.Hour)
		if n := ex.count("b/c/ready"); n != before {
			t.Fatalf("%d checks after Close", n-before)
		}
		if _, ok := m.Result("b/c"); ok {
			t.Fatal("a result after Close")
		}
		m.Sync([]Target{target("d/c", nil, execProbe("live"), nil)})
		synctest.Wait()
		if n := ex.count("d/c/live"); n != 0 {
			t.Fatal("Sync after Close started a worker")
		}
		// Returning from the bubble fails the test if any goroutine is left.
	})
}

// TestCloseLeavesNoGoroutine runs outside a bubble, where a leaked worker
// shows in the goroutine count rather than as a bubble that never ends.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	base := runtime.NumGoroutine()
	ex := newFakeExecer()
	ex.setHang("a/c/live", true)
	m := New(ex, Options{Logger: testLogger(t)})
	m.Sync([]Target{
		target("a/c", execProbe("startup"), execProbe("live", timeout(60)), execProbe("ready")),
		target("b/c", execProbe("startup", delay(100)), execProbe("live"), nil),
	})
	for ex.count("a/c/live") == 0 { // wait until a worker is blocked in a check
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n < base+3 {
		t.Fatalf("%d goroutines running probes, want at least 3", n-base)
	}
	m.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base { // Close has waited; the exits may lag
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Close", runtime.NumGoroutine()-base)
		}
		runtime.Gosched()
	}
}
