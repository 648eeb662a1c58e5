package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sync"
	"time"
)

// ContactRefresh bounds how often AutonomousSource rewrites an unchanged
// desired set only to refresh its contact time: edge boxes run on SD cards.
const ContactRefresh = time.Minute

// Upstream is the control plane's view of this node's allocations.
type Upstream interface {
	// Fetch returns the allocations placed on this node and their
	// stop-after. An error means the control plane cannot vouch for them
	// (unreachable, no leader): the local copy is used instead.
	Fetch(ctx context.Context) (Snapshot, error)
	// Changed is signalled when the set may have changed.
	Changed() <-chan struct{}
}

// AutonomousSource is the Source of a node that must keep going without its
// control plane. While Upstream answers it serves its set and saves it to the
// LocalStore when it changes; when Upstream fails it serves the last saved
// set and reports the node cut off since the last contact, so Diff applies
// stop-after. At start it loads the saved set, so a node rebooted while cut
// off restarts its pods from it.
type AutonomousSource struct {
	up    Upstream
	store *LocalStore
	clk   Clock
	log   *slog.Logger

	mu        sync.Mutex
	last      Snapshot  // the set served while cut off
	have      bool      // last holds a set
	saved     Snapshot  // what is on disk
	connected bool      // the last Fetch succeeded
	contact   time.Time // the last successful Fetch
}

// NewAutonomousSource loads the store and returns the source. A missing file
// is a fresh node; a corrupt one is an error (the caller may move it aside
// and try again with an empty store).
func NewAutonomousSource(up Upstream, store *LocalStore, clk Clock, log *slog.Logger) (*AutonomousSource, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &AutonomousSource{up: up, store: store, clk: clk, log: log.With("subsystem", "reconcile")}
	snap, err := store.Load()
	switch {
	case errors.Is(err, ErrNoSnapshot):
	case err != nil:
		return nil, err
	default:
		s.last, s.saved, s.have, s.contact = snap, snap, true, snap.Contact
	}
	return s, nil
}

// Changed is Upstream's.
func (s *AutonomousSource) Changed() <-chan struct{} { return s.up.Changed() }

// Desired returns Upstream's set, or the saved one when Upstream fails;
// ErrUnknownDesired when there is neither.
func (s *AutonomousSource) Desired(ctx context.Context) ([]Desired, error) {
	snap, err := s.up.Fetch(ctx)
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.connected {
			s.log.Warn("control plane unreachable; running from the local desired state", "err", err)
		}
		s.connected = false
		if !s.have {
			return nil, fmt.Errorf("%w: %w", ErrUnknownDesired, err)
		}
		return s.last.Desired, nil
	}
	snap.Contact = now
	s.last, s.have, s.connected, s.contact = snap, true, true, now
	if !sameSet(snap, s.saved) || now.Sub(s.saved.Contact) >= ContactRefresh {
		if err := s.store.Save(snap); err != nil {
			s.log.Warn("save the local desired state", "err", err)
		} else {
			s.saved = snap
		}
	}
	return snap.Desired, nil
}

// NodeContext reports the link as the last Desired found it.
func (s *AutonomousSource) NodeContext(now time.Time) NodeContext {
	s.mu.Lock()
	defer s.mu.Unlock()
	nc := NodeContext{Now: now, ConnectedToLeader: s.connected, StopAfter: maps.Clone(s.last.StopAfter)}
	if !s.connected {
		nc.CutOffSince = s.contact
	}
	return nc
}

func sameSet(a, b Snapshot) bool {
	return reflect.DeepEqual(a.Desired, b.Desired) && maps.Equal(a.StopAfter, b.StopAfter)
}
