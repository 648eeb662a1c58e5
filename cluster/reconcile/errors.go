package reconcile

import "errors"

// Errors of LocalStore and AutonomousSource, wrapped with the path or alloc
// involved; test them with errors.Is.
var (
	// ErrNoSnapshot: no desired state was saved yet (a fresh node).
	ErrNoSnapshot = errors.New("no saved desired state")
	// ErrCorruptSnapshot: the saved desired state cannot be read: bad JSON,
	// an unknown version, or entries that make no sense.
	ErrCorruptSnapshot = errors.New("saved desired state is corrupt")
	// ErrUnknownDesired: the control plane is unreachable and no copy of the
	// desired state was ever saved.
	ErrUnknownDesired = errors.New("desired state unknown: control plane unreachable and no local copy")
)
