package gossip

import (
	"bytes"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// Suspicion, as this package reports it (see "Suspect" in the package doc):
//
//   - A node whose own probe of a peer fails learns it from memberlist's log
//     line "Suspect NAME has failed, no acks received", written just before
//     memberlist marks the peer suspect and broadcasts that. The log writer
//     hands the name to the delegate, which marks the member Suspect and
//     broadcasts a user message of its own (memberlist's suspect message is
//     invisible to delegates), so every node, the leader included, sees it.
//   - Another node's announcement is ignored while our own last probe of
//     the member was answered within a probe round (ackFresh): it is stale
//     or mistaken. A healed partition delivers the announcements the
//     cut-off side queued about everyone else; without this, healthy nodes
//     would flap to Suspect (and the scheduler would skip them) for a
//     suspicion window. A member that really died is found by our own next
//     probe, at most a round later.
//   - A suspect member is Alive again when a probe of it succeeds (Ping
//     delegate) or when the longest suspicion timeout, plus the time the
//     dead message needs to spread, passes without memberlist declaring it
//     Dead (it refuted); it is Dead when NotifyLeave says so.

// suspectLogPrefix and suspectLogSuffix frame the member name in memberlist's
// log line for a failed probe (state.go, probeNode; stable since 2017).
const (
	suspectLogPrefix = "Suspect "
	suspectLogSuffix = " has failed, no acks received"
)

// msgSuspect tags the user message "the sender suspects this member".
const msgSuspect byte = 's'

// suspectFromLog returns the member name in memberlist's failed-probe line,
// if msg is one.
func suspectFromLog(msg string) (string, bool) {
	if len(msg) <= len(suspectLogPrefix)+len(suspectLogSuffix) ||
		msg[:len(suspectLogPrefix)] != suspectLogPrefix || msg[len(msg)-len(suspectLogSuffix):] != suspectLogSuffix {
		return "", false
	}
	return msg[len(suspectLogPrefix) : len(msg)-len(suspectLogSuffix)], true
}

// encodeSuspect returns the user message announcing that id is suspect.
func encodeSuspect(id string) []byte {
	return append([]byte{msgSuspect}, id...)
}

// decodeSuspect parses a suspect user message. Messages come from members
// holding the gossip key, but are still checked: a bad one is dropped.
func decodeSuspect(b []byte) (string, error) {
	if len(b) < 2 || b[0] != msgSuspect {
		return "", fmt.Errorf("not a suspect message")
	}
	id := b[1:]
	if len(id) > maxNodeIDLen || !utf8.Valid(id) || bytes.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("suspect message with an invalid node id")
	}
	return string(id), nil
}

// suspectBroadcast is one queued suspect announcement; a newer one about
// the same member replaces it.
type suspectBroadcast struct {
	id  string
	msg []byte
}

func (b *suspectBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*suspectBroadcast)
	return ok && o.id == b.id
}
func (b *suspectBroadcast) Message() []byte { return b.msg }
func (b *suspectBroadcast) Finished()       {}

// suspectWindow is how long a member stays Suspect without news: the
// longest suspicion timeout memberlist may use for n members, plus two
// probe intervals for the dead message to arrive.
func (t Timing) suspectWindow(n int) time.Duration {
	_, unconfirmed := t.SuspicionTimeout(n)
	return unconfirmed + 2*t.ProbeInterval
}

// liveLocked counts the members memberlist probes (alive or suspect, the
// local node included): the timings scale with them, not with the dead
// and left ones kept for the retention.
func (d *delegate) liveLocked() int {
	n := 0
	for _, m := range d.members {
		if m.State == StateAlive || m.State == StateSuspect {
			n++
		}
	}
	return n
}

// ackFresh is how recent an answered probe of a member must be for another
// node's suspicion of it to be ignored: one round of probes over the n
// members (each is probed once per round), plus the probe timeout.
func (t Timing) ackFresh(n int) time.Duration {
	return time.Duration(max(1, n-1))*t.ProbeInterval + t.ProbeTimeout
}

// suspect marks the member id Suspect if it is Alive. announce says the
// local probe failed: the suspicion is ours, and it is broadcast. Without
// it, the suspicion is another node's, ignored if our own probe of the
// member was answered lately (see ackFresh). It never calls memberlist.
func (d *delegate) suspect(id string, announce bool) {
	if id == d.self {
		return // memberlist refutes suspicion of the local node itself
	}
	now := d.now()
	d.mu.Lock()
	if at, ok := d.acked[id]; ok && !announce && now.Sub(at) < d.timing.ackFresh(d.liveLocked()) {
		d.mu.Unlock()
		return
	}
	m, known := d.members[id]
	changed := known && m.State == StateAlive
	if changed {
		m.State, m.Since = StateSuspect, now
		d.members[id] = m
		m = m.clone()
	}
	d.mu.Unlock()
	if changed {
		d.emit(Event{Kind: EventSuspect, Member: m})
	}
	if announce && known && d.broadcasts != nil {
		d.broadcasts.QueueBroadcast(&suspectBroadcast{id: id, msg: encodeSuspect(id)})
	}
}

// clearSuspect makes a Suspect member Alive again.
func (d *delegate) clearSuspect(id string) {
	d.mu.Lock()
	m, ok := d.members[id]
	ok = ok && m.State == StateSuspect
	if ok {
		m.State, m.Since = StateAlive, d.now()
		d.members[id] = m
		m = m.clone()
	}
	d.mu.Unlock()
	if ok {
		d.emit(Event{Kind: EventAlive, Member: m})
	}
}

// expireSuspectsLocked turns members Suspect for longer than the window
// back to Alive: memberlist would have declared them Dead by now.
func (d *delegate) expireSuspectsLocked(now time.Time) {
	window := d.timing.suspectWindow(d.liveLocked())
	for id, m := range d.members {
		if m.State == StateSuspect && now.Sub(m.Since) > window {
			m.State, m.Since = StateAlive, now
			d.members[id] = m
			d.emit(Event{Kind: EventAlive, Member: m.clone()})
		}
	}
}

// NotifyPingComplete clears suspicion of a member that answered a probe,
// and notes when it did (see ackFresh).
func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	d.mu.Lock()
	d.acked[other.Name] = d.now()
	d.mu.Unlock()
	d.clearSuspect(other.Name)
}

// AckPayload sends no payload with probe acks.
func (d *delegate) AckPayload() []byte { return nil }
