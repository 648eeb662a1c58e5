package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestLocalStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := NewLocalStore(filepath.Join(dir, "desired.json"))
	if _, err := s.Load(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Load of nothing: %v, want ErrNoSnapshot", err)
	}
	want := Snapshot{
		Desired: []Desired{
			pod("a1", "h1", RestartOnFailure, "init:setup=busybox", "web=nginx"),
			{AllocID: "a2", Generation: 7, Pod: pod("a2", "h2", "", "x=y").Pod},
		},
		StopAfter: map[string]time.Duration{"a1": 90 * time.Minute},
		Contact:   t0,
	}
	for range 2 { // the second Save replaces the first
		if err := s.Save(want); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	want.Version = snapshotVersion
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if fi, _ := os.Stat(s.Path()); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

func TestLocalStoreCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":        "not json{",
		"truncated":      `{"version":1,"desired":[{"alloc_id":"a1"`,
		"future version": `{"version":99,"desired":[]}`,
		"no version":     `{"desired":[]}`,
		"no alloc id":    `{"version":1,"desired":[{"pod":{"name":"x"}}]}`,
		"wrong types":    `{"version":1,"desired":{"a1":1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "desired.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := NewLocalStore(path).Load(); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("Load: %v, want ErrCorruptSnapshot", err)
			}
		})
	}
}

func TestLocalStoreSaveFails(t *testing.T) {
	s := NewLocalStore(filepath.Join(t.TempDir(), "missing", "desired.json"))
	if err := s.Save(Snapshot{}); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
}

func FuzzLocalStoreLoad(f *testing.F) {
	f.Add([]byte(`{"version":1,"desired":[{"alloc_id":"a1","pod":{"hash":"h"}}],"stop_after":{"a1":60000000000}}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "desired.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		snap, err := NewLocalStore(path).Load()
		if err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// Whatever loads can be diffed and summarized.
		Diff(snap.Desired, nil, NodeContext{Now: t0, StopAfter: snap.StopAfter, CutOffSince: snap.Contact}, BackoffState{})
		Summarize(snap.Desired, nil)
	})
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
