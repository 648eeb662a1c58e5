// Package logs writes and reads container logs in Docker's json-file format:
// one JSON object per line with the text, the stream (stdout or stderr) and a
// timestamp, rotated by size. The supervisor writes; the engine reads (tail,
// since, follow across rotations).
package logs

// CONTRACT STUBS: replaced by the real implementation.

import (
	"context"
	"errors"
	"time"
)

var errTODO = errors.New("logs: not implemented")

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

// Read calls fn for each selected entry of the log at path, oldest first,
// including rotated files (path.1, path.2, ...).
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Entry) error) error {
	return errTODO
}
