package cli

// The pull/push progress display: on a terminal one line per layer, updated
// in place with ANSI cursor moves; otherwise a plain line whenever a layer's
// status changes (not for every byte).

import (
	"fmt"
	"io"
	"strings"

	"kedge/api"
)

// progressDisplay renders a stream of api.Progress.
type progressDisplay struct {
	out   io.Writer
	tty   bool
	lines int            // lines printed so far (tty mode)
	row   map[string]int // layer -> its line number (tty mode)
	last  map[string]string
}

func newProgressDisplay(out io.Writer, tty bool) *progressDisplay {
	return &progressDisplay{out: out, tty: tty, row: map[string]int{}, last: map[string]string{}}
}

// update shows one progress message; it is the callback of PullImage/PushImage.
func (d *progressDisplay) update(p api.Progress) error {
	if p.Error != "" || p.ImageID != "" {
		return nil // the caller reports the end of the stream
	}
	if p.Layer == "" {
		if p.Status != "" {
			fmt.Fprintln(d.out, p.Status)
			d.lines++
		}
		return nil
	}
	text := progressLine(p)
	if !d.tty {
		// Plain output: only when the words change, not the byte counts.
		key := progressStatus(p)
		if d.last[p.Layer] == key {
			return nil
		}
		d.last[p.Layer] = key
		fmt.Fprintln(d.out, text)
		return nil
	}
	row, ok := d.row[p.Layer]
	if !ok {
		d.row[p.Layer] = d.lines
		d.lines++
		fmt.Fprintln(d.out, text)
		return nil
	}
	up := d.lines - row
	// Up to the layer's line, clear it, write, back down to the bottom.
	fmt.Fprintf(d.out, "\x1b[%dA\r\x1b[2K%s\r\x1b[%dB", up, text, up)
	return nil
}

// progressStatus is the wording of a layer's state, without numbers.
func progressStatus(p api.Progress) string {
	switch {
	case p.Done && p.Status == "":
		return "Complete"
	case p.Status != "":
		return p.Status
	case p.Total > 0 || p.Current > 0:
		return "Downloading"
	}
	return "Waiting"
}

// progressLine is one layer's line: "abc123def456: Downloading [====>   ] 1.2MB/3.4MB".
func progressLine(p api.Progress) string {
	s := shortID(p.Layer) + ": " + progressStatus(p)
	if p.Done || p.Total <= 0 {
		return s
	}
	cur := min(max(p.Current, 0), p.Total)
	const width = 30
	filled := int(cur * width / p.Total)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("%s [%s] %s/%s", s, bar, api.FormatSize(cur), api.FormatSize(p.Total))
}
