// Package store wraps bbolt for the agent's local records: typed JSON buckets,
// closure transactions and a schema version checked at open.
//
// Schema (version 1), one bbolt file per agent (DATA_DIR/kedge.db):
//
//	meta/
//	  schema      -> "1"
//	containers/
//	  <id>        -> engine container record (JSON)
//	volumes/
//	  <name>      -> volume record (JSON)
//	events/
//	  <seq be64>  -> recent events (JSON), trimmed to the newest few thousand
//
// A new version adds a migration to migrations and bumps SchemaVersion.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 1

// ErrNotFound means a key is absent.
var ErrNotFound = errors.New("record not found")

// ErrNewerSchema means the file was written by a newer kedge.
var ErrNewerSchema = errors.New("database written by a newer kedge")

var metaBucket = []byte("meta")

// migrations[v] upgrades a database from version v to v+1.
var migrations = map[int]func(tx *bolt.Tx) error{}

// DB is an open store.
type DB struct {
	db *bolt.DB
}

// Open opens (creating if needed) the store file and checks its schema.
// buckets are created if missing.
func Open(path string, buckets ...string) (*DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &DB{db: db}
	if err := db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		v := SchemaVersion
		if raw := meta.Get([]byte("schema")); raw != nil {
			if v, err = strconv.Atoi(string(raw)); err != nil {
				return fmt.Errorf("schema version %q: %w", raw, err)
			}
		}
		if v > SchemaVersion {
			return fmt.Errorf("schema %d > %d: %w", v, SchemaVersion, ErrNewerSchema)
		}
		for ; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrate schema %d: %w", v, err)
			}
		}
		if err := meta.Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *DB) Close() error { return s.db.Close() }

// Put stores v as JSON under bucket/key.
func (s *DB) Put(bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
		}
		return bk.Put([]byte(key), b)
	})
}

// Get decodes bucket/key into v.
func (s *DB) Get(bucket, key string, v any) error {
	return s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
		}
		raw := bk.Get([]byte(key))
		if raw == nil {
			return fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
		}
		return json.Unmarshal(raw, v)
	})
}

// Delete removes bucket/key; a missing key is not an error.
func (s *DB) Delete(bucket, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		return bk.Delete([]byte(key))
	})
}

// ForEach calls fn with every key and raw JSON value of bucket, in key order.
func (s *DB) ForEach(bucket string, fn func(key string, raw []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error { return fn(string(k), v) })
	})
}

// Check runs bbolt's consistency check, for tests.
func (s *DB) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
}
