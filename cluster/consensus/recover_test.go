package consensus

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// TestRecoverLoneSurvivor loses two of three voters for good and turns the
// survivor, at a new address, into a working single-voter cluster.
func TestRecoverLoneSurvivor(t *testing.T) {
	h := newHarness(t)
	ctx := ctxTimeout(t, 60*time.Second)
	n1 := h.start("n1")
	if err := n1.node.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 to lead", n1.node.IsLeader)
	for _, id := range []string{"n2", "n3"} {
		tn := h.start(id)
		if err := n1.node.AddNonvoter(ctx, id, tn.addr); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 15*time.Second, "3 voters", func() bool { return len(voterIDs(t, n1.node)) == 3 })
	for _, c := range []string{"x", "y"} {
		if _, _, err := n1.node.Apply(ctx, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	h.stop("n2")
	h.stop("n3")
	h.stop("n1")

	// Without a quorum, n1 alone cannot elect itself.
	n1 = h.start("n1")
	if _, _, err := n1.node.Apply(ctx, []byte("z")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("apply without quorum: got %v, want ErrNotLeader", err)
	}
	h.stop("n1")

	if err := Recover(Config{ID: "n1", DataDir: t.TempDir(), BindAddr: "127.0.0.1:1", FSM: &testFSM{}}); !errors.Is(err, ErrNoState) {
		t.Fatalf("recover of an empty directory: got %v, want ErrNoState", err)
	}

	// Recover at a new address, then restart with a fresh FSM.
	newAddr := freeAddr(t, "127.0.0.31")
	cfg := h.config(n1)
	cfg.BindAddr, cfg.FSM = newAddr, &testFSM{}
	if err := Recover(cfg); err != nil {
		t.Fatalf("recover: %v", err)
	}
	n1.addr = newAddr
	n1 = h.start("n1")
	waitFor(t, 10*time.Second, "recovered n1 to lead", n1.node.IsLeader)
	if !slices.Equal(n1.fsm.commands(), []string{"x", "y"}) {
		t.Fatalf("recovered fsm has %v, want [x y]", n1.fsm.commands())
	}
	if _, _, err := n1.node.Apply(ctx, []byte("z")); err != nil {
		t.Fatalf("apply after recovery: %v", err)
	}
	servers, err := n1.node.Servers()
	if err != nil || len(servers) != 1 || servers[0].ID != "n1" || servers[0].Addr != newAddr || !servers[0].Voter {
		t.Fatalf("servers after recovery: %+v, %v", servers, err)
	}
	if !slices.Equal(n1.fsm.commands(), []string{"x", "y", "z"}) {
		t.Fatalf("fsm has %v, want [x y z]", n1.fsm.commands())
	}
}

// freeAddr returns host:port with a port that was free a moment ago.
func freeAddr(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
