package agent

import (
	"context"
	"errors"
	"io"
)

// Run starts the agent and serves until ctx ends, then stops cleanly
// (containers keep running under their supervisors).
func Run(ctx context.Context, cfg *Config) error { return errors.New("agent: not implemented yet") }

// DemoOptions configure the demo workload.
type DemoOptions struct {
	// Port is the host port the demo page listens on.
	Port int
}

// Demo runs the embedded demo: an agent with its own data dir, an image built
// from this binary that serves a small page, and a container running it; it
// prints the URL and runs until ctx ends, then removes what it created.
func Demo(ctx context.Context, cfg *Config, opts DemoOptions, out io.Writer) error {
	return errors.New("demo: not implemented yet")
}
