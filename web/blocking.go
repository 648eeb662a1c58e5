package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"kedge/api"
)

// Blocking queries (see api.IndexHeader): a cluster read with ?index=N
// waits until the state's index passes N, or ?wait=DURATION (default and
// at most api.MaxBlockingWait) ends, then reads as usual, with the index in
// api.IndexHeader. Reads without ?index= answer at once, with the header.
// An index above the state's (the client read another node, or a state
// since restored from a snapshot) answers at once, so the client goes on
// from this node's index instead of waiting for one it may never reach.

// StateIndexer is a read model with an index that grows with each change
// (the Raft index of the last applied entry): blocking queries wait on it.
type StateIndexer interface {
	// StateIndex returns the index of the state reads see now and a channel
	// closed once a later state is applied (taken together, so no change
	// is missed). The channel is nil when there is no state to wait on (a
	// standalone engine): queries then answer at once.
	StateIndex() (uint64, <-chan struct{})
}

// blockingQuery is what ?index= and ?wait= ask.
type blockingQuery struct {
	block bool
	index uint64
	wait  time.Duration
}

func parseBlockingQuery(r *http.Request) (blockingQuery, error) {
	q := r.URL.Query()
	bq := blockingQuery{wait: api.MaxBlockingWait}
	if v := q.Get("index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return bq, fmt.Errorf("index %q: want a state index (%s): %w", v, api.IndexHeader, api.ErrInvalid)
		}
		bq.block, bq.index = true, n
	}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return bq, fmt.Errorf("wait %q: want a duration such as 30s or 5m: %w", v, api.ErrInvalid)
		}
		bq.wait = min(d, api.MaxBlockingWait)
	}
	return bq, nil
}

// awaitIndex serves the blocking part of a read: it waits as the query
// asks and sets api.IndexHeader to the index the read that follows sees
// (or a lower one: never a higher, so the next query misses no change).
// wake, when not nil, gives a channel of other changes that end the wait
// (gossip, for the nodes' list). The wait also ends with the request or
// when done closes (the server shuts down). It returns false after writing
// an error answer.
func awaitIndex(w http.ResponseWriter, r *http.Request, view StateIndexer, wake func() <-chan struct{}, done <-chan struct{}) bool {
	bq, err := parseBlockingQuery(r)
	if err != nil {
		writeError(w, err)
		return false
	}
	var n uint64
	if bq.block {
		n = waitIndex(r.Context(), view, wake, done, bq.index, bq.wait)
	} else {
		n, _ = view.StateIndex()
	}
	w.Header().Set(api.IndexHeader, strconv.FormatUint(n, 10))
	return true
}

// waitIndex waits until the view's index differs from index (or a wake
// channel fires, or wait, ctx or done end) and returns the index then.
func waitIndex(ctx context.Context, view StateIndexer, wake func() <-chan struct{}, done <-chan struct{}, index uint64, wait time.Duration) uint64 {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		var woke <-chan struct{}
		if wake != nil {
			woke = wake() // before the index: a change in between closes it
		}
		n, changed := view.StateIndex()
		if n != index || changed == nil {
			return n
		}
		select {
		case <-changed:
			continue
		case <-woke:
		case <-timer.C:
		case <-ctx.Done():
		case <-done:
		}
		n, _ = view.StateIndex()
		return n
	}
}
