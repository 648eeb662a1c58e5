package consensus

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSnapshotSaveRestore(t *testing.T) {
	h := newHarness(t)
	n1 := h.start("n1")
	if err := n1.node.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 to lead", n1.node.IsLeader)
	ctx := ctxTimeout(t, 30*time.Second)
	apply := func(cmds ...string) {
		t.Helper()
		for _, c := range cmds {
			if _, _, err := n1.node.Apply(ctx, []byte(c)); err != nil {
				t.Fatalf("apply %s: %v", c, err)
			}
		}
	}
	want := func(cmds ...string) {
		t.Helper()
		if got := n1.fsm.commands(); !slices.Equal(got, cmds) {
			t.Fatalf("fsm has %v, want %v", got, cmds)
		}
	}

	apply("a", "b")
	var saved bytes.Buffer
	if err := n1.node.SaveSnapshot(ctx, &saved); err != nil {
		t.Fatalf("save: %v", err)
	}
	// Saving again with nothing new applied works too.
	var again bytes.Buffer
	if err := n1.node.SaveSnapshot(ctx, &again); err != nil {
		t.Fatalf("save again: %v", err)
	}
	if !bytes.HasPrefix(again.Bytes(), []byte(snapshotMagic)) {
		t.Fatal("second save has no header")
	}

	apply("c")
	if err := n1.node.RestoreSnapshot(ctx, bytes.NewReader(saved.Bytes())); err != nil {
		t.Fatalf("restore: %v", err)
	}
	want("a", "b")
	apply("d")
	want("a", "b", "d")

	// Damaged input is refused before the FSM is touched.
	data := saved.Bytes()
	flipped := bytes.Clone(data)
	flipped[len(flipped)-40] ^= 0xff // inside the FSM data
	for name, in := range map[string][]byte{
		"corrupt":   flipped,
		"truncated": data[:len(data)-10],
		"garbage":   []byte("definitely not a snapshot"),
		"empty":     nil,
	} {
		if err := n1.node.RestoreSnapshot(ctx, bytes.NewReader(in)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: restore returned %v, want ErrBadSnapshot", name, err)
		}
	}
	want("a", "b", "d")
	apply("e")
	want("a", "b", "d", "e")
}
