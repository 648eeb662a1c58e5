package gossip

import (
	"fmt"
	"net/netip"
	"time"
)

// State is a member's liveness as seen by the local node.
type State int

const (
	// StateAlive: the member answers probes (or has not yet been found dead).
	StateAlive State = iota
	// StateSuspect: a probe of the member failed and it may still refute
	// (see "Suspect" in the package doc).
	StateSuspect
	// StateDead: the member stopped answering and did not refute in time.
	StateDead
	// StateLeft: the member announced its departure with Leave.
	StateLeft
)

// String returns the lower-case name of the state.
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Member is a node of the cluster as seen by the local node. The local node
// is a member too.
type Member struct {
	// ID is the node ID (memberlist's node name).
	ID string
	// Addr is the member's gossip address.
	Addr netip.AddrPort
	// State is the member's liveness.
	State State
	// Meta is the member's metadata; Meta.ID equals ID.
	Meta Meta
	// Since is when the local node observed the current State.
	Since time.Time
}

func (m Member) clone() Member {
	m.Meta = m.Meta.clone()
	return m
}

// EventKind says what happened to a member.
type EventKind int

const (
	// EventJoin: a member was seen for the first time.
	EventJoin EventKind = iota + 1
	// EventUpdate: a live member changed its metadata.
	EventUpdate
	// EventSuspect: a live member failed a probe and became suspect.
	EventSuspect
	// EventDead: a member was declared dead.
	EventDead
	// EventLeft: a member left gracefully.
	EventLeft
	// EventAlive: a member known as dead or left is alive again (restart,
	// healed partition), or a suspect member refuted.
	EventAlive
)

// String returns the lower-case name of the event kind.
func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventSuspect:
		return "suspect"
	case EventDead:
		return "dead"
	case EventLeft:
		return "left"
	case EventAlive:
		return "alive"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is a change of a member, delivered to Config.OnEvent in the order the
// local node observed it. Member is the member's state after the change.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Member is the member after the change.
	Member Member
}
