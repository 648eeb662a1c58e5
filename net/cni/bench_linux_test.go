//go:build linux

package cni

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAttachDetach measures what bridge networking adds to a container
// start and removal: libcni ADD then DEL through the in-process plugin, with
// one published port (the bridge and table exist after the first round, as
// on a running node). attach-ms and detach-ms split the two.
func BenchmarkAttachDetach(b *testing.B) {
	l := newLab(b)
	benchAttachDetach(b, l, l.network(1))
}

// BenchmarkAttachDetachExec is the same through a fork/exec of the plugin
// executable (the test binary standing in for kedge), for comparison.
func BenchmarkAttachDetachExec(b *testing.B) {
	l := newLab(b)
	benchAttachDetach(b, l, l.execNetworkTB(b, 1))
}

func benchAttachDetach(b *testing.B, l *lab, n *Network) {
	ctx := ctxT(b)
	c := l.netns()
	ports := []PortMapping{{HostPort: 28080, ContainerPort: 80}}
	var attach, detach time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		if _, err := n.Attach(ctx, id, c.Path(), ports); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := n.Detach(ctx, id, c.Path()); err != nil {
			b.Fatal(err)
		}
		attach += mid.Sub(start)
		detach += time.Since(mid)
	}
	b.ReportMetric(float64(attach.Microseconds())/1000/float64(b.N), "attach-ms")
	b.ReportMetric(float64(detach.Microseconds())/1000/float64(b.N), "detach-ms")
}
