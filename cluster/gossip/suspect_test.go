package gossip

import (
	"slices"
	"testing"
	"time"
)

func TestSuspectFromLogLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		id   string
		ok   bool
	}{
		{"[INFO] memberlist: Suspect node-3 has failed, no acks received", "node-3", true},
		{"[INFO] memberlist: Suspect 8f3a-b has failed, no acks received\n", "8f3a-b", true},
		{"[WARN] memberlist: Refuting a suspect message (from: node-1)", "", false},
		{"[INFO] memberlist: Marking node-3 as failed, suspect timeout reached (0 peer confirmations)", "", false},
		{"[INFO] memberlist: Suspect  has failed, no acks received", "", false},
		{"Suspect has failed, no acks received", "", false},
	} {
		_, msg := parseStdLine([]byte(tc.line))
		id, ok := suspectFromLog(msg)
		if ok != tc.ok || id != tc.id {
			t.Errorf("%q: got %q %v, want %q %v", tc.line, id, ok, tc.id, tc.ok)
		}
	}
}

func TestSuspectMessageRoundTrip(t *testing.T) {
	id, err := decodeSuspect(encodeSuspect("node-7"))
	if err != nil || id != "node-7" {
		t.Fatalf("round trip: %q, %v", id, err)
	}
	for _, bad := range [][]byte{nil, {msgSuspect}, {'x', 'a'}, append([]byte{msgSuspect}, "a\nb"...), append([]byte{msgSuspect}, 0xff, 0xfe)} {
		if _, err := decodeSuspect(bad); err == nil {
			t.Errorf("decodeSuspect(%q) accepted", bad)
		}
	}
}

func FuzzDecodeSuspect(f *testing.F) {
	f.Add(encodeSuspect("node-1"))
	f.Add([]byte{msgSuspect})
	f.Add([]byte("sa\x00b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := decodeSuspect(b)
		if err != nil {
			return
		}
		if id == "" || len(id) > maxNodeIDLen {
			t.Fatalf("accepted id %q", id)
		}
		if again, err := decodeSuspect(encodeSuspect(id)); err != nil || again != id {
			t.Fatalf("re-encoding %q: %q, %v", id, again, err)
		}
	})
}

