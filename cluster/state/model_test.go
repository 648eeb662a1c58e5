package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// model is the simplest possible implementation of the command semantics:
// plain maps. The FSM must agree with it after every command.
type model struct {
	nodes   map[string]Node
	tokens  map[string]JoinToken
	api     map[string]APIToken
	revoked map[string]RevokedCert
}

func newModel() *model {
	return &model{map[string]Node{}, map[string]JoinToken{}, map[string]APIToken{}, map[string]RevokedCert{}}
}

// op is one random command: its bytes and its effect on the model, which
// returns the sentinel error the FSM must refuse it with (nil: applied).
type op struct {
	name string
	data []byte
	on   func(m *model) error
}

func (m *model) revoke(serial, node string, at time.Time) {
	if _, ok := m.revoked[serial]; !ok {
		m.revoked[serial] = RevokedCert{serial, node, at}
	}
}

func randomOp(r *rand.Rand, at time.Time) op {
	ids := []string{"a", "b", "c"}
	id := ids[r.IntN(len(ids))]
	states := []NodeState{NodeReady, NodeSuspect, NodeDown, NodeLeft}
	st := states[r.IntN(len(states))]
	switch r.IntN(16) {
	case 0, 1, 2:
		n := testNode(id)
		n.Name = "name-" + ids[r.IntN(2)]
		n.State = st
		n.Version = fmt.Sprint(r.IntN(3))
		if r.IntN(3) == 0 {
			n.CertSerial = fmt.Sprint("s", r.IntN(5))
		}
		if r.IntN(2) == 0 {
			n.Labels = nil
		}
		return op{"upsert " + id, must(UpsertNode(n, at)), func(m *model) error {
			if old, ok := m.nodes[id]; ok {
				n.JoinedAt, n.Cordoned, n.StateSince = old.JoinedAt, old.Cordoned, old.StateSince
				if n.CertSerial == "" {
					n.CertSerial = old.CertSerial
				}
				if n.State != old.State {
					n.StateSince = at
				}
			} else {
				n.JoinedAt, n.StateSince = at, at
			}
			m.nodes[id] = n
			return nil
		}}
	case 3:
		return op{"state " + id, must(SetNodeState(id, st, at)), nodeOp(id, func(n *Node) {
			if n.State != st {
				n.State, n.StateSince = st, at
			}
		})}
	case 4:
		c := r.IntN(2) == 0
		return op{"cordon " + id, must(CordonNode(id, c, at)), nodeOp(id, func(n *Node) { n.Cordoned = c })}
	case 5:
		s := fmt.Sprint("s", r.IntN(5))
		return op{"cert " + id, must(SetNodeCert(id, s)), nodeOp(id, func(n *Node) { n.CertSerial = s })}
	case 6:
		return op{"delete " + id, must(DeleteNode(id, at)), func(m *model) error {
			n, ok := m.nodes[id]
			if !ok {
				return ErrNotFound
			}
			if n.CertSerial != "" {
				m.revoke(n.CertSerial, id, at)
			}
			delete(m.nodes, id)
			return nil
		}}
	case 7:
		tk := testToken(id, int64(r.IntN(3)+Unlimited), time.Time{})
		if tk.UsesLeft == 0 {
			tk.UsesLeft = 1
		}
		if r.IntN(2) == 0 {
			tk.ExpiresAt = at.Add(time.Duration(r.IntN(5)) * time.Second)
		}
		return op{"token create " + id, must(CreateJoinToken(tk)), func(m *model) error {
			if _, ok := m.tokens[id]; ok {
				return ErrExists
			}
			m.tokens[id] = tk
			return nil
		}}
	case 8, 9:
		hash := "hash-" + id
		if r.IntN(6) == 0 {
			hash = "wrong"
		}
		return op{"token consume " + id, must(ConsumeJoinToken(id, hash, at)), func(m *model) error {
			tk, ok := m.tokens[id]
			switch {
			case !ok:
				return ErrNotFound
			case tk.SecretHash != hash:
				return ErrTokenMismatch
			case tk.Revoked:
				return ErrTokenRevoked
			case !tk.ExpiresAt.IsZero() && !at.Before(tk.ExpiresAt):
				return ErrTokenExpired
			case tk.UsesLeft == 0:
				return ErrTokenUsedUp
			case tk.UsesLeft > 0:
				tk.UsesLeft--
				m.tokens[id] = tk
			}
			return nil
		}}
	case 10:
		return op{"token revoke " + id, must(RevokeJoinToken(id, at)), func(m *model) error {
			tk, ok := m.tokens[id]
			if !ok {
				return ErrNotFound
			}
			tk.Revoked = true
			m.tokens[id] = tk
			return nil
		}}
	case 11:
		return op{"token delete " + id, must(DeleteJoinToken(id)), func(m *model) error {
			if _, ok := m.tokens[id]; !ok {
				return ErrNotFound
			}
			delete(m.tokens, id)
			return nil
		}}
	case 12:
		tk := APIToken{ID: id, Name: "n", SecretHash: fmt.Sprint("h", r.IntN(4)), Role: "admin", CreatedAt: at}
		return op{"api create " + id, must(CreateAPIToken(tk)), func(m *model) error {
			if _, ok := m.api[id]; ok {
				return ErrExists
			}
			for _, o := range m.api {
				if o.SecretHash == tk.SecretHash {
					return ErrExists
				}
			}
			m.api[id] = tk
			return nil
		}}
	case 13:
		return op{"api delete " + id, must(DeleteAPIToken(id)), func(m *model) error {
			if _, ok := m.api[id]; !ok {
				return ErrNotFound
			}
			delete(m.api, id)
			return nil
		}}
	case 14:
		s := fmt.Sprint("s", r.IntN(5))
		return op{"cert revoke " + s, must(RevokeCert(s, id, at)), func(m *model) error { m.revoke(s, id, at); return nil }}
	default:
		junk := [][]byte{
			[]byte(`{"v":2,"type":"node.voter","data":{"id":"a"}}`),
			[]byte(`{"v":1,"type":"node.reboot","data":{}}`),
			[]byte(`{"v":1,"type":"node.voter","data":{"id":"a"`),
			[]byte(`{"v":1,"type":"node.state","data":{"id":"a","state":"ready"}}`), // no time
		}
		want := []error{ErrTooNew, ErrUnknownCommand, ErrMalformed, ErrInvalid}
		i := r.IntN(len(junk))
		return op{"junk", junk[i], func(*model) error { return want[i] }}
	}
}

