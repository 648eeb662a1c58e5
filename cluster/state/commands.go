package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Command types. The payload of each is the struct of the same name in
// payloads.go (for example CmdNodeUpsert carries a NodeUpsert).
const (
	CmdClusterInit      = "cluster.init"
	CmdClusterGossipKey = "cluster.gossip_key"
	CmdNodeUpsert       = "node.upsert"
	CmdNodeState        = "node.state"
	CmdNodeCordon       = "node.cordon"
	CmdNodeCert         = "node.cert"
	CmdNodeVoter        = "node.voter"
	CmdNodeDelete       = "node.delete"
	CmdJoinTokenCreate  = "jointoken.create"
	CmdJoinTokenConsume = "jointoken.consume"
	CmdJoinTokenRevoke  = "jointoken.revoke"
	CmdJoinTokenDelete  = "jointoken.delete"
	CmdAPITokenCreate   = "apitoken.create"
	CmdAPITokenDelete   = "apitoken.delete"
	CmdCertRevoke       = "cert.revoke"
	CmdEventRecord      = "event.record"
	CmdObjectPut        = "object.put"
	CmdObjectDelete     = "object.delete"
	CmdAllocPlan        = "alloc.plan"
	CmdAllocStatus      = "alloc.status"
	CmdAllocGC          = "alloc.gc"
)

// command is how the FSM applies one command type: the newest payload
// version it understands and the function that decodes and applies it.
type command struct {
	version int
	apply   func(w *writer, v int, data json.RawMessage) (any, error)
}

// commandTable lists every command this agent applies. Adding a command is
// one line here plus its payload and handler.
func commandTable() map[string]command {
	return map[string]command{
		CmdClusterInit:      handle(1, applyClusterInit),
		CmdClusterGossipKey: handle(1, applyClusterGossipKey),
		CmdNodeUpsert:       handle(2, applyNodeUpsert), // v2: may carry taints (v1 decodes the same)
		CmdNodeState:        handle(1, applyNodeState),
		CmdNodeCordon:       handle(1, applyNodeCordon),
		CmdNodeCert:         handle(1, applyNodeCert),
		CmdNodeVoter:        handle(1, applyNodeVoter),
		CmdNodeDelete:       handle(1, applyNodeDelete),
		CmdJoinTokenCreate:  handle(1, applyJoinTokenCreate),
		CmdJoinTokenConsume: handle(1, applyJoinTokenConsume),
		CmdJoinTokenRevoke:  handle(1, applyJoinTokenRevoke),
		CmdJoinTokenDelete:  handle(1, applyJoinTokenDelete),
		CmdAPITokenCreate:   handle(1, applyAPITokenCreate),
		CmdAPITokenDelete:   handle(1, applyAPITokenDelete),
		CmdCertRevoke:       handle(1, applyCertRevoke),
		CmdEventRecord:      handle(1, applyEventRecord),
		CmdObjectPut:        handle(1, applyObjectPut),
		CmdObjectDelete:     handle(1, applyObjectDelete),
		CmdAllocPlan:        handle(1, applyAllocPlan),
		CmdAllocStatus:      handle(1, applyAllocStatus),
		CmdAllocGC:          handle(1, applyAllocGC),
	}
}

// payload is implemented by every command payload: validate checks what
// can be checked without the state.
type payload[T any] interface {
	*T
	validate() error
}

// handle adapts a typed handler to a command: strict decode, validate, apply.
// When a payload gets a v2, decode older versions here and convert them.
func handle[T any, P payload[T]](version int, fn func(*writer, P) (any, error)) command {
	return command{version: version, apply: func(w *writer, v int, data json.RawMessage) (any, error) {
		p := P(new(T))
		if err := strictUnmarshal(data, p); err != nil {
			return nil, errorf(ErrMalformed, "command %s v%d: malformed data: %v", w.typ, v, err)
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("command %s: %w", w.typ, err)
		}
		return fn(w, p)
	}}
}

// CommandVersions returns, for every command type this agent applies, the
// newest version it understands. Agents advertise it as one number, the
// protocol level (see ProtocolLevel), so a leader never proposes a command
// some peer would refuse.
func CommandVersions() map[string]int {
	out := make(map[string]int)
	for typ, c := range commandTable() {
		out[typ] = c.version
	}
	return out
}

// envelope is the wire form of every log entry.
type envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// secretMarker is text that must never appear in a command or the state.
const secretMarker = "PRIVATE KEY"

// Encode builds the log entry for a command of type typ with payload data
// (the payload struct named after the type), at the oldest version that
// carries it (see downgrades in levels.go), so that older agents apply all
// they can. It refuses unknown types and anything carrying a private key.
func Encode(typ string, data any) ([]byte, error) {
	c, ok := commandTable()[typ]
	if !ok {
		return nil, errorf(ErrUnknownCommand, "unknown command type %q", typ)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("command %s: %w", typ, err)
	}
	v := c.version
	for down := downgrades[typ][v]; down != nil; down = downgrades[typ][v] {
		older, err := down(raw)
		if err != nil {
			break // this version is the oldest that carries the payload
		}
		raw, v = older, v-1
	}
	b, err := json.Marshal(envelope{V: v, Type: typ, Data: raw})
	if err != nil {
		return nil, fmt.Errorf("command %s: %w", typ, err)
	}
	if bytes.Contains(b, []byte(secretMarker)) {
		return nil, errorf(ErrSecret, "command %s carries %q: private keys never enter the cluster state", typ, secretMarker)
	}
	return b, nil
}

// decodeEnvelope parses and checks a log entry against the command table.
func decodeEnvelope(table map[string]command, b []byte) (envelope, command, error) {
	var env envelope
	if bytes.Contains(b, []byte(secretMarker)) {
		return env, command{}, errorf(ErrSecret, "command carries %q: private keys never enter the cluster state", secretMarker)
	}
	if err := strictUnmarshal(b, &env); err != nil {
		return env, command{}, errorf(ErrMalformed, "malformed command: %v", err)
	}
	if env.Type == "" || env.V < 1 || len(env.Data) == 0 {
		return env, command{}, errorf(ErrMalformed, "malformed command: need v >= 1, type and data (got v%d type %q)", env.V, env.Type)
	}
	c, ok := table[env.Type]
	if !ok {
		return env, command{}, errorf(ErrUnknownCommand,
			"unknown command %s v%d: this agent may be older than the cluster: upgrade kedge", quoteType(env.Type), env.V)
	}
	if env.V > c.version {
		return env, command{}, errorf(ErrTooNew,
			"command %s v%d is newer than this agent (v%d): upgrade kedge", env.Type, env.V, c.version)
	}
	return env, c, nil
}

// quoteType quotes a command type from the log only if it needs quoting, so
// messages stay readable and a hostile type cannot forge log lines.
func quoteType(t string) string {
	if len(t) > 64 || strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == '"' || r > '~' }) {
		return fmt.Sprintf("%.64q", t)
	}
	return t
}

// commandTypes returns the known command types, sorted (for tests).
func commandTypes() []string {
	return slices.Sorted(maps.Keys(commandTable()))
}
