package gossip

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"
)

// BenchmarkDeadDetection measures how long after a node's kill -9 (Shutdown
// without Leave) the slowest of the other nodes declares it dead, for a few
// cluster sizes. Each iteration forms a fresh cluster. Run with e.g.
//
//	go test -run XXX -bench DeadDetection -benchtime 10x ./cluster/gossip
func BenchmarkDeadDetection(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var worst []time.Duration
			for range b.N {
				b.StopTimer()
				nodes := startCluster(b, n, func(i int, c *Config) {
					c.Logger = testLoggerAt(b, slog.LevelWarn)
					c.Profile = benchProfile()
				})
				b.StartTimer()
				times := measureDetection(b, nodes[:n-1], nodes[n-1], 30*time.Second)
				b.StopTimer()
				var w time.Duration
				for _, d := range times {
					w = max(w, d)
				}
				worst = append(worst, w)
				for _, nd := range nodes {
					nd.Shutdown()
				}
			}
			sort.Slice(worst, func(i, j int) bool { return worst[i] < worst[j] })
			var sum time.Duration
			for _, w := range worst {
				sum += w
			}
			b.ReportMetric(float64(sum.Milliseconds())/float64(len(worst)), "ms-mean-worst")
			b.ReportMetric(float64(worst[len(worst)-1].Milliseconds()), "ms-max")
			b.Logf("%d nodes: worst-observer detection over %d kills: %v", n, len(worst), worst)
		})
	}
}

// benchSizes returns the cluster sizes to measure; KEDGE_GOSSIP_BENCH_NODES
// overrides them (one number, e.g. 30).
func benchSizes() []int {
	if s := os.Getenv("KEDGE_GOSSIP_BENCH_NODES"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 2 && n <= 250 {
			return []int{n}
		}
	}
	return []int{3, 5, 10}
}

// benchProfile returns ProfileSlow if KEDGE_GOSSIP_BENCH_PROFILE=slow.
func benchProfile() Profile {
	if os.Getenv("KEDGE_GOSSIP_BENCH_PROFILE") == "slow" {
		return ProfileSlow
	}
	return ProfileLAN
}
