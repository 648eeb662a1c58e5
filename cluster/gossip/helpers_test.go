package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is a 32-byte AES-256 gossip key.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// tlogWriter routes logs to t.Log until the test's cleanup runs; memberlist
// timers may still log after that and t.Log would panic.
type tlogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger { return testLoggerAt(t, slog.LevelInfo) }

func testLoggerAt(t testing.TB, level slog.Level) *slog.Logger {
	w := &tlogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// recorder collects events from Config.OnEvent.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// has reports whether an event of kind about id was recorded.
func (r *recorder) has(kind EventKind, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.events, func(e Event) bool { return e.Kind == kind && e.Member.ID == id })
}

// node is a Gossip under test with its event recorder.
type node struct {
	*Gossip
	rec *recorder
}

// testConfig returns the config of node i: loopback address 127.0.0.(2+i),
// a port picked by memberlist, the test key, some metadata.
func testConfig(t testing.TB, i int) Config {
	return Config{
		NodeID:   fmt.Sprintf("node-%d", i),
		NodeName: "lab", // names are not unique
		BindAddr: fmt.Sprintf("127.0.0.%d", 2+i),
		Key:      testKey,
		Meta: Meta{
			APIAddr:  fmt.Sprintf("127.0.0.%d:8443", 2+i),
			RaftAddr: fmt.Sprintf("127.0.0.%d:8301", 2+i),
			Version:  "v0.1.0-test",
			Labels:   map[string]string{"index": fmt.Sprint(i), "arch": "arm64"},
			Capacity: Capacity{MilliCPU: 4000, MemoryBytes: 8 << 30, DiskBytes: 64 << 30, Pods: 110},
		},
		Logger: testLogger(t),
	}
}

// start creates a Gossip from cfg, recording its events; Shutdown is in cleanup.
func start(t testing.TB, cfg Config) node {
	t.Helper()
	rec := &recorder{}
	cfg.OnEvent = rec.add
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() {
		if err := g.Shutdown(); err != nil {
			t.Errorf("Shutdown(%s): %v", cfg.NodeID, err)
		}
	})
	return node{Gossip: g, rec: rec}
}

// startCluster starts n nodes (configs adjusted by tweak, if any), joins them
// through node 0 and waits until every node sees every other alive.
func startCluster(t testing.TB, n int, tweak func(i int, c *Config)) []node {
	t.Helper()
	nodes := make([]node, n)
	for i := range nodes {
		cfg := testConfig(t, i)
		if tweak != nil {
			tweak(i, &cfg)
		}
		nodes[i] = start(t, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed := nodes[0].LocalAddr().String()
	for _, nd := range nodes[1:] {
		if _, err := nd.Join(ctx, []string{seed}); err != nil {
			t.Fatalf("%s joining %s: %v", nd.ID(), seed, err)
		}
	}
	waitUntil(t, 10*time.Second, fmt.Sprintf("all %d nodes see each other alive", n), func() bool {
		for _, nd := range nodes {
			if nd.NumMembers() != n {
				return false
			}
		}
		return true
	})
	return nodes
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stateOf returns the state of id as seen by nd, or -1 if unknown.
func stateOf(nd node, id string) State {
	m, ok := nd.Member(id)
	if !ok {
		return -1
	}
	return m.State
}
