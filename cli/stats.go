package cli

// `stats`: CPU % from two readings, memory usage / limit, memory %, pids;
// a live table refreshed every second, or one table with --no-stream.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name: "stats", Usage: "Display containers' resource use", ArgsUsage: "[CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-stream", Usage: "print one table and exit"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate ids"},
		},
		Action: statsAction,
	}
}

// statsRow is the latest two readings of one container.
type statsRow struct {
	prev, cur *api.Stats
	err       error
}

// cpuPercent is the CPU use between two readings, where 100% is one CPU
// (as `docker stats` shows it).
func cpuPercent(prev, cur *api.Stats) float64 {
	if prev == nil || cur == nil || !cur.Time.After(prev.Time) || cur.CPUUsageNanos < prev.CPUUsageNanos {
		return 0
	}
	return float64(cur.CPUUsageNanos-prev.CPUUsageNanos) / float64(cur.Time.Sub(prev.Time).Nanoseconds()) * 100
}

// binarySize prints bytes with binary units, as `docker stats` does ("1.5MiB").
func binarySize(n uint64) string {
	f := float64(n)
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

// unlimitedMemory: cgroup v1 reports "no limit" as a huge number (about
// 8 EiB); anything this large is shown as no limit.
const unlimitedMemory = 1 << 60

// statsTable prints the rows in order.
func statsTable(w io.Writer, names []string, rows map[string]*statsRow, noTrunc bool) {
	tw := newTable(w)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tPIDS")
	for _, ref := range names {
		r := rows[ref]
		if r == nil || r.cur == nil {
			fmt.Fprintf(tw, "%s\t%s\t--\t-- / --\t--\t--\n", ref, "")
			continue
		}
		s := r.cur
		id := s.ID
		if !noTrunc {
			id = shortID(id)
		}
		limit, memPct := "no limit", "--"
		if s.MemoryLimit > 0 && s.MemoryLimit < unlimitedMemory {
			limit = binarySize(s.MemoryLimit)
			memPct = fmt.Sprintf("%.2f%%", float64(s.MemoryUsage)/float64(s.MemoryLimit)*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%s / %s\t%s\t%d\n", id, s.Name, cpuPercent(r.prev, s),
			binarySize(s.MemoryUsage), limit, memPct, s.PidsCurrent)
	}
	_ = tw.Flush()
}

func statsAction(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	names := c.Args().Slice()
	if len(names) == 0 {
		list, err := cl.ListContainers(c.Context, false)
		if err != nil {
			return fmt.Errorf("list containers: %w", err)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		for _, ct := range list {
			names = append(names, ct.ID)
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Bool("no-stream") {
		// Two readings per container for the CPU %, all containers at once.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		rows := collectStats(ctx, cl, names, 2)
		for _, ref := range names {
			if r := rows[ref]; r != nil && r.err != nil && r.cur == nil {
				return fmt.Errorf("stats of %s: %w", ref, r.err)
			}
		}
		statsTable(c.App.Writer, names, rows, c.Bool("no-trunc"))
		return nil
	}
	var mu sync.Mutex
	rows := map[string]*statsRow{}
	var wg sync.WaitGroup
	for _, ref := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cl.Stats(ctx, ref, true, func(s api.Stats) error {
				mu.Lock()
				defer mu.Unlock()
				r := rows[ref]
				if r == nil {
					r = &statsRow{}
					rows[ref] = r
				}
				r.prev, r.cur = r.cur, &s
				return nil
			})
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				rows[ref] = &statsRow{err: err}
				mu.Unlock()
			}
		}()
	}
	defer wg.Wait()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		mu.Lock()
		fmt.Fprint(c.App.Writer, "\x1b[2J\x1b[H")
		statsTable(c.App.Writer, names, rows, c.Bool("no-trunc"))
		mu.Unlock()
	}
}

// collectStats takes n readings of each container concurrently.
func collectStats(ctx context.Context, cl *api.Client, names []string, n int) map[string]*statsRow {
	var mu sync.Mutex
	rows := map[string]*statsRow{}
	var wg sync.WaitGroup
	for _, ref := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &statsRow{}
			got := 0
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			err := cl.Stats(ctx, ref, n > 1, func(s api.Stats) error {
				r.prev, r.cur = r.cur, &s
				if got++; got >= n {
					cancel()
				}
				return nil
			})
			if err != nil && got < n && ctx.Err() == nil {
				r.err = err
			}
			mu.Lock()
			rows[ref] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return rows
}
