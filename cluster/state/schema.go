package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/go-memdb"
)

// SchemaVersion is the version of the state schema (tables, rows and the
// snapshot encoding) this code reads and writes. Bump it, with a migration
// in Restore, whenever a stored record changes shape.
const SchemaVersion = 2

// Table names, for View.TableChanged.
const (
	TableCluster    = "cluster"
	TableNodes      = "nodes"
	TableJoinTokens = "join_tokens"
	TableAPITokens  = "api_tokens"
	TableRevoked    = "revoked_certs"
	TableEvents     = "events"
)

// tableIndexName is the internal table of per-table change indexes; its row
// keyed appliedKey holds the raft index of the last applied log entry.
const (
	tableIndexName = "index"
	appliedKey     = "_applied"
)

// indexRow records the raft index at which a table last changed.
type indexRow struct {
	Name  string
	Index uint64
}

// tableDef describes one replicated table: its memdb schema and how its rows
// are decoded from a snapshot. The order of tableDefs is the snapshot order.
type tableDef struct {
	schema *memdb.TableSchema
	decode func(raw json.RawMessage) (any, error)
}

func tableDefs() []tableDef {
	return []tableDef{
		{idTable(TableCluster, "ID"), decodeRow[Cluster]},
		{withIndex(idTable(TableNodes, "ID"), &memdb.IndexSchema{
			Name: "name", Indexer: &memdb.StringFieldIndex{Field: "Name"},
		}), decodeRow[Node]},
		{idTable(TableJoinTokens, "ID"), decodeRow[JoinToken]},
		{withIndex(idTable(TableAPITokens, "ID"), &memdb.IndexSchema{
			Name: "hash", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "SecretHash"},
		}), decodeRow[APIToken]},
		{idTable(TableRevoked, "Serial"), decodeRow[RevokedCert]},
		{withIndex(&memdb.TableSchema{Name: TableEvents, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.UintFieldIndex{Field: "Seq"}},
		}}, &memdb.IndexSchema{
			Name: "index", Indexer: &memdb.UintFieldIndex{Field: "Index"},
		}), decodeRow[Event]},
		{withIndex(idTable(TableObjects, "Key"), &memdb.IndexSchema{
			Name: "kind", Indexer: &memdb.StringFieldIndex{Field: "Kind", Lowercase: true},
		}), decodeRow[Object]},
		{withIndex(withIndex(idTable(TableAllocs, "ID"), &memdb.IndexSchema{
			Name: "node", Indexer: &memdb.StringFieldIndex{Field: "NodeID"},
		}), &memdb.IndexSchema{
			Name: "owner", Indexer: &memdb.StringFieldIndex{Field: "Owner"},
		}), decodeRow[Alloc]},
	}
}

func idTable(name, field string) *memdb.TableSchema {
	return &memdb.TableSchema{Name: name, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: field}},
	}}
}

func withIndex(t *memdb.TableSchema, ix *memdb.IndexSchema) *memdb.TableSchema {
	t.Indexes[ix.Name] = ix
	return t
}

// dbSchema is the memdb schema: every replicated table plus the index table.
func dbSchema() *memdb.DBSchema {
	s := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableIndexName: idTable(tableIndexName, "Name"),
	}}
	for _, d := range tableDefs() {
		s.Tables[d.schema.Name] = d.schema
	}
	return s
}

// decodeRow strictly decodes one stored row of type T.
func decodeRow[T any](raw json.RawMessage) (any, error) {
	v := new(T)
	if err := strictUnmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// strictUnmarshal decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}
