package gossip

import (
	"bytes"
	"testing"
)

// The protocol level travels after the flags; metadata from a node that
// predates it (no bytes after the flags) reads as level 0.
func TestMetaProtocolLevel(t *testing.T) {
	m := Meta{ID: "n", Name: "x", Version: "1.2", Labels: map[string]string{"a": "b"}, Protocol: 2}
	b, err := encodeMeta(m, true)
	if err != nil {
		t.Fatal(err)
	}
	got, leaving, err := decodeMeta("n", b)
	if err != nil || !leaving || got.Protocol != 2 || !got.equal(m) {
		t.Fatalf("round trip: %+v leaving %v: %v", got, leaving, err)
	}
	old := bytes.Clone(b[:len(b)-1]) // as a node before protocol levels wrote it
	got, leaving, err = decodeMeta("n", old)
	if err != nil || !leaving || got.Protocol != 0 {
		t.Fatalf("old metadata: %+v leaving %v: %v", got, leaving, err)
	}
	if m2 := m; m2.equal(Meta{ID: "n", Name: "x", Version: "1.2", Labels: map[string]string{"a": "b"}, Protocol: 3}) {
		t.Fatal("a changed protocol level compares equal")
	}
	if _, err := encodeMeta(Meta{Protocol: -1}, false); err == nil {
		t.Fatal("a negative level encoded")
	}
}
