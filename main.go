// Command kedge is the single binary of the Kedge container platform: the agent
// (container engine and, later, cluster peer), the CLI that talks to it, and the
// re-executed helpers (container init, per-container supervisor) that must start
// before any flag parsing.
package main

import (
	"os"

	"kedge/cli"
	"kedge/engine/reexec"
)

func main() {
	// Re-executed entry points come first: they must not pay for, or be
	// confused by, the CLI's flag parsing.
	if code, ok := reexec.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	os.Exit(cli.Run(os.Args))
}
