package gossip

import "errors"

// Sentinel errors. Functions wrap them with what was being done and the ids
// involved; compare with errors.Is.
var (
	// ErrMetaTooLarge means the encoded node metadata exceeds MetaMaxSize
	// (usually too many or too long labels).
	ErrMetaTooLarge = errors.New("node metadata too large")
	// ErrInvalidMeta means the metadata is malformed: bad field values
	// locally, or bytes from a peer that do not decode.
	ErrInvalidMeta = errors.New("invalid node metadata")
	// ErrInvalidKey means a gossip key is missing or not 16, 24 or 32 bytes.
	ErrInvalidKey = errors.New("invalid gossip key")
	// ErrInvalidConfig means a Config field is missing or malformed.
	ErrInvalidConfig = errors.New("invalid gossip config")
	// ErrJoin means no address given to Join could be contacted; the wrapped
	// errors say why (for another key: "no installed keys could decrypt the
	// message").
	ErrJoin = errors.New("could not join any peer")
	// ErrLeft means the node already left the cluster.
	ErrLeft = errors.New("node has left the cluster")
	// ErrClosed means the Gossip was shut down.
	ErrClosed = errors.New("gossip is shut down")
)
