package cli

// `get -w`: the list, then a row for each object that changes, comes or
// goes, as kubectl prints them. The reads are blocking queries (see
// api.IndexHeader): each one waits at the agent until the cluster state
// moves past the index of the previous answer, so nothing polls.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

// Timing of a watch.
const (
	// watchRetryMin and watchRetryMax bound the back-off between reads
	// while the agent cannot be reached or fails.
	watchRetryMin = 250 * time.Millisecond
	watchRetryMax = 5 * time.Second
	// watchPoll is the pause between reads of an agent that answers with
	// no state index: it predates blocking queries, so it is polled.
	watchPoll = 2 * time.Second
)

// watchSource reads one kind's list for a watch.
type watchSource struct {
	// read returns the list's table and the state index it was read at; q
	// is nil for the first read and otherwise makes it a blocking query.
	read func(ctx context.Context, q *api.BlockingQuery) (header []string, rows []getRow, index uint64, err error)
	// appendOnly: each read returns only what is new (events), all of
	// which is printed; nothing changes or goes.
	appendOnly bool
}

// watchAction is `get KIND [NAME] -w`.
func watchAction(c *cli.Context, kind string) error {
	format, err := getOutputFormat(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	var src watchSource
	switch kind {
	case "nodes", "node", "no":
		src.read = func(ctx context.Context, q *api.BlockingQuery) ([]string, []getRow, uint64, error) {
			nodes, idx, err := cl.ClusterNodesBlocking(ctx, q)
			header, rows := nodeRows(nodes)
			return header, rows, idx, err
		}
	case "events", "event", "ev":
		var since uint64
		src.appendOnly = true
		src.read = func(ctx context.Context, q *api.BlockingQuery) ([]string, []getRow, uint64, error) {
			evs, idx, err := cl.ClusterEventsBlocking(ctx, since, q)
			if err == nil && len(evs) > 0 {
				since = evs[len(evs)-1].Index
			}
			header, rows := eventRows(evs)
			return header, rows, idx, err
		}
	default:
		name, ns := c.Args().Get(1), getNamespace(c)
		src.read = func(ctx context.Context, q *api.BlockingQuery) ([]string, []getRow, uint64, error) {
			list, idx, err := cl.GetObjectsBlocking(ctx, kind, ns, name, q)
			if q != nil && name != "" && errors.Is(err, api.ErrNotFound) {
				list, err = nil, nil // deleted since the first read
			}
			header, rows := objectRows(kind, ns, format == "wide", list)
			return header, rows, idx, err
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return watchList(ctx, src, &watchOutput{w: c.App.Writer, format: format}, c.App.ErrWriter)
}

// watchList prints the list, then what changes, until ctx ends (nil then).
// A failed first read is the error; later failures are reported once on
// errw, and the reads go on with a back-off until one succeeds.
func watchList(ctx context.Context, src watchSource, out *watchOutput, errw io.Writer) error {
	header, rows, index, err := src.read(ctx, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	last := map[string]getRow{}
	for _, r := range rows {
		last[r.key] = r
	}
	if err := out.first(header, rows); err != nil {
		return err
	}
	retry, failing := time.Duration(0), false
	for {
		if index == 0 && !pause(ctx, watchPoll) {
			return nil
		}
		_, rows, idx, err := src.read(ctx, &api.BlockingQuery{Index: index})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if !failing {
				fmt.Fprintf(errw, "kedge: watch: %v (retrying)\n", err)
				failing = true
			}
			retry = min(max(2*retry, watchRetryMin), watchRetryMax)
			if !pause(ctx, retry) {
				return nil
			}
			continue
		}
		retry, failing, index = 0, false, idx
		if err := printChanges(out, src.appendOnly, last, rows); err != nil {
			return err
		}
	}
}

// printChanges prints the rows that are new or differ from last, then the
// rows of last that are gone (by key, for a stable order), and updates
// last. With appendOnly every row is printed and last is not used.
func printChanges(out *watchOutput, appendOnly bool, last map[string]getRow, rows []getRow) error {
	now := time.Now()
	if appendOnly {
		for _, r := range rows {
			if err := out.next(r, false, now); err != nil {
				return err
			}
		}
		return nil
	}
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		seen[r.key] = true
		if prev, ok := last[r.key]; ok && out.same(prev, r) {
			continue
		}
		last[r.key] = r
		if err := out.next(r, false, now); err != nil {
			return err
		}
	}
	var gone []string
	for k := range last {
		if !seen[k] {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		r := last[k]
		delete(last, k)
		if err := out.next(r, true, now); err != nil {
			return err
		}
	}
	return nil
}

// pause waits d, or returns false when ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watchOutput prints a watch: a table (the first rows aligned under the
// header, later rows padded to the same columns), or the objects as JSON
// or YAML documents, one each.
type watchOutput struct {
	w      io.Writer
	format string
	widths []int // of the table's columns, padding included
	docs   int   // YAML documents written
}

// same reports whether two reads of an object print the same.
func (o *watchOutput) same(a, b getRow) bool {
	switch o.format {
	case formatJSON, "yaml":
		return string(a.raw) == string(b.raw)
	}
	return strings.Join(a.cells, "\t") == strings.Join(b.cells, "\t")
}

// first prints the list.
func (o *watchOutput) first(header []string, rows []getRow) error {
	switch o.format {
	case formatJSON, "yaml":
		for _, r := range rows {
			if err := o.next(r, false, time.Time{}); err != nil {
				return err
			}
		}
		return nil
	}
	now := time.Now()
	lines := [][]string{header}
	for _, r := range rows {
		lines = append(lines, r.render(now, false))
	}
	// As newTable aligns: each column but the last as wide as its widest
	// cell plus 3 spaces.
	o.widths = make([]int, len(header))
	for _, cells := range lines {
		for i, cell := range cells {
			if i < len(o.widths) {
				o.widths[i] = max(o.widths[i], utf8.RuneCountInString(cell)+3)
			}
		}
	}
	for _, cells := range lines {
		if err := o.line(cells); err != nil {
			return err
		}
	}
	return nil
}

// next prints one object that is new, changed, or gone.
func (o *watchOutput) next(r getRow, gone bool, now time.Time) error {
	switch o.format {
	case formatJSON:
		return writeJSON(o.w, r.raw)
	case "yaml":
		o.docs++
		return writeYAML(o.w, r.raw, o.docs > 1)
	}
	return o.line(r.render(now, gone))
}

// line prints a table row padded to the columns; a cell wider than its
// column widens it for this row only.
func (o *watchOutput) line(cells []string) error {
	var b strings.Builder
	for i, cell := range cells {
		b.WriteString(cell)
		if i == len(cells)-1 {
			break
		}
		pad := 3
		if i < len(o.widths) {
			pad = max(pad, o.widths[i]-utf8.RuneCountInString(cell))
		}
		b.WriteString(strings.Repeat(" ", pad))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(o.w, b.String())
	return err
}
