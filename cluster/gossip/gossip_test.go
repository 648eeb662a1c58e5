package gossip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestJoinSeesAllWithMetadata(t *testing.T) {
	const n = 5
	nodes := startCluster(t, n, nil)
	for _, nd := range nodes {
		members := nd.Members()
		if len(members) != n {
			t.Fatalf("%s sees %d members, want %d", nd.ID(), len(members), n)
		}
		for i, m := range members { // sorted by ID: node-0 .. node-4
			want := testConfig(t, i)
			if m.ID != want.NodeID || m.State != StateAlive {
				t.Errorf("%s sees member %d as %s %v, want %s alive", nd.ID(), i, m.ID, m.State, want.NodeID)
			}
			if m.Addr != nodes[i].LocalAddr() || m.Addr.Addr().String() != want.BindAddr {
				t.Errorf("%s sees %s at %v, its local address is %v", nd.ID(), m.ID, m.Addr, nodes[i].LocalAddr())
			}
			w := want.Meta
			got := m.Meta
			if got.ID != want.NodeID || got.Name != "lab" || got.APIAddr != w.APIAddr || got.RaftAddr != w.RaftAddr ||
				got.Version != w.Version || got.Capacity != w.Capacity || !maps.Equal(got.Labels, w.Labels) {
				t.Errorf("%s sees %s meta %+v, want %+v", nd.ID(), m.ID, got, w)
			}
		}
	}
	// Every node got a join event for every node, itself included.
	for _, nd := range nodes {
		for i := range n {
			id := fmt.Sprintf("node-%d", i)
			waitUntil(t, 2*time.Second, nd.ID()+" got a join event for "+id, func() bool {
				return nd.rec.has(EventJoin, id)
			})
		}
	}
	// Members returns copies.
	m := nodes[0].Members()[1]
	m.Meta.Labels["arch"] = "changed"
	if again, _ := nodes[0].Member(m.ID); again.Meta.Labels["arch"] != "arm64" {
		t.Errorf("Members leaked its internal label map")
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	meta := testConfig(t, 1).Meta
	meta.Name = "renamed"
	meta.Labels = map[string]string{"zone": "shed-2", "gpu": "none"}
	meta.Capacity.Pods = 30
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := nodes[1].UpdateMeta(ctx, meta); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	for _, nd := range nodes {
		waitUntil(t, 3*time.Second, nd.ID()+" sees node-1's new metadata", func() bool {
			m, ok := nd.Member("node-1")
			return ok && m.Meta.Name == "renamed" && m.Meta.Labels["zone"] == "shed-2" &&
				len(m.Meta.Labels) == 2 && m.Meta.Capacity.Pods == 30 && m.State == StateAlive
		})
		waitUntil(t, 2*time.Second, nd.ID()+" got an update event", func() bool {
			return nd.rec.has(EventUpdate, "node-1")
		})
	}
	if err := nodes[1].UpdateMeta(ctx, Meta{ID: "someone-else"}); !errors.Is(err, ErrInvalidMeta) {
		t.Errorf("UpdateMeta with another id: %v, want ErrInvalidMeta", err)
	}
}

func TestLeaveIsSeenAsLeft(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := nodes[2].Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, nd := range nodes[:2] {
		waitUntil(t, 3*time.Second, nd.ID()+" sees node-2 left", func() bool {
			return stateOf(nd, "node-2") == StateLeft && nd.rec.has(EventLeft, "node-2")
		})
		if nd.NumMembers() != 2 || len(nd.Members()) != 3 {
			t.Errorf("%s: NumMembers %d (want 2), Members %d (want 3, the left one included)",
				nd.ID(), nd.NumMembers(), len(nd.Members()))
		}
	}
	// Left stays Left: the probes that would declare it Dead skip left nodes.
	// Wait for more than a full suspicion cycle and check nobody saw it die.
	confirmed, _ := ProfileLAN.Timing().SuspicionTimeout(3)
	time.Sleep(confirmed + 2*ProfileLAN.Timing().ProbeInterval) // an observation window, not synchronisation
	for _, nd := range nodes[:2] {
		if st := stateOf(nd, "node-2"); st != StateLeft || nd.rec.has(EventDead, "node-2") {
			t.Errorf("%s: node-2 is %v after leaving (dead event: %v)", nd.ID(), st, nd.rec.has(EventDead, "node-2"))
		}
	}
	if err := nodes[2].Leave(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Leave after Shutdown: %v, want ErrClosed", err)
	}
	if _, err := nodes[2].Join(ctx, []string{nodes[0].LocalAddr().String()}); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Shutdown: %v, want ErrClosed", err)
	}
}

