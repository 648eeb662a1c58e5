package dns

import "errors"

// Sentinel errors of the package, wrapped with the addresses and paths
// involved; compare with errors.Is.
var (
	// ErrNoListen reports a Server started without any address to listen on.
	ErrNoListen = errors.New("dns server has no listen address")
	// ErrStarted reports Start called on a server that is running or closed.
	ErrStarted = errors.New("dns server already started")
	// ErrNoUpstreams reports that no usable (non-loopback) nameserver was found.
	ErrNoUpstreams = errors.New("no usable upstream nameserver")
	// ErrMismatch reports an upstream answer to a question other than the one asked.
	ErrMismatch = errors.New("upstream answered another question")
	// ErrBadAddress reports a listen or upstream address that cannot be parsed.
	ErrBadAddress = errors.New("bad dns server address")
)
