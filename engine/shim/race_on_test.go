//go:build race

package shim

// raceEnabled: the race detector inflates memory; size checks are skipped.
const raceEnabled = true
