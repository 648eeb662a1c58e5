package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
)

// Protocol levels: what a node can apply, in one number.
//
// A protocol level names a set of command versions. Every agent advertises
// the newest level it applies (ProtocolLevel, one varint in its gossip
// metadata); before a command enters the log, the proposer checks with
// [LevelOf] that every node applying the log is at the command's level or
// above, and otherwise re-encodes it for the oldest node with [Fit] or
// refuses it. One integer is enough because levels only grow and a level
// includes everything of the levels below it; a map of command versions
// would not fit memberlist's 512 bytes of metadata next to the labels.
//
//	level 1  every command at v1; agents that advertise no level are level 1
//	level 2  node.upsert v2: the node record may carry taints
//
// Adding a command version: bump its version in commandTable, give the
// version its level here (a new ProtocolLevel if no released level has
// it), and, when older versions can carry some of its payloads, a
// downgrade in downgrades.
const ProtocolLevel = 2

// versionLevels gives, per command type, the protocol level that introduced
// each version after v1 (every v1 is level 1).
var versionLevels = map[string]map[int]int{
	// Taints came into the node record after v1 without a version of their
	// own; agents of that time, which may refuse them, count as level 1.
	CmdNodeUpsert: {2: 2},
}

// downgrades re-encode the payload of version v (the key) as version v-1,
// or fail when that version cannot carry it.
var downgrades = map[string]map[int]func(data json.RawMessage) (json.RawMessage, error){
	CmdNodeUpsert: {2: downgradeNodeUpsert2},
}

// commands is the command table, built once: the gate reads it on every
// write. It is never modified.
var commands = sync.OnceValue(commandTable)

// downgradeNodeUpsert2: a node.upsert without taints reads the same at v1.
func downgradeNodeUpsert2(data json.RawMessage) (json.RawMessage, error) {
	var p NodeUpsert
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	if len(p.Node.Taints) > 0 {
		return nil, fmt.Errorf("node %s has taints, which v1 does not carry", p.Node.ID)
	}
	return data, nil
}

// ErrNeedsLevel: a command needs a newer protocol level than some node of
// the cluster applies (see [LevelError]).
var ErrNeedsLevel = errors.New("needs a newer protocol level")

// LevelError is [Fit]'s refusal: command Type at Version needs protocol
// level Level (why: Reason, when an older version exists but cannot carry
// this payload).
type LevelError struct {
	Type    string
	Version int
	Level   int
	Reason  string
}

func (e *LevelError) Error() string {
	msg := fmt.Sprintf("command %s v%d needs protocol level %d", e.Type, e.Version, e.Level)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrNeedsLevel) hold.
func (e *LevelError) Unwrap() error { return ErrNeedsLevel }

// LevelOf returns the protocol level at which version v of command typ
// appeared; ok is false for a type or version this agent does not know.
func LevelOf(typ string, v int) (level int, ok bool) {
	c, known := commands()[typ]
	if !known || v < 1 || v > c.version {
		return 0, false
	}
	return levelOf(typ, v), true
}

func levelOf(typ string, v int) int {
	if l, ok := versionLevels[typ][v]; ok {
		return l
	}
	if v <= 1 {
		return 1
	}
	return levelOf(typ, v-1) // a version without its own entry came with the one before
}

// CommandVersionsAt returns the newest version of every command an agent
// at protocol level applies (CommandVersions at ProtocolLevel).
func CommandVersionsAt(level int) map[string]int {
	out := map[string]int{}
	for typ, c := range commands() {
		for v := c.version; v >= 1; v-- {
			if levelOf(typ, v) <= level {
				out[typ] = v
				break
			}
		}
	}
	return out
}

// NewAtLevel returns an empty state machine that applies only the command
// versions of protocol level (at most ProtocolLevel): how an older agent
// behaves, for tests and for an agent told to pose as one.
func NewAtLevel(level int) *FSM {
	f := New()
	if level >= ProtocolLevel {
		return f
	}
	versions := CommandVersionsAt(level)
	cmds := maps.Clone(f.cmds)
	for typ, c := range cmds {
		v, ok := versions[typ]
		if !ok {
			delete(cmds, typ)
			continue
		}
		c.version = v
		cmds[typ] = c
	}
	f.cmds = cmds
	return f
}

// PeekCommand returns the type and version of an encoded command without
// decoding its payload (the envelope's fields come first as Encode writes
// them). ok is false when b is not an envelope.
func PeekCommand(b []byte) (typ string, v int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", 0, false
	}
	haveType, haveV := false, false
	for dec.More() && !(haveType && haveV) {
		t, err := dec.Token()
		if err != nil {
			return "", 0, false
		}
		key, _ := t.(string)
		switch key {
		case "type":
			if err := dec.Decode(&typ); err != nil {
				return "", 0, false
			}
			haveType = true
		case "v":
			if err := dec.Decode(&v); err != nil {
				return "", 0, false
			}
			haveV = true
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", 0, false
			}
		}
	}
	return typ, v, haveType && haveV
}

// Fit returns cmd as nodes at protocol level can apply it: cmd itself when
// its version is that old, else re-encoded at the newest older version
// that carries the same payload. It fails with a *LevelError (wrapping
// ErrNeedsLevel) when no such version exists, and with ErrTooNew or
// ErrUnknownCommand for a command this agent does not know (one from a
// newer agent: it must not reach the log past this one).
func Fit(cmd []byte, level int) ([]byte, error) {
	typ, v, ok := PeekCommand(cmd)
	if !ok {
		return cmd, nil // malformed: the state machine refuses it with the details
	}
	need, known := LevelOf(typ, v)
	if !known {
		if _, isType := commands()[typ]; isType {
			return nil, errorf(ErrTooNew, "command %s v%d is newer than this agent (v%d): upgrade this node first",
				typ, v, commands()[typ].version)
		}
		return nil, errorf(ErrUnknownCommand, "unknown command %s v%d: upgrade this node first", quoteType(typ), v)
	}
	if need <= level {
		return cmd, nil
	}
	var env envelope
	if err := json.Unmarshal(cmd, &env); err != nil {
		return cmd, nil
	}
	data, to := env.Data, v
	for levelOf(typ, to) > level {
		down, ok := downgrades[typ][to]
		if !ok {
			return nil, &LevelError{Type: typ, Version: v, Level: need}
		}
		var err error
		if data, err = down(data); err != nil {
			return nil, &LevelError{Type: typ, Version: v, Level: need, Reason: err.Error()}
		}
		to--
	}
	b, err := json.Marshal(envelope{V: to, Type: typ, Data: data})
	if err != nil {
		return nil, fmt.Errorf("command %s: re-encode at v%d: %w", typ, to, err)
	}
	return b, nil
}

// RequiredLevel returns the lowest protocol level an agent needs to hold
// this state, and why: a node that joins receives the state as a snapshot
// of its rows, which it decodes strictly, and replays log entries that
// made them. 1 means any agent.
func (v *View) RequiredLevel() (int, string) {
	for _, n := range v.Nodes() {
		if len(n.Taints) > 0 {
			return 2, fmt.Sprintf("node %s has taints", n.Name)
		}
	}
	return 1, ""
}
