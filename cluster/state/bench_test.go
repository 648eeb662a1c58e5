package state

import (
	"fmt"
	"testing"
	"time"
)

func BenchmarkApply(b *testing.B) {
	cmds := make([][]byte, 256)
	for i := range cmds {
		n := testNode(fmt.Sprint("n", i%64))
		n.State = []NodeState{NodeReady, NodeSuspect}[i%2]
		cmds[i] = must(UpsertNode(n, t0.Add(time.Duration(i)*time.Second)))
	}
	h := newHarness(b).base()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if res := h.apply(cmds[i%len(cmds)], nil); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func BenchmarkSnapshot(b *testing.B) {
	h := newHarness(b).base()
	for i := range 1000 {
		h.ok(UpsertNode(testNode(fmt.Sprint("n", i)), t0))
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.f.State().WriteSnapshot(discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