// TestKillIsSeenDead shuts a node down without leaving (as kill -9 would)
// and checks that every other node declares it dead within 2 s.
func TestKillIsSeenDead(t *testing.T) {
	const n = 5
	nodes := startCluster(t, n, nil)
	victim := nodes[n-1]
	times := measureDetection(t, nodes[:n-1], victim, 5*time.Second)
	var worst time.Duration
	for id, d := range times {
		t.Logf("%s saw %s dead after %v", id, victim.ID(), d.Round(time.Millisecond))
		worst = max(worst, d)
	}
	t.Logf("kill -9 detection with %d nodes, profile lan: worst %v", n, worst.Round(time.Millisecond))
	if worst >= 2*time.Second {
		t.Errorf("detection took %v, want < 2s", worst)
	}
	for _, nd := range nodes[:n-1] {
		if !nd.rec.has(EventDead, victim.ID()) && !waitEvent(nd, EventDead, victim.ID()) {
			t.Errorf("%s got no dead event", nd.ID())
		}
	}
}

// measureDetection shuts victim down and returns, per observer, how long
// after the shutdown it recorded the victim as dead.
func measureDetection(t testing.TB, observers []node, victim node, timeout time.Duration) map[string]time.Duration {
	t.Helper()
	killed := time.Now()
	if err := victim.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitUntil(t, timeout, "all observers see "+victim.ID()+" dead", func() bool {
		for _, nd := range observers {
			if stateOf(nd, victim.ID()) != StateDead {
				return false
			}
		}
		return true
	})
	times := make(map[string]time.Duration)
	for _, nd := range observers {
		m, _ := nd.Member(victim.ID())
		times[nd.ID()] = m.Since.Sub(killed)
	}
	return times
}

