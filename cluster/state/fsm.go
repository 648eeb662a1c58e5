package state

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// FSM is the replicated state machine. Raft calls Apply/ApplyBatch,
// Snapshot and Restore from its FSM goroutine; any goroutine may call
// State, Watch and WaitIndex concurrently with them.
type FSM struct {
	db   *memdb.MemDB
	cmds map[string]command
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// Result is what Apply returns for every command log entry; the proposer
// gets it from raft's ApplyFuture.Response().
type Result struct {
	// Index is the raft index of the log entry.
	Index uint64
	// Type is the command type, if the envelope decoded.
	Type string
	// Value is the command's answer, if any (documented on its payload).
	Value any
	// Err is nil if the command was applied; otherwise it wraps one of the
	// sentinel errors and the state is unchanged.
	Err error
}

// New returns an empty state machine (no cluster record, index 0).
func New() *FSM {
	db, err := memdb.NewMemDB(dbSchema())
	if err != nil {
		// The schema is a constant of this package and tested.
		panic(fmt.Sprintf("state: invalid memdb schema: %v", err))
	}
	f := &FSM{db: db, cmds: commandTable()}
	txn := db.Txn(true)
	for _, name := range append(tableNames(), appliedKey) {
		if err := txn.Insert(tableIndexName, &indexRow{Name: name}); err != nil {
			panic(fmt.Sprintf("state: init index table: %v", err))
		}
	}
	txn.Commit()
	return f
}

// Apply applies one raft log entry. Entries other than commands are
// ignored (nil result). It always returns a *Result for commands.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	return f.applyCommand(l.Index, l.Data)
}

// ApplyBatch applies consecutive raft log entries in order; the results
// correspond to the entries.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i, l := range logs {
		out[i] = f.Apply(l)
	}
	return out
}

// applyCommand decodes, checks and applies one command at raft index idx.
func (f *FSM) applyCommand(idx uint64, data []byte) *Result {
	res := &Result{Index: idx}
	env, c, err := decodeEnvelope(f.cmds, data)
	if err == nil {
		res.Type = env.Type
		res.Value, err = f.run(idx, env, c)
	}
	if err != nil {
		res.Value, res.Err = nil, err
		f.bumpApplied(idx)
	}
	return res
}

// run applies a decoded command in one write transaction, committed only if
// the handler succeeds. A panic in a handler aborts the transaction.
func (f *FSM) run(idx uint64, env envelope, c command) (val any, err error) {
	w := &writer{txn: f.db.Txn(true), index: idx, typ: env.Type}
	defer func() {
		if r := recover(); r != nil {
			w.txn.Abort()
			val, err = nil, errorf(ErrInternal, "command %s at index %d: internal error: %v", env.Type, idx, r)
		}
	}()
	val, err = c.apply(w, env.V, env.Data)
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		w.txn.Abort()
		return nil, err
	}
	w.txn.Commit()
	return val, nil
}

// bumpApplied records that idx was applied without changing any table, so
// that waiters on the index wake after a refused command.
func (f *FSM) bumpApplied(idx uint64) {
	txn := f.db.Txn(true)
	defer txn.Abort()
	if err := txn.Insert(tableIndexName, &indexRow{Name: appliedKey, Index: idx}); err != nil {
		return
	}
	txn.Commit()
}

// writer is one command's write transaction. Handlers go through it so that
// touched tables get their change index and events get their sequence.
type writer struct {
	txn     *memdb.Txn
	index   uint64
	typ     string
	touched []string
}

func (w *writer) touch(table string) {
	for _, t := range w.touched {
		if t == table {
			return
		}
	}
	w.touched = append(w.touched, table)
}

// get returns the row of table with the given id, or nil.
func (w *writer) get(table, id string) any {
	obj, err := w.txn.First(table, "id", id)
	if err != nil {
		panic(fmt.Sprintf("state: get %s %q: %v", table, id, err))
	}
	return obj
}

// put inserts or replaces a row. obj must be a fresh pointer, never a row
// read from the state.
func (w *writer) put(table string, obj any) error {
	if err := w.txn.Insert(table, obj); err != nil {
		return errorf(ErrInternal, "insert into %s: %v", table, err)
	}
	w.touch(table)
	return nil
}

// del deletes a row read from the state.
func (w *writer) del(table string, obj any) error {
	if err := w.txn.Delete(table, obj); err != nil {
		return errorf(ErrInternal, "delete from %s: %v", table, err)
	}
	w.touch(table)
	return nil
}

// event appends an event at the command's index and trims the ring to
// MaxEvents.
func (w *writer) event(at time.Time, kind, object, message string) error {
	seq := uint64(1)
	if last, _ := w.txn.Last(TableEvents, "id"); last != nil {
		seq = last.(*Event).Seq + 1
	}
	ev := &Event{Seq: seq, Index: w.index, Time: at.UTC(), Kind: kind, Object: object, Message: message}
	if err := w.put(TableEvents, ev); err != nil {
		return err
	}
	for {
		first, _ := w.txn.First(TableEvents, "id")
		if first == nil || seq-first.(*Event).Seq < MaxEvents {
			return nil
		}
		if err := w.del(TableEvents, first); err != nil {
			return err
		}
	}
}

// finish records the change index of every touched table and of the log.
func (w *writer) finish() error {
	for _, t := range append(w.touched, appliedKey) {
		if err := w.txn.Insert(tableIndexName, &indexRow{Name: t, Index: w.index}); err != nil {
			return errorf(ErrInternal, "update index of %s: %v", t, err)
		}
	}
	return nil
}

// tableNames returns the replicated tables in snapshot order.
func tableNames() []string {
	var out []string
	for _, d := range tableDefs() {
		out = append(out, d.schema.Name)
	}
	return out
}
