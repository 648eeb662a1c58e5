package state

import (
	"fmt"
	"time"
)

// Handlers for the nodes table.

func (w *writer) node(id string) *Node {
	if obj := w.get(TableNodes, id); obj != nil {
		return obj.(*Node)
	}
	return nil
}

// mustNode returns a copy of node id, for modification.
func (w *writer) mustNode(id string) (Node, error) {
	n := w.node(id)
	if n == nil {
		return Node{}, errorf(ErrNotFound, "node %q: not found", id)
	}
	return n.clone(), nil
}

func applyNodeUpsert(w *writer, p *NodeUpsert) (any, error) {
	n := p.Node.clone()
	at := utc(p.At)
	n.JoinedAt = utc(n.JoinedAt)
	old := w.node(n.ID)
	if old == nil {
		if n.JoinedAt.IsZero() {
			n.JoinedAt = at
		}
		n.StateSince = at
		if err := w.event(at, EventNodeJoined, "node/"+n.ID,
			fmt.Sprintf("node %s joined (%s, api %s)", n.Name, n.State, n.Addr.API)); err != nil {
			return nil, err
		}
	} else {
		n.JoinedAt = old.JoinedAt
		n.Cordoned = old.Cordoned
		if n.CertSerial == "" {
			n.CertSerial = old.CertSerial
		}
		n.StateSince = old.StateSince
		if n.State != old.State {
			n.StateSince = at
			if err := stateEvent(w, &n, old.State, at); err != nil {
				return nil, err
			}
		}
	}
	if err := w.put(TableNodes, &n); err != nil {
		return nil, err
	}
	return n.clone(), nil
}

func stateEvent(w *writer, n *Node, from NodeState, at time.Time) error {
	kind := EventNodeState
	if n.State == NodeLeft {
		kind = EventNodeLeft
	}
	return w.event(at, kind, "node/"+n.ID, fmt.Sprintf("node %s: %s -> %s", n.Name, from, n.State))
}

func applyNodeState(w *writer, p *NodeSetState) (any, error) {
	n, err := w.mustNode(p.ID)
	if err != nil || n.State == p.State {
		return nil, err
	}
	from := n.State
	n.State, n.StateSince = p.State, utc(p.At)
	if err := stateEvent(w, &n, from, n.StateSince); err != nil {
		return nil, err
	}
	return nil, w.put(TableNodes, &n)
}

func applyNodeCordon(w *writer, p *NodeCordon) (any, error) {
	n, err := w.mustNode(p.ID)
	if err != nil || n.Cordoned == p.Cordoned {
		return nil, err
	}
	n.Cordoned = p.Cordoned
	kind := EventNodeUncordoned
	if p.Cordoned {
		kind = EventNodeCordoned
	}
	if err := w.event(p.At, kind, "node/"+n.ID, "node "+n.Name+" "+kind[len("node."):]); err != nil {
		return nil, err
	}
	return nil, w.put(TableNodes, &n)
}

func applyNodeCert(w *writer, p *NodeSetCert) (any, error) {
	n, err := w.mustNode(p.ID)
	if err != nil || n.CertSerial == p.Serial {
		return nil, err
	}
	n.CertSerial = p.Serial
	return nil, w.put(TableNodes, &n)
}

func applyNodeVoter(w *writer, p *NodeSetVoter) (any, error) {
	n, err := w.mustNode(p.ID)
	if err != nil || n.Voter == p.Voter {
		return nil, err
	}
	n.Voter = p.Voter
	return nil, w.put(TableNodes, &n)
}

func applyNodeDelete(w *writer, p *NodeDelete) (any, error) {
	n := w.node(p.ID)
	if n == nil {
		return nil, errorf(ErrNotFound, "node %q: not found", p.ID)
	}
	if err := w.del(TableNodes, n); err != nil {
		return nil, err
	}
	if n.CertSerial != "" {
		if err := revokeCert(w, n.CertSerial, n.ID, utc(p.At)); err != nil {
			return nil, err
		}
	}
	return nil, w.event(p.At, EventNodeRemoved, "node/"+n.ID, "node "+n.Name+" removed")
}
