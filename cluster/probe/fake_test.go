package probe

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/api"
)

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeExecer answers exec probes from a table keyed by container key and the
// command's first word ("startup", "live", "ready", ...).
type fakeExecer struct {
	mu    sync.Mutex
	code  map[string]int
	err   map[string]error
	hang  map[string]bool // block until ctx ends
	calls map[string]int
}

func newFakeExecer() *fakeExecer {
	return &fakeExecer{code: map[string]int{}, err: map[string]error{}, hang: map[string]bool{}, calls: map[string]int{}}
}

func (f *fakeExecer) Exec(ctx context.Context, key string, cmd []string) (int, error) {
	id := key + "/" + cmd[0]
	f.mu.Lock()
	f.calls[id]++
	code, err, hang := f.code[id], f.err[id], f.hang[id]
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	return code, err
}

func (f *fakeExecer) setCode(id string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.code[id] = code
}

func (f *fakeExecer) setHang(id string, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang[id] = hang
}

func (f *fakeExecer) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

// execProbe is an exec probe running `word`, period 10s, with mods applied.
func execProbe(word string, mods ...func(*api.Probe)) *api.Probe {
	p := &api.Probe{Exec: &api.ExecAction{Command: []string{word}}, PeriodSeconds: 10}
	for _, m := range mods {
		m(p)
	}
	return p
}

func period(s int32) func(*api.Probe)         { return func(p *api.Probe) { p.PeriodSeconds = s } }
func delay(s int32) func(*api.Probe)          { return func(p *api.Probe) { p.InitialDelaySeconds = s } }
func timeout(s int32) func(*api.Probe)        { return func(p *api.Probe) { p.TimeoutSeconds = s } }
func successes(n int32) func(*api.Probe)      { return func(p *api.Probe) { p.SuccessThreshold = n } }
func failuresNeeded(n int32) func(*api.Probe) { return func(p *api.Probe) { p.FailureThreshold = n } }

// target is a container started now with the given probes (nil: none).
func target(key string, startup, live, ready *api.Probe) Target {
	return Target{
		Key:       key,
		PodIP:     "10.0.0.2",
		StartedAt: time.Now(),
		Container: api.ContainerSpec{
			Name: "c", StartupProbe: startup, LivenessProbe: live, ReadinessProbe: ready,
		},
	}
}

// result is m.Result(key), failing the test when key is unknown.
func result(t *testing.T, m *Manager, key string) Status {
	t.Helper()
	s, ok := m.Result(key)
	if !ok {
		t.Fatalf("no result for %q", key)
	}
	return s
}

// drained reports whether Changed had a signal, and consumes it.
func drained(m *Manager) bool {
	select {
	case <-m.Changed():
		return true
	default:
		return false
	}
}
