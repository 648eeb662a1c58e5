package scheduler

import "errors"

// ErrUnknownNode: the node named is not in the snapshot.
var ErrUnknownNode = errors.New("unknown node")
