//go:build linux

package engine

import (
	"context"
	"testing"
	"time"

	"kedge/api"
)

// BenchmarkRunTrue measures the engine's share of `kedge run --rm IMAGE true`:
// create, start, wait and remove, without the CLI and HTTP.
func BenchmarkRunTrue(b *testing.B) {
	te := newBenchEngine(b)
	ctx := context.Background()
	var create, start, wait, remove time.Duration
	for b.Loop() {
		t0 := time.Now()
		resp, err := te.Create(ctx, &api.ContainerConfig{Image: busybox, Cmd: []string{"true"}})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := te.Start(ctx, resp.ID); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := te.Wait(ctx, resp.ID); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if err := te.Remove(ctx, resp.ID, true, true); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		create += t1.Sub(t0)
		start += t2.Sub(t1)
		wait += t3.Sub(t2)
		remove += t4.Sub(t3)
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((create / n).Microseconds()), "create-µs")
	b.ReportMetric(float64((start / n).Microseconds()), "start-µs")
	b.ReportMetric(float64((wait / n).Microseconds()), "wait-µs")
	b.ReportMetric(float64((remove / n).Microseconds()), "remove-µs")
}
