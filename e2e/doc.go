// Package e2e holds end-to-end tests that drive the real kedge binary: an
// agent started as a process, and the CLI run as a user would run it.
package e2e
