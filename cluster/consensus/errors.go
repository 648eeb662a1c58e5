package consensus

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare them with errors.Is; the errors returned by this
// package wrap them with the ids and addresses involved.
var (
	// ErrNotLeader is returned by operations that only the leader can do. The
	// returned error is a *NotLeaderError naming the leader when it is known,
	// so the caller can forward the request there.
	ErrNotLeader = errors.New("not the raft leader")

	// ErrShutdown is returned by operations on a Node after Shutdown.
	ErrShutdown = errors.New("raft node is shut down")

	// ErrHasState is returned by Bootstrap when the data directory already
	// holds Raft state: the node is a member of a cluster already and rejoins
	// it by itself when opened.
	ErrHasState = errors.New("raft state already exists")

	// ErrNoState is returned by Recover when the data directory holds no
	// Raft state to recover.
	ErrNoState = errors.New("no raft state to recover")

	// ErrBadSnapshot is returned by RestoreSnapshot for input that is not a
	// snapshot written by SaveSnapshot, or that is truncated or corrupt.
	// Nothing has been changed when it is returned.
	ErrBadSnapshot = errors.New("invalid raft snapshot")
)

// NotLeaderError reports that this node is not the leader. LeaderID and
// LeaderAddr are empty when no leader is known (for example during an
// election). errors.Is(err, ErrNotLeader) is true for it.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return ErrNotLeader.Error() + " (no leader known)"
	}
	return fmt.Sprintf("%s (leader is %s at %s)", ErrNotLeader, e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
