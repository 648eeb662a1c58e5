//go:build linux

package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// The init reports a failure to the parent over a close-on-exec pipe: a
// successful exec closes the pipe with nothing written, a failure writes one
// initError.
type initError struct {
	// Kind is "notfound", "permission" or "" (anything else).
	Kind string `json:"kind,omitempty"`
	// Msg says what failed.
	Msg string `json:"msg"`
}

const (
	kindNotFound   = "notfound"
	kindPermission = "permission"
)

// newInitError classifies err for the parent.
func newInitError(err error) initError {
	switch {
	case errors.Is(err, ErrExecNotFound):
		return initError{Kind: kindNotFound, Msg: err.Error()}
	case errors.Is(err, ErrExecPermission):
		return initError{Kind: kindPermission, Msg: err.Error()}
	}
	return initError{Msg: err.Error()}
}

// err turns the report back into an error wrapping the matching sentinel.
func (e initError) err() error {
	switch e.Kind {
	case kindNotFound:
		return fmt.Errorf("container init: %s: %w", e.Msg, ErrExecNotFound)
	case kindPermission:
		return fmt.Errorf("container init: %s: %w", e.Msg, ErrExecPermission)
	}
	return fmt.Errorf("container init: %s", e.Msg)
}

// readInitError reads the error pipe to EOF: nil means the exec succeeded.
func readInitError(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read init status: %w", err)
	}
	if len(data) == 0 {
		return nil
	}
	var ie initError
	if err := json.Unmarshal(data, &ie); err != nil {
		return fmt.Errorf("container init failed with an unreadable report %q: %w", data, err)
	}
	return ie.err()
}

// writeInitError is the init's last act on failure.
func writeInitError(w *os.File, err error) {
	data, _ := json.Marshal(newInitError(err))
	_, _ = w.Write(data)
}

// execError maps an execve or lookup errno to the sentinels.
func execError(path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("exec %q: %w", path, ErrExecNotFound)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("exec %q: %w", path, ErrExecPermission)
	}
	return fmt.Errorf("exec %q: %w", path, err)
}
