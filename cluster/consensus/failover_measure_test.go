package consensus

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// TestFailoverDistribution measures the failover time of a 3-voter cluster
// over repeated runs; it backs the numbers documented on LAN. It takes
// ~20 s, so it runs only with KEDGE_MEASURE_FAILOVER=1.
func TestFailoverDistribution(t *testing.T) {
	if os.Getenv("KEDGE_MEASURE_FAILOVER") == "" {
		t.Skip("set KEDGE_MEASURE_FAILOVER=1 to measure failover times")
	}
	var times []time.Duration
	for range 15 {
		h := newHarness(t)
		ctx := ctxTimeout(t, 60*time.Second)
		n1 := h.start("n1")
		if err := n1.node.Bootstrap(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "n1 to lead", n1.node.IsLeader)
		for _, id := range []string{"n2", "n3"} {
			if err := n1.node.AddNonvoter(ctx, id, h.start(id).addr); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 15*time.Second, "3 voters", func() bool { return len(voterIDs(t, n1.node)) == 3 })
		h.stop("n1")
		times = append(times, timeToWrite(t, ctx, h, "n2", "n3"))
		h.stop("n2")
		h.stop("n3")
		clear(h.nodes)
	}
	slices.Sort(times)
	t.Logf("failover times: %v (median %s)", times, times[len(times)/2])
}

// timeToWrite polls the given nodes until one of them, as leader, commits a
// write, and returns how long that took.
func timeToWrite(t testing.TB, ctx context.Context, h *harness, ids ...string) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, 10*time.Second, "a write to be accepted", func() bool {
		for _, id := range ids {
			tn := h.nodes[id]
			if tn.node == nil || !tn.node.IsLeader() {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			_, _, err := tn.node.Apply(wctx, []byte("write-after-failover"))
			cancel()
			if err == nil {
				return true
			}
		}
		return false
	})
	return time.Since(start)
}
