package consensus

import (
	"fmt"
	"log/slog"

	"github.com/hashicorp/raft"
)

// Recover implements `kedge recover --force-new-cluster`: it rewrites the
// Raft state in cfg.DataDir so that this server is the only voter, at
// cfg.AdvertiseAddr (or cfg.BindAddr when that is empty), which may differ
// from the address it had. Opened afterwards (without Bootstrap), the node
// elects itself and carries on with all its state; other servers then join
// it afresh with AddNonvoter.
//
// Use it only when a quorum is lost for good. The node must not be running.
// Every entry in the local log counts as committed, including ones the old
// cluster never committed. cfg.FSM is used to rebuild the state and must be
// discarded afterwards: pass a fresh FSM to Open. The old cluster's other
// servers must be wiped before they join again: with their old state they
// would still believe in the old configuration. Only ID, DataDir, FSM, the
// addresses, Timing and Logger of cfg are used.
func Recover(cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.checkStorage(); err != nil {
		return fmt.Errorf("recover raft: %w", err)
	}
	addr := cfg.AdvertiseAddr
	if addr == "" {
		addr = cfg.BindAddr
	}
	if err := checkHostPort(addr); err != nil {
		return fmt.Errorf("recover raft: address: %w", err)
	}
	log := cfg.Logger.With("node", cfg.ID)
	quiet := newHclog(log, "raft", slog.LevelDebug)
	store, err := openStorage(cfg.DataDir, quiet.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("recover raft: %w", err)
	}
	defer func() { _ = store.bolt.Close() }()
	has, err := store.hasState()
	if err != nil {
		return fmt.Errorf("recover raft: %w", err)
	}
	if !has {
		return fmt.Errorf("recover raft in %s: %w", cfg.DataDir, ErrNoState)
	}

	rc := cfg.Timing.raftConfig(cfg.ID)
	rc.Logger = quiet
	// The transport only encodes the peer address into the new snapshot;
	// nothing is sent.
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	defer func() { _ = trans.Close() }()
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(cfg.ID), Address: raft.ServerAddress(addr),
	}}}
	if err := raft.RecoverCluster(rc, cfg.FSM, store.logs, store.bolt, store.snaps, trans, conf); err != nil {
		return fmt.Errorf("recover raft as single voter %s at %s: %w", cfg.ID, addr, err)
	}
	log.Warn("raft configuration rewritten: this node is now the only voter", "addr", addr)
	return nil
}
