package gossip

import (
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// tableUnderTest is a delegate driven directly with memberlist.Node values,
// with a settable clock.
type tableUnderTest struct {
	*delegate
	clock time.Time
}

func newTable(t *testing.T) *tableUnderTest {
	tt := &tableUnderTest{clock: time.Unix(1_000_000, 0)}
	tt.delegate = &delegate{
		self:      "self",
		log:       testLogger(t),
		now:       func() time.Time { return tt.clock },
		retention: time.Minute,
		members:   make(map[string]Member),
		intents:   make(map[string]time.Time),
		acked:     make(map[string]time.Time),
		events:    newEventQueue(slog.New(slog.DiscardHandler)), // never run: inspected by queued
	}
	return tt
}

func (tt *tableUnderTest) node(t *testing.T, id string, leaving bool) *memberlist.Node {
	b, err := encodeMeta(Meta{Name: "h-" + id}, leaving)
	if err != nil {
		t.Fatal(err)
	}
	return &memberlist.Node{Name: id, Addr: net.IPv4(10, 0, 0, 1), Port: 7946, Meta: b}
}

// queued returns the kinds of the events queued so far.
func (tt *tableUnderTest) queued() []EventKind {
	tt.events.mu.Lock()
	defer tt.events.mu.Unlock()
	var ks []EventKind
	for _, e := range tt.events.q {
		ks = append(ks, e.Kind)
	}
	return ks
}

func TestLeaveAnnouncementEitherOrder(t *testing.T) {
	// Announcement, then the leave's dead message.
	tt := newTable(t)
	tt.NotifyJoin(tt.node(t, "a", false))
	if err := tt.NotifyAlive(tt.node(t, "a", true)); err != nil {
		t.Fatal(err)
	}
	tt.NotifyUpdate(tt.node(t, "a", true)) // memberlist applies it: only the flag changed
	tt.NotifyLeave(tt.node(t, "a", true))
	if m, _ := tt.get("a"); m.State != StateLeft {
		t.Errorf("announced then dead: %v, want left", m.State)
	}
	if got, want := tt.queued(), []EventKind{EventJoin, EventLeft}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v (no update for the flag alone)", got, want)
	}

	// The dead message overtook the announcement: Dead, then upgraded.
	tt.NotifyJoin(tt.node(t, "b", false))
	tt.NotifyLeave(tt.node(t, "b", false))
	if m, _ := tt.get("b"); m.State != StateDead {
		t.Fatalf("dead: %v", m.State)
	}
	tt.clock = tt.clock.Add(time.Second)
	if err := tt.NotifyAlive(tt.node(t, "b", true)); err != nil {
		t.Fatal(err)
	}
	if m, _ := tt.get("b"); m.State != StateLeft {
		t.Errorf("dead then announced: %v, want left", m.State)
	}

	// An announcement long after a death does not rewrite history, and a
	// node that came back voids its old announcement.
	tt.NotifyJoin(tt.node(t, "c", false))
	tt.NotifyLeave(tt.node(t, "c", false))
	tt.clock = tt.clock.Add(leaveIntentWindow)
	tt.NotifyAlive(tt.node(t, "c", true))
	if m, _ := tt.get("c"); m.State != StateDead {
		t.Errorf("late announcement: %v, want dead", m.State)
	}
	tt.NotifyJoin(tt.node(t, "c", false)) // restarted
	tt.NotifyLeave(tt.node(t, "c", false))
	if m, _ := tt.get("c"); m.State != StateDead {
		t.Errorf("crash after restart: %v, want dead", m.State)
	}
}

func TestEventKindsAndRetention(t *testing.T) {
	tt := newTable(t)
	a := tt.node(t, "a", false)
	tt.NotifyJoin(a)
	b, _ := encodeMeta(Meta{Name: "renamed"}, false)
	tt.NotifyUpdate(&memberlist.Node{Name: "a", Addr: a.Addr, Port: a.Port, Meta: b})
	tt.NotifyLeave(a)
	tt.clock = tt.clock.Add(time.Second)
	tt.NotifyJoin(a)
	tt.NotifyLeave(a)
	got := tt.queued()
	want := []EventKind{EventJoin, EventUpdate, EventDead, EventAlive, EventDead}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if m, _ := tt.get("a"); m.Addr.String() != "10.0.0.1:7946" || m.Meta.Name != "h-a" {
		t.Errorf("member: %+v", m)
	}
	if len(tt.list()) != 1 || tt.numAlive() != 0 {
		t.Errorf("list %v, alive %d", tt.list(), tt.numAlive())
	}
	tt.clock = tt.clock.Add(tt.retention + time.Second)
	if l := tt.list(); len(l) != 0 {
		t.Errorf("dead member kept past retention: %v", l)
	}
}

func TestNotifyAliveRejectsForeignMeta(t *testing.T) {
	tt := newTable(t)
	if err := tt.NotifyAlive(&memberlist.Node{Name: "x", Meta: []byte(`{"consul":1}`)}); err == nil {
		t.Error("accepted a peer with foreign metadata")
	}
	if err := tt.NotifyAlive(&memberlist.Node{Name: "x"}); err == nil {
		t.Error("accepted a peer without metadata")
	}
}
