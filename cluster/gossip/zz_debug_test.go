package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

func TestZZForm(t *testing.T) {
	for round := 0; round < 12; round++ {
		n := 40
		nodes := make([]node, n)
		for i := range nodes {
			cfg := testConfig(t, i)
			cfg.Logger = testLoggerAt(t, slog.LevelWarn)
			nodes[i] = start(t, cfg)
		}
		seed := nodes[0].LocalAddr().String()
		for _, nd := range nodes[1:] {
			if _, err := nd.Join(context.Background(), []string{seed}); err != nil {
				t.Fatal(err)
			}
		}
		w0 := time.Now()
		for time.Since(w0) < 20*time.Second {
			ok := true
			for _, nd := range nodes {
				if nd.NumMembers() != n {
					ok = false
				}
			}
			if ok {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		var counts []int
		for _, nd := range nodes {
			counts = append(counts, nd.NumMembers())
		}
		fmt.Println("round", round, "converged after", time.Since(w0))
		for _, nd := range nodes {
			if nd.NumMembers() != n {
				var bad []string
				ms := nd.Members()
				for _, m := range ms {
					if m.State != StateAlive {
						bad = append(bad, m.ID+"="+m.State.String())
					}
				}
				fmt.Println("  ", nd.ID(), "knows", len(ms), "not alive:", bad)
				for _, e := range nd.rec.events {
					fmt.Println("     ", e.Kind, e.Member.ID, e.Member.Since.Sub(w0))
				}
			}
		}
		for _, nd := range nodes {
			nd.Shutdown()
		}
	}
}