func TestSuspectTableTransitions(t *testing.T) {
	tt := newTable(t)
	tt.timing = ProfileLAN.Timing()
	tt.NotifyJoin(tt.node(t, "a", false))
	tt.NotifyJoin(tt.node(t, "b", false))

	tt.suspect("a", false)
	if m, _ := tt.get("a"); m.State != StateSuspect {
		t.Fatalf("after a failed probe a is %v, want suspect", m.State)
	}
	tt.suspect("self", false) // never suspects itself
	tt.suspect("gone", false) // unknown members stay unknown
	if _, ok := tt.get("gone"); ok {
		t.Fatal("suspicion of an unknown member added it")
	}

	// A probe that succeeds clears it.
	tt.NotifyPingComplete(tt.node(t, "a", false), time.Millisecond, nil)
	if m, _ := tt.get("a"); m.State != StateAlive {
		t.Fatalf("after an ack a is %v, want alive", m.State)
	}

	// A suspicion nobody confirms ends after the window: it refuted.
	tt.suspect("b", false)
	tt.clock = tt.clock.Add(tt.timing.suspectWindow(3) - time.Millisecond)
	if m, _ := tt.get("b"); m.State != StateSuspect {
		t.Fatalf("inside the window b is %v, want suspect", m.State)
	}
	tt.clock = tt.clock.Add(2 * time.Millisecond)
	if m, _ := tt.get("b"); m.State != StateAlive {
		t.Fatalf("after the window b is %v, want alive", m.State)
	}

	// Dead wins over suspect, and a dead member is not suspected again.
	tt.suspect("a", false)
	tt.NotifyLeave(tt.node(t, "a", false))
	tt.suspect("a", false)
	if m, _ := tt.get("a"); m.State != StateDead {
		t.Fatalf("a is %v, want dead", m.State)
	}
	want := []EventKind{EventJoin, EventJoin, EventSuspect, EventAlive, EventSuspect, EventAlive, EventSuspect, EventDead}
	if got := tt.queued(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestKilledMemberIsSuspectBeforeDead(t *testing.T) {
	nodes := startCluster(t, 4, nil)
	victim := nodes[3]
	if err := victim.Shutdown(); err != nil {
		t.Fatal(err)
	}
	observers := nodes[:3]
	waitUntil(t, 5*time.Second, "all observers see the victim dead", func() bool {
		for _, nd := range observers {
			if stateOf(nd, victim.ID()) != StateDead {
				return false
			}
		}
		return true
	})
	// The node whose probe failed saw suspect first, and its announcement
	// reached the others before memberlist's dead message did (the
	// suspicion timeout is 400 ms, a broadcast round 50 ms).
	saw := 0
	for _, nd := range observers {
		if suspectBeforeDead(nd, victim.ID()) {
			saw++
		}
	}
	if saw < 2 {
		t.Errorf("%d of 3 observers saw %s suspect before dead, want at least 2", saw, victim.ID())
	}
}

// suspectBeforeDead reports whether nd recorded id as suspect, then dead.
func suspectBeforeDead(nd node, id string) bool {
	nd.rec.mu.Lock()
	defer nd.rec.mu.Unlock()
	suspect := -1
	for i, e := range nd.rec.events {
		if e.Member.ID != id {
			continue
		}
		switch e.Kind {
		case EventSuspect:
			suspect = i
		case EventDead:
			return suspect >= 0
		}
	}
	return false
}

func TestSuspicionAnnouncementSpreadsAndEnds(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	// node-0 announces that node-2 failed a probe; node-2 is in fact fine.
	nodes[0].d.suspect("node-2", true)
	waitUntil(t, 3*time.Second, "node-1 hears node-2 is suspect", func() bool {
		return nodes[1].rec.has(EventSuspect, "node-2")
	})
	for _, nd := range nodes[:2] {
		waitUntil(t, 3*time.Second, nd.ID()+" sees node-2 alive again", func() bool {
			return nd.rec.has(EventAlive, "node-2") && stateOf(nd, "node-2") == StateAlive
		})
	}
	if nodes[2].rec.has(EventSuspect, "node-2") {
		t.Error("node-2 suspects itself")
	}
}

// TestStaleSuspicionIgnored: another node's suspicion of a member whose
// probe we saw answered within a round is stale (a healed partition
// delivers what the cut-off side queued) and is ignored; once our answers
// are older than a round, or when our own probe fails, it counts.
func TestStaleSuspicionIgnored(t *testing.T) {
	tt := newTable(t)
	tt.timing = ProfileLAN.Timing()
	tt.NotifyJoin(tt.node(t, "self", false)) // memberlist reports the local node too
	tt.NotifyJoin(tt.node(t, "a", false))
	tt.NotifyJoin(tt.node(t, "b", false))
	fresh := tt.timing.ackFresh(3)

	tt.NotifyPingComplete(tt.node(t, "a", false), time.Millisecond, nil)
	tt.clock = tt.clock.Add(fresh - time.Millisecond)
	tt.NotifyMsg(encodeSuspect("a"))
	if m, _ := tt.get("a"); m.State != StateAlive {
		t.Fatalf("a peer's claim against a member that answered us %v ago made it %v", fresh-time.Millisecond, m.State)
	}
	tt.suspect("a", true) // our own probe failed: that counts at once
	if m, _ := tt.get("a"); m.State != StateSuspect {
		t.Fatalf("after our own failed probe a is %v, want suspect", m.State)
	}

	tt.NotifyPingComplete(tt.node(t, "b", false), time.Millisecond, nil)
	tt.clock = tt.clock.Add(fresh + time.Millisecond)
	tt.NotifyMsg(encodeSuspect("b"))
	if m, _ := tt.get("b"); m.State != StateSuspect {
		t.Fatalf("a peer's claim against a member silent for %v left it %v, want suspect", fresh+time.Millisecond, m.State)
	}
}
