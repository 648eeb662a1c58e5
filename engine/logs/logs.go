// Package logs writes and reads container logs in Docker's json-file format:
// one JSON object per line with the text, the stream (stdout or stderr) and a
// timestamp, rotated by size. The supervisor writes; the engine reads (tail,
// since, follow across rotations).
//
// The file format is Docker's, so existing tooling reads it:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-27T02:31:43.123456789Z"}
//
// A line of output becomes one entry whose Log ends in "\n". Output longer
// than MaxLineSize without a newline is cut into entries of MaxLineSize bytes
// without the "\n" (Docker's partial lines); so is the unfinished tail of a
// stream when it ends.
//
// Rotation: when the live file (path) would grow past the size limit, it is
// renamed to path.1, path.1 to path.2 and so on; the oldest beyond the file
// limit is deleted. Readers follow the live file across renames.
package logs

import (
	"time"
)

// MaxLineSize is the longest text of one entry; longer lines are split.
const MaxLineSize = 16 * 1024

// Stream names used in entries.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Entry is one log line.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// ReadOptions select the entries Read returns.
type ReadOptions struct {
	// Tail is how many of the last entries to return; negative means all.
	Tail int
	// Since and Until bound the entries by time when non-zero.
	Since, Until time.Time
	// Follow keeps reading new entries (across rotations) until ctx ends or
	// Done is closed.
	Follow bool
	// Done, when closed during Follow, makes Read return after draining what
	// was written (the container exited).
	Done <-chan struct{}
}
