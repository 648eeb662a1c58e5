package api

import (
	"errors"
	"net/http"
)

// Sentinel errors shared by the engine and the API. The engine wraps them with
// the ids involved (fmt.Errorf("container %q: %w", id, ErrNotFound)); the HTTP
// layer maps them to status codes with HTTPStatus, and the client maps status
// codes back, so errors.Is works on both sides of the wire.
var (
	// ErrNotFound: no such container, image, volume or exec.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a name clash, or an object in the wrong state (removing a running container).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request itself is wrong (bad flag value, bad size).
	ErrInvalid = errors.New("invalid argument")
	// ErrCannotInvoke: the container's command exists but cannot run (exit 126).
	ErrCannotInvoke = errors.New("cannot invoke command")
	// ErrCommandNotFound: the container's command does not exist (exit 127).
	ErrCommandNotFound = errors.New("command not found")
	// ErrUnauthorized: the caller is not allowed.
	ErrUnauthorized = errors.New("unauthorized")
)

// HTTPStatus maps an error to the HTTP status the API answers with.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrCommandNotFound):
		return http.StatusFailedDependency // 424: the command is missing
	case errors.Is(err, ErrCannotInvoke):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// StatusError is an error answered by the API, as the client sees it.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// Unwrap lets errors.Is match the sentinel behind the status code.
func (e *StatusError) Unwrap() error {
	switch e.Code {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusFailedDependency:
		return ErrCommandNotFound
	case http.StatusForbidden:
		return ErrCannotInvoke
	}
	return nil
}
