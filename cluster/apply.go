package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"kedge/api"
	"kedge/cluster/consensus"
	"kedge/cluster/state"
)

// Internal node-to-node endpoints, served on the API port to callers that
// present a node certificate.
const (
	pathApply  = "/v1/cluster/internal/apply"
	pathCAKey  = "/v1/cluster/internal/ca-key"
	pathJoin   = "/v1/cluster/join"
	maxCommand = 1 << 20
)

// applyAnswer is the leader's answer to a forwarded command.
type applyAnswer struct {
	Index uint64 `json:"index"`
	Error string `json:"error,omitempty"`
	// Kind maps the error back to an API sentinel: not_found, conflict,
	// invalid, unauthorized.
	Kind string `json:"kind,omitempty"`
	// StateIndex, in a read-index answer, is the index of the last command
	// the leader's state holds (0 from leaders older than it).
	StateIndex uint64 `json:"state_index,omitempty"`
}

// apply replicates cmd through the leader: locally when this node leads,
// else forwarded to the leader's API over mutual TLS. Refusals of the state
// machine come back as API errors (not found, conflict, invalid).
func (m *Manager) apply(ctx context.Context, cmd []byte) (*state.Result, error) {
	_, rn, _, err := m.member()
	if err != nil {
		return nil, err
	}
	if cmd, err = m.gate(cmd); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _, err := rn.Apply(ctx, cmd)
		if err == nil {
			res, _ := out.(*state.Result)
			if res == nil {
				return &state.Result{}, nil
			}
			return res, stateErr(res.Err)
		}
		var nl *consensus.NotLeaderError
		if !errors.As(err, &nl) {
			return nil, stateErr(err)
		}
		if nl.LeaderID != "" {
			idx, ferr := m.forwardApply(ctx, nl.LeaderID, cmd)
			if ferr == nil || !errors.Is(ferr, errLeaderUnreachable) {
				return &state.Result{Index: idx}, ferr
			}
		}
		// No leader known (an election), or it just changed: try again.
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no cluster leader reachable (is a quorum of voters up? see kedge status): %w", api.ErrConflict)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errLeaderUnreachable = errors.New("leader unreachable")

// forwardApply sends cmd to the leader's internal apply endpoint.
func (m *Manager) forwardApply(ctx context.Context, leaderID string, cmd []byte) (uint64, error) {
	addr := m.apiAddrOf(leaderID)
	if addr == "" {
		return 0, fmt.Errorf("leader %s: no API address known: %w", leaderID, errLeaderUnreachable)
	}
	m.mu.Lock()
	client := m.client
	m.mu.Unlock()
	// One attempt is bounded: an unreachable leader must not hold the
	// caller for the client's whole timeout.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+pathApply, bytes.NewReader(cmd))
	if err != nil {
		return 0, err
	}
	resp, sent, err := doTraced(client, req)
	if err != nil {
		// Sending it again is safe only when it never left: once the
		// leader may have it, a second copy could apply twice (a delete
		// answered "not found" after the first one deleted).
		if !sent {
			return 0, fmt.Errorf("forward to the leader at %s: %v: %w", addr, err, errLeaderUnreachable)
		}
		return 0, fmt.Errorf("forward to the leader at %s: no answer, the change may or may not have been made: %v: %w", addr, err, api.ErrConflict)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusMisdirectedRequest { // refused before Raft had it
		return 0, fmt.Errorf("%s is no longer the leader: %w", addr, errLeaderUnreachable)
	}
	var ans applyAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ans); err != nil {
		return 0, fmt.Errorf("forward to the leader at %s: %s, an unreadable answer: the change may or may not have been made: %w", addr, resp.Status, api.ErrConflict)
	}
	if ans.Error != "" {
		return ans.Index, kindErr(ans.Kind, ans.Error)
	}
	return ans.Index, nil
}

// doTraced sends req and says whether it was written whole: a request that
// was not (no connection, a dial or TLS handshake that hung, a write that
// failed part way) cannot have been acted on, as the server needs all of
// it. One that was may have been, answered or not.
func doTraced(client *http.Client, req *http.Request) (resp *http.Response, sent bool, err error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) { wrote.Store(info.Err == nil) }}
	resp, err = client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	return resp, wrote.Load(), err
}

// apiAddrOf finds a node's API address: from gossip, else the state.
func (m *Manager) apiAddrOf(id string) string {
	m.mu.Lock()
	g, fsm := m.gossip, m.fsm
	m.mu.Unlock()
	if g != nil {
		if mem, ok := g.Member(id); ok && mem.Meta.APIAddr != "" {
			return mem.Meta.APIAddr
		}
	}
	if fsm != nil {
		if n, ok := fsm.State().Node(id); ok {
			return n.Addr.API
		}
	}
	return ""
}

// HandleApply serves the leader's end of forwarded writes. The caller must
// be a node (checked by the API's auth; see web.Principal).
func (m *Manager) HandleApply(w http.ResponseWriter, r *http.Request) {
	cmd, err := io.ReadAll(io.LimitReader(r.Body, maxCommand+1))
	if err != nil || len(cmd) > maxCommand {
		writeJSON(w, http.StatusBadRequest, applyAnswer{Error: "command too large or unreadable", Kind: "invalid"})
		return
	}
	_, rn, _, err := m.member()
	if err != nil {
		writeJSON(w, http.StatusConflict, applyAnswer{Error: err.Error(), Kind: "conflict"})
		return
	}
	// The forwarding node gated the command on its view; the leader's is
	// the one that counts.
	if cmd, err = m.gate(cmd); err != nil {
		writeJSON(w, http.StatusOK, applyAnswer{Error: err.Error(), Kind: errKind(err)})
		return
	}
	out, idx, err := rn.Apply(r.Context(), cmd)
	if errors.Is(err, consensus.ErrNotLeader) {
		writeJSON(w, http.StatusMisdirectedRequest, applyAnswer{Error: err.Error()})
		return
	}
	if err == nil {
		if res, ok := out.(*state.Result); ok && res.Err != nil {
			err = res.Err
		}
	}
	ans := applyAnswer{Index: idx}
	if err != nil {
		err = stateErr(err)
		ans.Error, ans.Kind = err.Error(), errKind(err)
	}
	writeJSON(w, http.StatusOK, ans)
}

