// Package volume manages the node's named volumes: directories under
// DATA_DIR/volumes/<name>/_data with a small JSON record beside them, created on
// first use, filled once from the image's content at the mount point (as
// Docker does), and kept when the containers using them are removed.
package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"kedge/api"
)

// validName is Docker's rule for volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// record is the on-disk metadata of a volume (DATA_DIR/volumes/<name>/volume.json).
type record struct {
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"created_at"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Filled is set once the volume received the image's content (or was
	// used by a container), so it is never filled again.
	Filled bool `json:"filled"`
	// Anonymous volumes are removed with their container by `rm -v`.
	Anonymous bool `json:"anonymous,omitempty"`
}

// Manager owns the volumes under one directory.
type Manager struct {
	root string
	mu   sync.Mutex
}

// New returns a manager of the volumes under root, creating root.
func New(root string) (*Manager, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("volumes dir %s: %w", root, err)
	}
	return &Manager{root: root}, nil
}

func (m *Manager) dir(name string) string      { return filepath.Join(m.root, name) }
func (m *Manager) metaPath(name string) string { return filepath.Join(m.root, name, "volume.json") }

// DataPath is the host directory mounted into containers.
func (m *Manager) DataPath(name string) string { return filepath.Join(m.root, name, "_data") }

// Create makes a volume, or returns the existing one of that name (Docker's
// create is idempotent). created reports whether it is new.
func (m *Manager) Create(name string, labels map[string]string, anonymous bool) (v *api.Volume, created bool, err error) {
	if !validName.MatchString(name) || len(name) > 255 {
		return nil, false, fmt.Errorf("volume name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, api.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, err := m.read(name); err == nil {
		return m.toAPI(r), false, nil
	}
	if err := os.MkdirAll(m.DataPath(name), 0o755); err != nil {
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	r := &record{Name: name, CreatedAt: time.Now().UTC(), Labels: labels, Anonymous: anonymous}
	if err := m.write(r); err != nil {
		os.RemoveAll(m.dir(name))
		return nil, false, err
	}
	return m.toAPI(r), true, nil
}

// Get returns a volume.
func (m *Manager) Get(name string) (*api.Volume, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.read(name)
	if err != nil {
		return nil, err
	}
	return m.toAPI(r), nil
}

// IsAnonymous reports whether the volume was created for one container.
func (m *Manager) IsAnonymous(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.read(name)
	return err == nil && r.Anonymous
}

// List returns every volume, by name.
func (m *Manager) List() ([]*api.Volume, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	entries, err := os.ReadDir(m.root)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*api.Volume
	for _, e := range entries {
		r, err := m.read(e.Name())
		if err != nil {
			continue // a half-created volume; Create repairs it
		}
		out = append(out, m.toAPI(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes a volume and its data.
func (m *Manager) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.read(name); err != nil {
		return err
	}
	if err := os.RemoveAll(m.dir(name)); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// ClaimFill marks the volume filled and reports whether the caller should fill
// it now (only the first user of an empty volume does).
func (m *Manager) ClaimFill(name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.read(name)
	if err != nil {
		return false, err
	}
	if r.Filled {
		return false, nil
	}
	r.Filled = true
	if err := m.write(r); err != nil {
		return false, err
	}
	entries, err := os.ReadDir(m.DataPath(name))
	if err != nil {
		return false, fmt.Errorf("volume %s: %w", name, err)
	}
	return len(entries) == 0, nil
}

func (m *Manager) read(name string) (*record, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("volume %q: %w", name, api.ErrNotFound)
	}
	b, err := os.ReadFile(m.metaPath(name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("volume %q: %w", name, api.ErrNotFound)
		}
		return nil, fmt.Errorf("read volume %s: %w", name, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read volume %s: %w", name, err)
	}
	return &r, nil
}

func (m *Manager) write(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := m.metaPath(r.Name) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write volume %s: %w", r.Name, err)
	}
	if err := os.Rename(tmp, m.metaPath(r.Name)); err != nil {
		return fmt.Errorf("write volume %s: %w", r.Name, err)
	}
	return nil
}

func (m *Manager) toAPI(r *record) *api.Volume {
	return &api.Volume{Name: r.Name, Driver: "local", Mountpoint: m.DataPath(r.Name), CreatedAt: r.CreatedAt, Labels: r.Labels}
}
