package state

import (
	"errors"
	"fmt"
)

// Sentinel errors carried (wrapped, with the ids involved) by Result.Err and
// returned by Encode, Restore and the view. Compare with errors.Is.
var (
	// ErrMalformed: the command or snapshot bytes do not decode.
	ErrMalformed = errors.New("malformed")
	// ErrUnknownCommand: the command type is not known to this agent.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrTooNew: the command or snapshot has a newer schema version than this agent.
	ErrTooNew = errors.New("newer than this agent")
	// ErrInvalid: the payload decodes but fails validation.
	ErrInvalid = errors.New("invalid")
	// ErrSecret: the command would put secret material (a private key) into the log.
	ErrSecret = errors.New("secret material refused")
	// ErrNotFound: the command refers to a record that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the command would create a record that already exists.
	ErrExists = errors.New("already exists")
	// ErrTokenMismatch: the presented join-token secret hash does not match.
	ErrTokenMismatch = errors.New("join token secret does not match")
	// ErrTokenRevoked: the join token was revoked.
	ErrTokenRevoked = errors.New("join token revoked")
	// ErrTokenExpired: the join token expired before the command's time.
	ErrTokenExpired = errors.New("join token expired")
	// ErrTokenUsedUp: the join token has no uses left.
	ErrTokenUsedUp = errors.New("join token used up")
	// ErrInternal: a bug in this package; the command was not applied.
	ErrInternal = errors.New("internal error")
)

// stateError is an error with its own message that still matches a sentinel
// through errors.Is.
type stateError struct {
	msg string
	err error
}

func (e *stateError) Error() string { return e.msg }
func (e *stateError) Unwrap() error { return e.err }

// errorf returns an error reading exactly as the format, matching sentinel.
func errorf(sentinel error, format string, args ...any) error {
	return &stateError{msg: fmt.Sprintf(format, args...), err: sentinel}
}
