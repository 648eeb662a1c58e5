package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// snapshotVersion is the version of the file format; bump it with a
// migration in Load when the format changes.
//
//	version 1: {"version":1, "desired":[Desired...], "stop_after":{alloc: nanoseconds}, "contact": RFC 3339}
const snapshotVersion = 1

// Snapshot is the node's last known desired state, as saved on disk.
type Snapshot struct {
	Version int       `json:"version"`
	Desired []Desired `json:"desired"`
	// StopAfter is kedge.io/stop-after per alloc id, in nanoseconds on disk.
	StopAfter map[string]time.Duration `json:"stop_after,omitempty"`
	// Contact is when the control plane last confirmed this set (saved at
	// most every ContactRefresh by AutonomousSource, so after a reboot the
	// node counts its cut-off from a little earlier than it really began).
	Contact time.Time `json:"contact"`
}

// LocalStore keeps a Snapshot in one file. Save is atomic: a crash or power
// cut leaves the old file or the new one, never a mix. It is safe for
// concurrent use.
type LocalStore struct {
	path string
	mu   sync.Mutex
}

// NewLocalStore returns a store for the file at path; the directory must exist.
func NewLocalStore(path string) *LocalStore { return &LocalStore{path: path} }

// Path is the file the store uses.
func (s *LocalStore) Path() string { return s.path }

// Save writes the snapshot to a temporary file in the same directory, syncs
// it, renames it over the old file and syncs the directory.
func (s *LocalStore) Save(snap Snapshot) (err error) {
	snap.Version = snapshotVersion
	data, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return fmt.Errorf("encode desired state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save desired state: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(append(data, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save desired state %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("save desired state: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: the rename is done; some filesystems refuse
		_ = d.Close()
	}
	return nil
}

// Load reads the saved snapshot: ErrNoSnapshot if there is none,
// ErrCorruptSnapshot if it cannot be trusted.
func (s *LocalStore) Load() (Snapshot, error) {
	s.mu.Lock()
	data, err := os.ReadFile(s.path)
	s.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return Snapshot{}, fmt.Errorf("%s: %w", s.path, ErrNoSnapshot)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("load desired state: %w", err)
	}
	var snap Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return Snapshot{}, fmt.Errorf("%s: %w: %w", s.path, ErrCorruptSnapshot, err)
	}
	if snap.Version != snapshotVersion {
		return Snapshot{}, fmt.Errorf("%s: %w: version %d, want %d", s.path, ErrCorruptSnapshot, snap.Version, snapshotVersion)
	}
	for i, d := range snap.Desired {
		if d.AllocID == "" {
			return Snapshot{}, fmt.Errorf("%s: %w: desired[%d] has no alloc id", s.path, ErrCorruptSnapshot, i)
		}
	}
	return snap, nil
}
