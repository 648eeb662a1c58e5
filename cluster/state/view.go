package state

import (
	"context"
	"math"

	"github.com/hashicorp/go-memdb"
)

// View is a consistent, read-only snapshot of the state at one applied
// index: it never changes and never shows part of a command. Methods return
// copies. A View is cheap (it pins an immutable tree); drop it when done.
type View struct {
	txn *memdb.Txn
}

// State returns a view of the state as of the last applied command.
func (f *FSM) State() *View { return &View{txn: f.db.Txn(false)} }

// Index returns the raft index of the last log entry applied (or restored)
// in this view, including refused commands.
func (v *View) Index() uint64 { return v.tableIndex(appliedKey) }

// TableIndex returns the raft index at which table last changed (0 if never
// or unknown).
func (v *View) TableIndex(table string) uint64 { return v.tableIndex(table) }

func (v *View) tableIndex(name string) uint64 {
	if obj, _ := v.txn.First(tableIndexName, "id", name); obj != nil {
		return obj.(*indexRow).Index
	}
	return 0
}

// Changed returns a channel that is closed once any log entry is applied or
// a snapshot restored after this view was taken.
func (v *View) Changed() <-chan struct{} { return v.watch(appliedKey) }

// TableChanged returns a channel that is closed once table changes after this
// view was taken. For an unknown table it behaves like Changed.
func (v *View) TableChanged(table string) <-chan struct{} {
	if obj, _ := v.txn.First(tableIndexName, "id", table); obj != nil {
		return v.watch(table)
	}
	return v.Changed()
}

func (v *View) watch(name string) <-chan struct{} {
	ch, _, err := v.txn.FirstWatch(tableIndexName, "id", name)
	if err != nil {
		panic("state: watch index table: " + err.Error()) // schema is constant
	}
	return ch
}

// Cluster returns the cluster record, if the cluster was initialised.
func (v *View) Cluster() (Cluster, bool) {
	if obj, _ := v.txn.First(TableCluster, "id"); obj != nil {
		return obj.(*Cluster).clone(), true
	}
	return Cluster{}, false
}

// Nodes returns all nodes, ordered by id.
func (v *View) Nodes() []Node { return rows[Node](v.txn, TableNodes, "id") }

// Node returns the node with the given id.
func (v *View) Node(id string) (Node, bool) { return row[Node](v.txn, TableNodes, "id", id) }

// NodesByName returns the nodes called name (names are not unique), by id.
func (v *View) NodesByName(name string) []Node {
	return rows[Node](v.txn, TableNodes, "name", name)
}

// Tokens returns all join tokens, ordered by id.
func (v *View) Tokens() []JoinToken { return rows[JoinToken](v.txn, TableJoinTokens, "id") }

// Token returns the join token with the given id.
func (v *View) Token(id string) (JoinToken, bool) {
	return row[JoinToken](v.txn, TableJoinTokens, "id", id)
}

// APITokens returns all API tokens, ordered by id.
func (v *View) APITokens() []APIToken { return rows[APIToken](v.txn, TableAPITokens, "id") }

// APIToken returns the API token with the given id.
func (v *View) APIToken(id string) (APIToken, bool) {
	return row[APIToken](v.txn, TableAPITokens, "id", id)
}

// APITokenByHash returns the API token whose secret hash is hash.
func (v *View) APITokenByHash(hash string) (APIToken, bool) {
	return row[APIToken](v.txn, TableAPITokens, "hash", hash)
}

// Revoked reports whether the certificate with this serial is revoked.
func (v *View) Revoked(serial string) bool {
	_, ok := row[RevokedCert](v.txn, TableRevoked, "id", serial)
	return ok
}

// RevokedCerts returns all revoked certificates, ordered by serial.
func (v *View) RevokedCerts() []RevokedCert {
	return rows[RevokedCert](v.txn, TableRevoked, "id")
}

// Events returns the retained events produced after raft index sinceIndex,
// oldest first. Events(0) returns them all.
func (v *View) Events(sinceIndex uint64) []Event {
	if sinceIndex == math.MaxUint64 {
		return nil
	}
	it, err := v.txn.LowerBound(TableEvents, "index", sinceIndex+1)
	if err != nil {
		return nil
	}
	var out []Event
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*Event).clone())
	}
	return out
}

// record is a stored row type: it copies itself for a caller.
type record[T any] interface {
	*T
	clone() T
}

func row[T any, P record[T]](txn *memdb.Txn, table, index string, args ...any) (T, bool) {
	obj, err := txn.First(table, index, args...)
	if err != nil || obj == nil {
		var zero T
		return zero, false
	}
	return obj.(P).clone(), true
}

func rows[T any, P record[T]](txn *memdb.Txn, table, index string, args ...any) []T {
	it, err := txn.Get(table, index, args...)
	if err != nil {
		return nil
	}
	var out []T
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(P).clone())
	}
	return out
}

// Watch returns a channel that receives a value after changes to the
// state (coalesced: one value may stand for many changes) and is closed
// when ctx ends. Take a fresh State after each receive.
func (f *FSM) Watch(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	v := f.State()
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-v.Changed():
			}
			v = f.State()
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}

// WaitIndex blocks until the state has applied raft index idx (or later)
// and returns a view at or past it, or returns ctx's error.
func (f *FSM) WaitIndex(ctx context.Context, idx uint64) (*View, error) {
	for {
		v := f.State()
		if v.Index() >= idx {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-v.Changed():
		}
	}
}
