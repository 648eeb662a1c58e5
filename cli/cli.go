// Package cli is kedge's command line: one file per command group, turning
// flags into API client calls and printing tables or JSON.
package cli

// Run runs the CLI with os.Args-style arguments and returns the exit code.
func Run(args []string) int { return 0 }
