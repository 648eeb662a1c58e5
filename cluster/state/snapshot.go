package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// The snapshot encoding is newline-delimited JSON:
//
//	{"format":"kedge-state","schema":1,"index":42}
//	{"table":"nodes","row":{...}}            one line per row, tables in
//	...                                       tableDefs order, rows by id
//	{"end":true,"rows":17}                    trailer: guards truncation
//
// Equal states encode to equal bytes.

// snapshotFormat names the encoding in the header line.
const snapshotFormat = "kedge-state"

type snapshotHeader struct {
	Format string `json:"format"`
	Schema int    `json:"schema"`
	Index  uint64 `json:"index"`
}

type snapshotLine struct {
	Table string          `json:"table,omitempty"`
	Row   json.RawMessage `json:"row,omitempty"`
	End   bool            `json:"end,omitempty"`
	Rows  int64           `json:"rows,omitempty"`
}

// WriteSnapshot writes every table of the view to out in the snapshot
// encoding. It is what raft persists and what Restore reads.
func (v *View) WriteSnapshot(out io.Writer) error {
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Schema: SchemaVersion, Index: v.Index()}); err != nil {
		return err
	}
	var n int64
	for _, name := range tableNames() {
		it, err := v.txn.Get(name, "id")
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", name, err)
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			raw, err := json.Marshal(obj)
			if err != nil {
				return fmt.Errorf("snapshot %s: %w", name, err)
			}
			if err := enc.Encode(snapshotLine{Table: name, Row: raw}); err != nil {
				return err
			}
			n++
		}
	}
	if err := enc.Encode(snapshotLine{End: true, Rows: n}); err != nil {
		return err
	}
	return bw.Flush()
}

// fsmSnapshot is a point-in-time view handed to raft; Persist runs
// concurrently with Apply, which is safe because the view is immutable.
type fsmSnapshot struct{ view *View }

// Snapshot captures the current state for raft. It is O(1): the encoding
// happens in Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{view: f.State()}, nil
}

// Persist writes the snapshot to sink and closes it, or cancels it on error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.view.WriteSnapshot(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release drops the snapshot's view.
func (s *fsmSnapshot) Release() { s.view = nil }

// Restore replaces the whole state with the snapshot read from rc, in one
// transaction: on any error the state is unchanged. It refuses snapshots of
// a newer schema than SchemaVersion. It closes rc.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	hdr, rowsByTable, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	txn := f.db.Txn(true)
	defer txn.Abort()
	for _, name := range tableNames() {
		if _, err := txn.DeleteAll(name, "id"); err != nil {
			return fmt.Errorf("restore: clear %s: %w", name, err)
		}
		for _, obj := range rowsByTable[name] {
			if err := txn.Insert(name, obj); err != nil {
				return errorf(ErrMalformed, "restore: bad %s row: %v", name, err)
			}
		}
		if err := checkUnique(txn, f.db.DBSchema().Tables[name], len(rowsByTable[name])); err != nil {
			return err
		}
	}
	for _, name := range append(tableNames(), appliedKey) {
		if err := txn.Insert(tableIndexName, &indexRow{Name: name, Index: hdr.Index}); err != nil {
			return fmt.Errorf("restore: index of %s: %w", name, err)
		}
	}
	txn.Commit()
	return nil
}

// checkUnique refuses a snapshot with duplicate keys: memdb silently
// replaces a row (or a unique index entry) on a duplicate, so every index of
// the table must hold exactly the n rows restored.
func checkUnique(txn *memdb.Txn, schema *memdb.TableSchema, n int) error {
	table := schema.Name
	for _, ix := range slices.Sorted(maps.Keys(schema.Indexes)) {
		it, err := txn.Get(table, ix)
		if err != nil {
			return fmt.Errorf("restore: %s: %w", table, err)
		}
		got := 0
		for obj := it.Next(); obj != nil; obj = it.Next() {
			got++
		}
		if got != n {
			return errorf(ErrMalformed, "restore: %s has duplicate %s keys (%d rows, %d distinct)", table, ix, n, got)
		}
	}
	return nil
}

// readSnapshot decodes and checks a whole snapshot before anything changes.
func readSnapshot(r io.Reader) (snapshotHeader, map[string][]any, error) {
	var hdr snapshotHeader
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hdr); err != nil {
		return hdr, nil, errorf(ErrMalformed, "restore: malformed snapshot header: %v", err)
	}
	if hdr.Format != snapshotFormat {
		return hdr, nil, errorf(ErrMalformed, "restore: not a kedge state snapshot (format %.64q)", hdr.Format)
	}
	if hdr.Schema > SchemaVersion {
		return hdr, nil, errorf(ErrTooNew,
			"snapshot schema v%d is newer than this agent (v%d): upgrade kedge", hdr.Schema, SchemaVersion)
	}
	if hdr.Schema < 1 {
		return hdr, nil, errorf(ErrMalformed, "restore: snapshot schema v%d", hdr.Schema)
	}
	decoders := make(map[string]func(json.RawMessage) (any, error))
	for _, d := range tableDefs() {
		decoders[d.schema.Name] = d.decode
	}
	out := make(map[string][]any)
	var n int64
	for {
		var line snapshotLine
		if err := dec.Decode(&line); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("truncated: no trailer")
			}
			return hdr, nil, errorf(ErrMalformed, "restore: after %d rows: %v", n, err)
		}
		if line.End {
			if line.Rows != n {
				return hdr, nil, errorf(ErrMalformed, "restore: trailer says %d rows, read %d", line.Rows, n)
			}
			break
		}
		decode, ok := decoders[line.Table]
		if !ok {
			return hdr, nil, errorf(ErrMalformed, "restore: unknown table %.64q", line.Table)
		}
		obj, err := decode(line.Row)
		if err != nil {
			return hdr, nil, errorf(ErrMalformed, "restore: %s row %d: %v", line.Table, n, err)
		}
		out[line.Table] = append(out[line.Table], obj)
		n++
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return hdr, nil, errorf(ErrMalformed, "restore: data after the trailer")
	}
	return hdr, out, nil
}
