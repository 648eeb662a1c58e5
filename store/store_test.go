package store

import (
	"errors"
	"path/filepath"
	"testing"
)

type rec struct{ A string }

func open(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "k.db"), "things")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Check(); err != nil {
			t.Errorf("consistency: %v", err)
		}
		db.Close()
	})
	return db
}

func TestPutGetDeleteForEach(t *testing.T) {
	db := open(t)
	if err := db.Put("things", "a", rec{"1"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Put("things", "b", rec{"2"}); err != nil {
		t.Fatal(err)
	}
	var r rec
	if err := db.Get("things", "a", &r); err != nil || r.A != "1" {
		t.Fatalf("Get = %+v, %v", r, err)
	}
	var keys []string
	_ = db.ForEach("things", func(k string, _ []byte) error { keys = append(keys, k); return nil })
	if len(keys) != 2 || keys[0] != "a" {
		t.Fatalf("keys = %v", keys)
	}
	if err := db.Delete("things", "a"); err != nil {
		t.Fatal(err)
	}
	if err := db.Get("things", "a", &r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if err := db.Put("nope", "a", r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Put to a missing bucket = %v", err)
	}
}

func TestReopenKeepsDataAndRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	db, err := Open(path, "things")
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Put("things", "x", rec{"kept"})
	_ = db.Put("meta", "schema", 99) // JSON 99 == "99"
	db.Close()
	if _, err := Open(path, "things"); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a newer schema = %v, want ErrNewerSchema", err)
	}
}
