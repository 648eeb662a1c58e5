package gossip

import (
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate is what memberlist calls back: it serves the local metadata and
// keeps the membership table, including dead and left members that
// memberlist.Members omits.
//
// Concurrency: memberlist calls NotifyJoin, NotifyUpdate, NotifyLeave and
// NotifyAlive with its node lock held, so the *memberlist.Node may be read
// there (and only there) without a race. Lock order is memberlist's node
// lock, then d.mu: code holding d.mu never calls into memberlist, and the
// callbacks never block (events go to a queue).
type delegate struct {
	self       string // local node ID
	log        *slog.Logger
	now        func() time.Time
	retention  time.Duration
	events     *eventQueue
	timing     Timing                           // for the suspect window
	broadcasts *memberlist.TransmitLimitedQueue // suspect announcements; nil in unit tests

	mu      sync.Mutex
	meta    []byte               // encoded local metadata; replaced, never mutated
	leaving bool                 // the local node is leaving
	members map[string]Member    // by node ID
	intents map[string]time.Time // node ID -> when we heard it is about to leave
	acked   map[string]time.Time // node ID -> when our last probe of it was answered
}

// leaveIntentWindow is how long a peer's "about to leave" announcement turns
// its death into Left (either order of arrival). It is far longer than the
// gap between the announcement and the leave (one broadcast) and far
// shorter than a restart of a node.
const leaveIntentWindow = 30 * time.Second

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

func (d *delegate) setMeta(b []byte, leaving bool) {
	d.mu.Lock()
	d.meta, d.leaving = b, leaving
	d.mu.Unlock()
}

// NodeMeta returns the local metadata. Its size was checked against
// MetaMaxSize when it was set; memberlist panics on oversize metadata.
func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) > limit {
		d.log.Error("local metadata over memberlist's limit, sending none", "size", len(d.meta), "limit", limit)
		return nil
	}
	return d.meta
}

// NotifyMsg takes the user messages Kedge sends over gossip: suspect
// announcements (see suspect.go). Others are dropped.
func (d *delegate) NotifyMsg(b []byte) {
	id, err := decodeSuspect(b)
	if err != nil {
		d.log.Debug("dropped a gossip user message", "err", err, "size", len(b))
		return
	}
	d.suspect(id, false)
}

// GetBroadcasts returns queued suspect announcements.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	if d.broadcasts == nil {
		return nil
	}
	return d.broadcasts.GetBroadcasts(overhead, limit)
}

// LocalState has no user state for push/pull.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState ignores user state from push/pull.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyAlive rejects peers whose metadata does not decode: they are not
// Kedge nodes (or are corrupt), so they never enter the membership.
//
// It also picks up leave announcements. memberlist tells Left from Dead only
// in its private nodeState.State: the State of the *Node it hands to
// NotifyLeave is never set (nodeState.State shadows Node.State), so Leave
// first broadcasts the node's metadata with the leaving flag, then leaves.
// memberlist calls NotifyAlive for every alive message before it checks the
// incarnation, so the flag is seen even when the leave's dead message
// arrived first; a member recorded Dead shortly before is then upgraded to
// Left.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	_, leaving, err := decodeMeta(peer.Name, peer.Meta)
	if err != nil {
		return err
	}
	if !leaving {
		return nil
	}
	now := d.now()
	d.mu.Lock()
	d.intents[peer.Name] = now
	m, known := d.members[peer.Name]
	upgrade := known && m.State == StateDead && now.Sub(m.Since) < leaveIntentWindow
	if upgrade {
		delete(d.intents, peer.Name)
		m.State, m.Since = StateLeft, now
		d.members[peer.Name] = m
		m = m.clone()
	}
	d.mu.Unlock()
	if upgrade {
		d.emit(Event{Kind: EventLeft, Member: m})
	}
	return nil
}

// NotifyJoin records a member that is alive for the first time or again.
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.observe(n, StateAlive) }

// NotifyUpdate records a live member's new metadata.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.observe(n, StateAlive) }

// NotifyLeave records a member that died or left. n.State does not tell
// which (see NotifyAlive); a leave announcement does.
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.observe(n, StateDead) }

// observe copies n into the table and queues the matching event. It runs
// under memberlist's node lock.
func (d *delegate) observe(n *memberlist.Node, st State) {
	// NotifyAlive let only decodable metadata in, so this fails only for
	// the local node's own oversize meta, which New and UpdateMeta prevent.
	meta, leaving, metaErr := decodeMeta(n.Name, n.Meta)
	now := d.now()
	m := Member{ID: n.Name, Addr: addrPort(n.Addr, n.Port), State: st, Meta: meta, Since: now}

	d.mu.Lock()
	prev, known := d.members[n.Name]
	if metaErr != nil && known {
		m.Meta = prev.Meta
	}
	intent, announced := d.intents[n.Name]
	var kind EventKind
	switch {
	case st == StateDead && (announced && now.Sub(intent) < leaveIntentWindow || n.Name == d.self && d.leaving):
		m.State, kind = StateLeft, EventLeft
		delete(d.intents, n.Name)
	case st == StateDead:
		kind = EventDead
	case !known:
		kind = EventJoin
	case prev.State != StateAlive && prev.State != StateSuspect:
		kind = EventAlive
	case prev.Meta.equal(m.Meta): // only the leaving flag changed
		m.Since = prev.Since
	default:
		kind = EventUpdate
		m.Since = prev.Since
	}
	if st == StateAlive && !leaving {
		delete(d.intents, n.Name) // alive again: an old announcement is void
	}
	d.members[n.Name] = m
	d.pruneLocked(now)
	d.mu.Unlock()

	if kind != 0 {
		d.emit(Event{Kind: kind, Member: m.clone()})
	}
}

// emit queues e for logging and Config.OnEvent. It does not log itself:
// it runs under memberlist's node lock, which a slow log handler would hold
// up, and with it failure detection.
func (d *delegate) emit(e Event) {
	d.events.push(e)
}

// pruneLocked forgets dead and left members older than the retention and
// expired leave announcements, and ends suspicions nobody confirmed.
func (d *delegate) pruneLocked(now time.Time) {
	d.expireSuspectsLocked(now)
	for id, t := range d.intents {
		if now.Sub(t) >= leaveIntentWindow {
			delete(d.intents, id)
		}
	}
	for id, m := range d.members {
		if (m.State == StateDead || m.State == StateLeft) && now.Sub(m.Since) > d.retention {
			delete(d.members, id)
			delete(d.acked, id)
		}
	}
}

// list returns copies of all members, sorted by ID.
func (d *delegate) list() []Member {
	d.mu.Lock()
	d.pruneLocked(d.now())
	out := make([]Member, 0, len(d.members))
	for _, m := range d.members {
		out = append(out, m.clone())
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (d *delegate) get(id string) (Member, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneLocked(d.now())
	m, ok := d.members[id]
	return m.clone(), ok
}

func (d *delegate) numAlive() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, m := range d.members {
		if m.State == StateAlive || m.State == StateSuspect {
			n++
		}
	}
	return n
}

func addrPort(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}