func nodeOp(id string, fn func(*Node)) func(*model) error {
	return func(m *model) error {
		n, ok := m.nodes[id]
		if !ok {
			return ErrNotFound
		}
		n.Labels = maps.Clone(n.Labels)
		fn(&n)
		m.nodes[id] = n
		return nil
	}
}

// compare fails if the view and the model disagree on any table.
func (m *model) compare(t *testing.T, v *View) {
	t.Helper()
	same(t, "nodes", v.Nodes(), sortedValues(m.nodes))
	same(t, "tokens", v.Tokens(), sortedValues(m.tokens))
	same(t, "api tokens", v.APITokens(), sortedValues(m.api))
	same(t, "revoked", v.RevokedCerts(), sortedValues(m.revoked))
	for name, n := range m.nodes {
		if got, _ := v.Node(name); got.ID != n.ID {
			t.Fatalf("Node(%s) = %+v", name, got)
		}
	}
	ev := v.Events(0)
	for i := 1; i < len(ev); i++ {
		if ev[i].Seq != ev[i-1].Seq+1 || ev[i].Index < ev[i-1].Index {
			t.Fatalf("events out of order at %d: %+v %+v", i, ev[i-1], ev[i])
		}
	}
}

func sortedValues[V any](m map[string]V) []V {
	var out []V
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("%s differ:\n fsm   %s\n model %s", what, g, w)
	}
}

// TestModel applies random command sequences to the FSM and to the model,
// and checks they agree after every command; that a second FSM fed the
// same log ends byte-identical; and that snapshot+restore at a random point
// followed by the rest of the log ends byte-identical too.
func TestModel(t *testing.T) {
	seeds := uint64(20)
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			const steps = 300
			cut := r.IntN(steps)
			a, b, m := newHarness(t), newHarness(t), newModel()
			a.ok(InitCluster(testCluster()))
			b.ok(InitCluster(testCluster()))
			var c *harness
			at := t0
			var trace []string
			for i := range steps {
				at = at.Add(time.Duration(r.IntN(3)) * time.Second)
				o := randomOp(r, at)
				trace = append(trace, o.name)
				want := o.on(m)
				res := a.apply(o.data, nil)
				if (want == nil) != (res.Err == nil) || (want != nil && !errors.Is(res.Err, want)) {
					t.Fatalf("step %d %s: fsm error %v, model error %v\ntrace: %s", i, o.name, res.Err, want, strings.Join(trace, ", "))
				}
				m.compare(t, a.f.State())
				if c == nil {
					b.apply(o.data, nil)
					if i == cut {
						c = newHarness(t)
						if err := c.f.Restore(nopCloser{strings.NewReader(b.snapshot())}); err != nil {
							t.Fatal(err)
						}
						c.idx = b.idx
					}
				} else {
					c.apply(o.data, nil)
				}
			}
			if c == nil {
				t.Fatal("no cut")
			}
			if got, want := c.snapshot(), a.snapshot(); got != want {
				t.Fatalf("restored+replayed FSM differs:\n%s\n---\n%s", got, want)
			}
		})
	}
}

// TestDeterminism feeds the same random log to two FSMs, one through Apply
// and one through ApplyBatch, and compares their snapshots byte for byte.
func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	a, b := newHarness(t), newHarness(t)
	var batch []*raftLog
	at := t0
	for range 2000 {
		at = at.Add(time.Second)
		o := randomOp(r, at)
		a.apply(o.data, nil)
		batch = append(batch, newLog(uint64(len(batch)+1), o.data))
	}
	b.f.ApplyBatch(batch)
	if a.snapshot() != b.snapshot() {
		t.Fatal("same log, different state")
	}
}
