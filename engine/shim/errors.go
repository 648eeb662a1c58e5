package shim

import (
	"errors"

	"kedge/engine/runtime"
)

// Sentinel errors of the package. Errors from the container runtime
// (runtime.ErrExecNotFound, runtime.ErrExecPermission) also survive the trip
// from the supervisor: test them with errors.Is.
var (
	// ErrNotRunning means the container has exited (or its supervisor is gone).
	ErrNotRunning = errors.New("container is not running")
	// ErrAlreadyRunning means Start found a live supervisor in the state dir.
	ErrAlreadyRunning = errors.New("a supervisor already runs for this container")
	// ErrNoTty means a resize was asked of a container without a pty.
	ErrNoTty = errors.New("container has no tty")
	// ErrProtocol means the supervisor answered something unexpected.
	ErrProtocol = errors.New("supervisor protocol error")
)

// Error kinds on the wire, so that sentinels survive the supervisor boundary.
const (
	kindExecNotFound   = "exec-not-found"
	kindExecPermission = "exec-permission"
	kindNotRunning     = "not-running"
	kindNoTty          = "no-tty"
)

var kinds = []struct {
	name string
	err  error
}{
	{kindExecNotFound, runtime.ErrExecNotFound},
	{kindExecPermission, runtime.ErrExecPermission},
	{kindNotRunning, ErrNotRunning},
	{kindNoTty, ErrNoTty},
}

// wireError is an error as sent by the supervisor.
type wireError struct {
	Message string `json:"message"`
	Kind    string `json:"kind,omitempty"`
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Message: err.Error()}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			w.Kind = k.name
			break
		}
	}
	return w
}

// remoteError is a supervisor's error on the client side; it unwraps to the
// sentinel its kind names.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func (w *wireError) err() error {
	if w == nil {
		return nil
	}
	e := &remoteError{msg: w.Message}
	for _, k := range kinds {
		if k.name == w.Kind {
			e.kind = k.err
		}
	}
	return e
}

// startExitCode is Docker's exit code for a container that failed to start.
func startExitCode(err error) int {
	switch {
	case errors.Is(err, runtime.ErrExecNotFound):
		return 127
	case errors.Is(err, runtime.ErrExecPermission):
		return 126
	}
	return 125
}
