package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"kedge/api"
	"kedge/cluster/state"
)

// The version gate: no command enters the log unless every node that
// applies the log can apply it.
//
// Every node gossips the protocol level it applies (state.ProtocolLevel,
// or Config.ProtocolLevel when it poses as an older agent). Before a
// command is proposed, on the node that takes the write and again on the
// leader for forwarded writes, gate peeks at the command's type and
// version. Commands of level 1, which is nearly all of them, pass at once.
// For a newer one the gate collects the level of every node that applies
// the log: the voters and non-voters of the Raft configuration and every
// node with a record that has not left (a node that is down now applies
// the log when it comes back). A node gossip does not know, or that gossips
// no level, counts as level 1: unknown means possibly old. If the lowest
// level is too low, state.Fit re-encodes the command at an older version
// when that carries the same payload (a node.upsert without taints), and
// otherwise the write is refused with api.ErrConflict (409), naming the
// command, the level it needs and the nodes to upgrade or remove.

// nodeLevel is the protocol level a node applies, as this node knows it.
type nodeLevel struct {
	ID, Name string
	Level    int
}

// protocolLevel is the level this node advertises and applies.
func (c *Config) protocolLevel() int {
	if c.ProtocolLevel > 0 && c.ProtocolLevel < state.ProtocolLevel {
		return c.ProtocolLevel
	}
	return state.ProtocolLevel
}

// gate returns cmd as every node of the cluster can apply it, or refuses it.
func (m *Manager) gate(cmd []byte) ([]byte, error) {
	typ, v, ok := state.PeekCommand(cmd)
	if !ok {
		return cmd, nil // malformed: the state machine refuses it with the details
	}
	if need, known := state.LevelOf(typ, v); known && need <= 1 {
		return cmd, nil
	}
	return fitCommand(cmd, m.nodeLevels())
}

// fitCommand is the gate's decision for the nodes applying the log (pure).
func fitCommand(cmd []byte, nodes []nodeLevel) ([]byte, error) {
	low := state.ProtocolLevel
	for _, n := range nodes {
		low = min(low, max(n.Level, 1))
	}
	out, err := state.Fit(cmd, low)
	var le *state.LevelError
	switch {
	case errors.As(err, &le):
		var old []nodeLevel
		for _, n := range nodes {
			if max(n.Level, 1) < le.Level {
				old = append(old, n)
			}
		}
		slices.SortFunc(old, func(a, b nodeLevel) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
		names, desc := make([]string, len(old)), make([]string, len(old))
		for i, n := range old {
			names[i] = n.Name
			desc[i] = fmt.Sprintf("%s (%s) is at level %d", n.Name, shortNodeID(n.ID), max(n.Level, 1))
		}
		return nil, fmt.Errorf("%w, and not every node applies it: %s: upgrade %s first (or remove with kedge node rm what is gone for good): %w",
			err, strings.Join(desc, ", "), strings.Join(names, ", "), api.ErrConflict)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", err, api.ErrConflict)
	}
	return out, nil
}

// nodeLevels lists the nodes that apply the log with their protocol levels:
// this node, the servers of the Raft configuration and the recorded nodes
// that have not left.
func (m *Manager) nodeLevels() []nodeLevel {
	m.mu.Lock()
	g, fsm, rn, ms := m.gossip, m.fsm, m.raft, m.ms
	m.mu.Unlock()
	byID := map[string]*nodeLevel{}
	var order []string
	add := func(id, name string) {
		if id == "" {
			return
		}
		if n, ok := byID[id]; ok {
			if n.Name == n.ID && name != "" {
				n.Name = name
			}
			return
		}
		byID[id] = &nodeLevel{ID: id, Name: firstNonEmpty(name, id)}
		order = append(order, id)
	}
	if ms != nil {
		add(ms.NodeID, ms.NodeName)
	}
	if fsm != nil {
		for _, n := range fsm.State().Nodes() {
			if n.State != state.NodeLeft {
				add(n.ID, n.Name)
			}
		}
	}
	if rn != nil {
		if servers, err := rn.Servers(); err == nil {
			for _, s := range servers {
				add(s.ID, "")
			}
		}
	}
	out := make([]nodeLevel, 0, len(order))
	for _, id := range order {
		n := byID[id]
		n.Level = 1
		switch {
		case ms != nil && id == ms.NodeID:
			n.Level = m.cfg.protocolLevel()
		case g != nil:
			if mem, ok := g.Member(id); ok {
				n.Level = max(mem.Meta.Protocol, 1)
				if n.Name == n.ID && mem.Meta.Name != "" {
					n.Name = mem.Meta.Name
				}
			}
		}
		out = append(out, *n)
	}
	return out
}

// shortNodeID abbreviates a node id for messages.
func shortNodeID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// checkJoinerLevel refuses a joiner too old to hold the cluster's state
// (it would refuse the snapshot or the log entries it is sent).
func checkJoinerLevel(view *state.View, req *joinRequest) error {
	need, why := view.RequiredLevel()
	if have := max(req.Protocol, 1); have < need {
		return fmt.Errorf("node %s runs protocol level %d, and this cluster's state needs level %d (%s): upgrade kedge on it first: %w",
			req.Name, have, need, why, api.ErrConflict)
	}
	return nil
}