func waitEvent(nd node, kind EventKind, id string) bool {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if nd.rec.has(kind, id) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func TestWrongOrNoKeyCannotJoin(t *testing.T) {
	nodes := startCluster(t, 2, nil)
	seed := nodes[0].LocalAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	cfg := testConfig(t, 5)
	cfg.Key = []byte("another key of 24 bytes.")
	intruder := start(t, cfg)
	n, err := intruder.Join(ctx, []string{seed})
	if !errors.Is(err, ErrJoin) || n != 0 {
		t.Fatalf("join with the wrong key: %d, %v; want 0, ErrJoin", n, err)
	}
	t.Logf("wrong key: %v", err)

	// A plain memberlist without encryption, from a Kedge-shaped config.
	plain := memberlist.DefaultLANConfig()
	plain.Name = "plain"
	plain.BindAddr = "127.0.0.9"
	plain.BindPort = 0
	plain.Logger = log.New(io.Discard, "", 0)
	plain.Delegate = &delegate{meta: mustEncode(t, Meta{Name: "plain"})}
	ml, err := memberlist.Create(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	if n, err := ml.Join([]string{seed}); err == nil || n != 0 {
		t.Fatalf("join without a key: %d, %v; want an error", n, err)
	} else {
		t.Logf("no key: %v", err)
	}

	// Nobody lists them, not right away and not after a few gossip rounds.
	deadline := time.Now().Add(5 * ProfileLAN.Timing().ProbeInterval)
	for time.Now().Before(deadline) {
		for _, nd := range nodes {
			if nd.NumMembers() != 2 || len(nd.Members()) != 2 {
				t.Fatalf("%s lists %v", nd.ID(), nd.Members())
			}
		}
		if intruder.NumMembers() != 1 || ml.NumMembers() != 1 {
			t.Fatalf("intruders see %d and %d members, want 1 each", intruder.NumMembers(), ml.NumMembers())
		}
		time.Sleep(10 * time.Millisecond) // observation window: asserting an absence
	}

	if _, err := New(Config{NodeID: "x", BindAddr: "127.0.0.9"}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("New without key: %v, want ErrInvalidKey", err)
	}
	if _, err := New(Config{NodeID: "x", BindAddr: "127.0.0.9", Key: []byte("short")}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("New with a 5-byte key: %v, want ErrInvalidKey", err)
	}
}

func mustEncode(t testing.TB, m Meta) []byte {
	b, err := encodeMeta(m, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMetaTooLarge(t *testing.T) {
	big := map[string]string{}
	for i := range 40 {
		big[fmt.Sprintf("example.com/label-%02d", i)] = "some-value"
	}
	cfg := testConfig(t, 0)
	cfg.Meta.Labels = big
	_, err := New(cfg)
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("New with %d labels: %v, want ErrMetaTooLarge", len(big), err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "limit 512") || !strings.Contains(err.Error(), "40 labels") {
		t.Errorf("error does not say the limit and the labels: %v", err)
	}

	nodes := startCluster(t, 2, nil)
	meta := testConfig(t, 1).Meta
	meta.Labels = big
	if err := nodes[1].UpdateMeta(context.Background(), meta); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("UpdateMeta: %v, want ErrMetaTooLarge", err)
	}
	if m, _ := nodes[0].Member("node-1"); m.Meta.Labels["index"] != "1" {
		t.Errorf("a rejected update changed the metadata: %+v", m.Meta)
	}
	if m, _ := nodes[1].Member("node-1"); m.Meta.Labels["index"] != "1" {
		t.Errorf("a rejected update changed the local metadata: %+v", m.Meta)
	}
}

func TestKeyRotation(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	newKey := []byte("a fresh 16B key!")
	step := func(what string, f func(g *Gossip) error) {
		for _, nd := range nodes {
			if err := f(nd.Gossip); err != nil {
				t.Fatalf("%s on %s: %v", what, nd.ID(), err)
			}
		}
	}
	step("install", func(g *Gossip) error { return g.InstallKey(newKey) })
	step("use", func(g *Gossip) error { return g.UseKey(newKey) })
	step("remove", func(g *Gossip) error { return g.RemoveKey(testKey) })
	primary, all := nodes[0].Keys()
	if string(primary) != string(newKey) || len(all) != 1 {
		t.Fatalf("keys after rotation: primary %q, %d keys", primary, len(all))
	}

	cfg := testConfig(t, 3)
	cfg.Key = newKey
	late := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := late.Join(ctx, []string{nodes[1].LocalAddr().String()}); err != nil {
		t.Fatalf("join with the new key: %v", err)
	}
	waitUntil(t, 3*time.Second, "all see 4 members", func() bool {
		for _, nd := range append(nodes, late) {
			if nd.NumMembers() != 4 {
				return false
			}
		}
		return true
	})

	cfg = testConfig(t, 4)
	old := start(t, cfg) // still on testKey
	if _, err := old.Join(ctx, []string{nodes[1].LocalAddr().String()}); !errors.Is(err, ErrJoin) {
		t.Errorf("join with the removed key: %v, want ErrJoin", err)
	}
	if err := nodes[0].InstallKey([]byte("bad")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("InstallKey of 3 bytes: %v, want ErrInvalidKey", err)
	}
	if err := nodes[0].RemoveKey(newKey); err == nil {
		t.Errorf("removing the primary key succeeded")
	}
}

func TestSlowProfileForms(t *testing.T) {
	nodes := startCluster(t, 3, func(i int, c *Config) { c.Profile = ProfileSlow })
	if got := nodes[0].Members(); len(got) != 3 {
		t.Fatalf("members: %v", got)
	}
}

func TestRejoinAfterDeath(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	cfg := testConfig(t, 2)
	addr := nodes[2].LocalAddr()
	measureDetection(t, nodes[:2], nodes[2], 5*time.Second)
	// Restart "node-2" on the same address, as systemd would after a crash.
	cfg.BindPort = int(addr.Port())
	back := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := back.Join(ctx, []string{nodes[0].LocalAddr().String()}); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	for _, nd := range nodes[:2] {
		waitUntil(t, 3*time.Second, nd.ID()+" sees node-2 alive again", func() bool {
			return stateOf(nd, "node-2") == StateAlive && nd.rec.has(EventAlive, "node-2")
		})
	}
}

func TestConfigErrors(t *testing.T) {
	base := testConfig(t, 0)
	for name, tweak := range map[string]func(c *Config){
		"no id":        func(c *Config) { c.NodeID = "" },
		"long id":      func(c *Config) { c.NodeID = strings.Repeat("x", 200) },
		"meta id":      func(c *Config) { c.Meta.ID = "other" },
		"meta name":    func(c *Config) { c.Meta.Name = "other" },
		"bind addr":    func(c *Config) { c.BindAddr = "localhost" },
		"port":         func(c *Config) { c.BindPort = 70000 },
		"profile":      func(c *Config) { c.Profile = 7 },
		"empty label":  func(c *Config) { c.Meta.Labels = map[string]string{"": "x"} },
		"negative cpu": func(c *Config) { c.Meta.Capacity.MilliCPU = -1 },
	} {
		c := base
		c.Meta = base.Meta.clone()
		tweak(&c)
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrInvalidMeta) {
			t.Errorf("%s: New: %v, want ErrInvalidConfig or ErrInvalidMeta", name, err)
		}
	}
}

func TestJoinErrors(t *testing.T) {
	nd := start(t, testConfig(t, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := nd.Join(ctx, []string{"127.0.0.3:1"}); !errors.Is(err, ErrJoin) || !errors.Is(err, context.Canceled) {
		t.Errorf("join with a cancelled context: %v", err)
	}
	if _, err := nd.Join(context.Background(), nil); !errors.Is(err, ErrJoin) {
		t.Errorf("join with no addresses: %v", err)
	}
	if _, err := nd.Join(context.Background(), []string{"127.0.0.3:1"}); !errors.Is(err, ErrJoin) {
		t.Errorf("join of a closed port: %v", err)
	}
	if err := nd.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := nd.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := nd.UpdateMeta(context.Background(), Meta{}); !errors.Is(err, ErrClosed) {
		t.Errorf("UpdateMeta after Shutdown: %v", err)
	}
}