// stateErr maps the state machine's refusals to the API's sentinels.
func stateErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, state.ErrNotFound):
		return fmt.Errorf("%w: %w", err, api.ErrNotFound)
	case errors.Is(err, state.ErrExists):
		return fmt.Errorf("%w: %w", err, api.ErrConflict)
	case errors.Is(err, state.ErrTokenMismatch), errors.Is(err, state.ErrTokenRevoked),
		errors.Is(err, state.ErrTokenExpired), errors.Is(err, state.ErrTokenUsedUp):
		return fmt.Errorf("%w: %w", err, api.ErrUnauthorized)
	case errors.Is(err, state.ErrInvalid), errors.Is(err, state.ErrMalformed), errors.Is(err, state.ErrSecret),
		errors.Is(err, state.ErrTooNew), errors.Is(err, state.ErrUnknownCommand):
		return fmt.Errorf("%w: %w", err, api.ErrInvalid)
	}
	return err
}

func errKind(err error) string {
	switch {
	case errors.Is(err, api.ErrNotFound):
		return "not_found"
	case errors.Is(err, api.ErrConflict):
		return "conflict"
	case errors.Is(err, api.ErrInvalid):
		return "invalid"
	case errors.Is(err, api.ErrUnauthorized):
		return "unauthorized"
	}
	return ""
}

func kindErr(kind, msg string) error {
	var base error
	switch kind {
	case "not_found":
		base = api.ErrNotFound
	case "conflict":
		base = api.ErrConflict
	case "invalid":
		base = api.ErrInvalid
	case "unauthorized":
		base = api.ErrUnauthorized
	default:
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %w", msg, base)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

const pathReadIndex = "/v1/cluster/internal/read-index"

// ConsistentRead makes the next local reads linearizable: the leader
// proves it still leads and everything it committed is applied here before
// it returns (a follower asks the leader for its index and waits for it).
func (m *Manager) ConsistentRead(ctx context.Context) error {
	_, rn, fsm, err := m.member()
	if err != nil {
		return err
	}
	if rn.IsLeader() {
		return rn.Barrier(ctx)
	}
	leaderID, _ := rn.Leader()
	addr := m.apiAddrOf(leaderID)
	if addr == "" {
		return fmt.Errorf("a consistent read needs the leader, and none is known: %w", api.ErrConflict)
	}
	m.mu.Lock()
	client := m.client
	m.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+pathReadIndex, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("consistent read: leader unreachable: %v: %w", err, api.ErrConflict)
	}
	defer resp.Body.Close()
	var ans applyAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&ans); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("consistent read: the leader answered %s: %w", resp.Status, api.ErrConflict)
	}
	// The state's index, not Raft's: Raft counts an entry applied once it
	// has handed it to the state machine, which applies it on its own
	// goroutine, later (much later while a restarted node replays its log);
	// a read in between would miss what the leader acknowledged. The
	// leader's state index is that of a command (Raft's also counts
	// no-ops, such as the barrier's, which the state never sees).
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if ans.StateIndex > 0 {
		if _, err := fsm.WaitIndex(wctx, ans.StateIndex); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("consistent read: this node's state did not reach the leader's index %d: %w", ans.StateIndex, api.ErrConflict)
		}
		return nil
	}
	// A leader older than StateIndex: Raft's index is all there is.
	for rn.Stats().AppliedIndex < ans.Index {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wctx.Done():
			return fmt.Errorf("consistent read: this node did not reach the leader's index %d: %w", ans.Index, api.ErrConflict)
		case <-fsm.State().Changed():
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// freshState returns this node's state once it holds every write the
// cluster acknowledged before the call (see ConsistentRead). A write that
// is decided on a read (apply's "unchanged", scale's read-modify-write, an
// undo's history) reads it so: a follower's state lags the leader's by a
// heartbeat, a minority's by the whole partition, and a decision on it
// would answer from, or write back, a state that is no longer the cluster's.
//
// As apply does, it waits out an election or a leader it cannot reach for
// up to 10 s (each attempt bounded, so that an unreachable leader does not
// hold the caller), then fails with api.ErrConflict.
func (m *Manager) freshState(ctx context.Context) (*state.View, error) {
	if _, _, _, err := m.member(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Any failure is worth another try: the read changes nothing.
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := m.ConsistentRead(actx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no cluster leader answered a read of the state (is a quorum of voters up? see kedge status): %v: %w", err, api.ErrConflict)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond): // an election takes a moment: no event here tells its end
		}
	}
	_, _, fsm, err := m.member()
	if err != nil {
		return nil, err
	}
	return fsm.State(), nil
}

// HandleReadIndex is the leader's end of ConsistentRead (node callers only).
func (m *Manager) HandleReadIndex(w http.ResponseWriter, r *http.Request, _ string) {
	_, rn, fsm, err := m.member()
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if err := rn.Barrier(r.Context()); err != nil {
		writeJSON(w, http.StatusMisdirectedRequest, applyAnswer{Error: err.Error()})
		return
	}
	// After the barrier the state has applied every entry before it.
	writeJSON(w, http.StatusOK, applyAnswer{Index: rn.Stats().AppliedIndex, StateIndex: fsm.State().Index()})
}
