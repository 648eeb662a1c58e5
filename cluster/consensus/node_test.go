package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSingleNodeBootstrapAndApply(t *testing.T) {
	h := newHarness(t)
	n1 := h.start("n1")
	if n1.node.HasState() {
		t.Fatal("HasState before bootstrap")
	}
	if err := n1.node.Bootstrap(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	if err := n1.node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1 to lead", n1.node.IsLeader)
	if !n1.node.HasState() {
		t.Fatal("HasState false after bootstrap")
	}
	if err := n1.node.Bootstrap(); !errors.Is(err, ErrHasState) {
		t.Fatalf("second bootstrap: got %v, want ErrHasState", err)
	}

	res, idx, err := n1.node.Apply(ctx, []byte("a"))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if res != 1 || idx == 0 {
		t.Fatalf("apply: result %v index %d, want 1 and an index", res, idx)
	}
	if _, _, err := n1.node.Apply(ctx, []byte("fail")); err == nil || !strings.Contains(err.Error(), "command rejected") {
		t.Fatalf("apply of a rejected command: got %v", err)
	}
	if err := n1.node.Barrier(ctx); err != nil {
		t.Fatalf("barrier: %v", err)
	}
	if err := n1.node.VerifyLeader(ctx); err != nil {
		t.Fatalf("verify leader: %v", err)
	}
	if got := n1.fsm.commands(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("fsm has %v, want [a]", got)
	}

	id, addr := n1.node.Leader()
	if id != "n1" || addr != n1.node.Addr() {
		t.Fatalf("leader %s at %s, want n1 at %s", id, addr, n1.node.Addr())
	}
	servers, err := n1.node.Servers()
	if err != nil || len(servers) != 1 || !servers[0].Voter || !servers[0].Leader {
		t.Fatalf("servers: %+v, %v", servers, err)
	}
	st := n1.node.Stats()
	if st.State != "Leader" || st.Voters != 1 || st.AppliedIndex < idx || st.LastContact != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if st.Metrics.Applies != 1 || st.Metrics.ApplyErrors != 1 || st.Metrics.LeaderChanges != 1 || st.Metrics.ApplyLatencyMax <= 0 {
		t.Fatalf("metrics: %+v", st.Metrics)
	}
	select {
	case v := <-n1.node.LeaderCh():
		if !v {
			t.Fatal("LeaderCh delivered false")
		}
	default:
		t.Fatal("LeaderCh delivered nothing")
	}
	waitFor(t, 5*time.Second, "OnVotersChange", func() bool { return slices.Equal(n1.voters(), []string{"n1"}) })

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := n1.node.Apply(cancelled, []byte("b")); !errors.Is(err, context.Canceled) {
		t.Fatalf("apply with a cancelled context: got %v", err)
	}

	n := n1.node
	h.stop("n1")
	if _, _, err := n.Apply(ctx, []byte("c")); !errors.Is(err, ErrShutdown) {
		t.Fatalf("apply after shutdown: got %v, want ErrShutdown", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

func TestOpenRejectsWeakTLS(t *testing.T) {
	h := newHarness(t)
	tn := &testNode{id: "n1", dir: t.TempDir(), fsm: &testFSM{}}
	for name, mutate := range map[string]func(*Config){
		"no client auth": func(c *Config) { c.ServerTLS.ClientAuth = tls.VerifyClientCertIfGiven },
		"no client CAs":  func(c *Config) { c.ServerTLS.ClientCAs = nil },
		"no root CAs":    func(c *Config) { c.ClientTLS.RootCAs = nil },
		"insecure":       func(c *Config) { c.ClientTLS.InsecureSkipVerify = true },
		"no client cert": func(c *Config) { c.ClientTLS.Certificates = nil },
		"even voters":    func(c *Config) { c.MaxVoters = 4 },
		"no id":          func(c *Config) { c.ID = "" },
		"lease too long": func(c *Config) { c.Timing.LeaderLeaseTimeout = time.Second },
	} {
		cfg := h.config(tn)
		mutate(&cfg)
		if n, err := Open(cfg); err == nil {
			_ = n.Shutdown()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// TestShutdownStopsGoroutines checks that two connected nodes leave no
// goroutine behind once shut down (raft's, autopilot's and ours).
func TestShutdownStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t)
	ctx := ctxTimeout(t, 30*time.Second)
	n1 := h.start("n1")
	if err := n1.node.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 to lead", n1.node.IsLeader)
	n2 := h.start("n2")
	if err := n1.node.AddNonvoter(ctx, "n2", n2.addr); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n1.node.Apply(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n2 to apply", func() bool { return len(n2.fsm.commands()) == 1 })
	h.stop("n2")
	h.stop("n1")
	deadline := time.Now().Add(10 * time.Second)
	waitFor(t, 15*time.Second, "goroutines to end", func() bool {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		return runtime.NumGoroutine() <= before
	})
}
