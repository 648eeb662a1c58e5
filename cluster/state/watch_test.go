package state

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// waitClosed waits for ch with a deadline; tests never sleep to synchronise.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not woken", what)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestViewChanged(t *testing.T) {
	h := newHarness(t).base()
	v := h.f.State()
	applied, nodes, tokens := v.Changed(), v.TableChanged(TableNodes), v.TableChanged(TableJoinTokens)
	unknown := v.TableChanged("pods")
	if isClosed(applied) || isClosed(nodes) || isClosed(tokens) || isClosed(unknown) {
		t.Fatal("closed before any change")
	}
	h.ok(SetNodeState("n1", NodeDown, t0))
	waitClosed(t, applied, "Changed")
	waitClosed(t, nodes, "TableChanged(nodes)")
	waitClosed(t, unknown, "TableChanged(unknown)")
	if isClosed(tokens) {
		t.Fatal("join tokens watch fired on a node change")
	}
	if n, _ := v.Node("n1"); n.State != NodeReady {
		t.Fatal("an old view saw a later command")
	}

	// A refused command changes nothing but still wakes index waiters.
	v = h.f.State()
	nodes, applied = v.TableChanged(TableNodes), v.Changed()
	wantErr(t, h.apply(SetNodeState("nx", NodeDown, t0)), ErrNotFound)
	waitClosed(t, applied, "Changed after refusal")
	if isClosed(nodes) {
		t.Fatal("refused command fired a table watch")
	}

	// Restore wakes everyone.
	v = h.f.State()
	tokens = v.TableChanged(TableJoinTokens)
	if err := h.f.Restore(io.NopCloser(strings.NewReader(newHarness(t).base().snapshot()))); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, tokens, "TableChanged after Restore")
}

func TestWatch(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.f.Watch(ctx)
	h.ok(InitCluster(testCluster()))
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("closed early")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch not woken")
	}
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("Watch channel not closed after cancel")
		}
	}
}

func TestWaitIndex(t *testing.T) {
	h := newHarness(t)
	done := make(chan *View, 1)
	go func() {
		v, err := h.f.WaitIndex(context.Background(), 3)
		if err != nil {
			t.Error(err)
		}
		done <- v
	}()
	h.ok(InitCluster(testCluster()))
	h.ok(UpsertNode(testNode("n1"), t0))
	wantErr(t, h.apply(DeleteNode("nx", t0)), ErrNotFound) // index 3, refused
	select {
	case v := <-done:
		if v.Index() < 3 {
			t.Fatalf("view at %d", v.Index())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitIndex not woken")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.f.WaitIndex(ctx, 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitIndex on cancelled ctx: %v", err)
	}
}

// TestConcurrentReads runs readers against a writer under -race; every view
// must be internally consistent (a node's event exists once it does).
func TestConcurrentReads(t *testing.T) {
	h := newHarness(t).base()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 4)
	for range 4 {
		go func() {
			for ctx.Err() == nil {
				v := h.f.State()
				for _, n := range v.Nodes() {
					if n.JoinedAt.IsZero() {
						errc <- errors.New("half-applied node")
						return
					}
				}
				_ = v.Events(0)
			}
			errc <- nil
		}()
	}
	for i := range 300 {
		n := testNode("w" + string(rune('a'+i%26)))
		h.ok(UpsertNode(n, t0.Add(time.Duration(i)*time.Second)))
	}
	cancel()
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
