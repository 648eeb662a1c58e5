//go:build !linux

package tini

// Main is only meaningful inside a Linux container.
func Main(args []string) int { return 1 }
