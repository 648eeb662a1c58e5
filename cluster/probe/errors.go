package probe

import "errors"

// The package's sentinel errors. They are wrapped with the probe and the
// address or command involved; compare with errors.Is. A Status carries only
// the message (LastError).
var (
	// ErrInvalidProbe is a probe that cannot run: no action or several, a
	// bad port, scheme or threshold, an empty command, no host.
	ErrInvalidProbe = errors.New("invalid probe")
	// ErrPortNotFound is a named port that the container does not declare.
	ErrPortNotFound = errors.New("named port not found")
	// ErrNoExecer is an exec probe on a Manager built without an Execer.
	ErrNoExecer = errors.New("no execer for exec probes")
	// ErrTimeout is a check that outlasted the probe's timeoutSeconds.
	ErrTimeout = errors.New("probe timed out")
	// ErrFailed is a check that ran and answered "unhealthy": a non-zero
	// exit code or an HTTP status outside 200-399.
	ErrFailed = errors.New("probe failed")
)
