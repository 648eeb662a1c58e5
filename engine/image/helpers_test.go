//go:build linux

package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// tarB builds tar streams for tests, including hostile ones.
type tarB struct {
	buf bytes.Buffer
	tw  *tar.Writer
	t   testing.TB
}

func newTar(t testing.TB) *tarB {
	b := &tarB{t: t}
	b.tw = tar.NewWriter(&b.buf)
	return b
}

var testTime = time.Unix(1600000000, 0)

func (b *tarB) add(h *tar.Header, content string) *tarB {
	b.t.Helper()
	if h.ModTime.IsZero() {
		h.ModTime = testTime
	}
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(content))
	}
	if h.Mode == 0 {
		h.Mode = 0o644
	}
	if err := b.tw.WriteHeader(h); err != nil {
		b.t.Fatalf("tar header %s: %v", h.Name, err)
	}
	if content != "" {
		if _, err := b.tw.Write([]byte(content)); err != nil {
			b.t.Fatalf("tar write %s: %v", h.Name, err)
		}
	}
	return b
}

func (b *tarB) file(name, content string) *tarB {
	return b.add(&tar.Header{Typeflag: tar.TypeReg, Name: name}, content)
}

func (b *tarB) dir(name string) *tarB {
	return b.add(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}, "")
}

func (b *tarB) symlink(name, target string) *tarB {
	return b.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}, "")
}

func (b *tarB) link(name, target string) *tarB {
	return b.add(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}, "")
}

func (b *tarB) bytes() []byte {
	b.t.Helper()
	if err := b.tw.Close(); err != nil {
		b.t.Fatalf("tar close: %v", err)
	}
	return b.buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// requireRoot skips tests that create device nodes, chown or set trusted xattrs.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod for whiteouts, chown, trusted.* xattrs)")
	}
}

// newStore opens a store in a temp dir and checks its consistency when the
// test ends.
func newStore(t testing.TB, opts Options) *Store {
	t.Helper()
	requireRoot(t)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		checkStore(t, s)
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// checkStore asserts the store's invariants: every tag names a stored
// image, every record's blobs and unpacked layers exist, the db is sound.
func checkStore(t testing.TB, s *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for tag, id := range s.tags {
		if s.images[id] == nil {
			t.Errorf("consistency: tag %s points at missing image %s", tag, id)
		}
	}
	for id, r := range s.images {
		for _, b := range append([]string{id, r.ManifestDigest}, layerDigests(r)...) {
			if _, err := os.Stat(s.blobPath(digest.Digest(b))); err != nil {
				t.Errorf("consistency: image %s: blob %s: %v", id, b, err)
			}
		}
		for _, l := range r.Layers {
			if s.unpacked[l.ChainID] {
				if _, err := os.Stat(s.layerDir(l.ChainID)); err != nil {
					t.Errorf("consistency: image %s: layer dir: %v", id, err)
				}
			}
		}
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		return first
	}); err != nil {
		t.Errorf("consistency: bbolt: %v", err)
	}
}

func layerDigests(r *record) []string {
	var out []string
	for _, l := range r.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// countFiles counts the entries directly in dir.
func countFiles(t testing.TB, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func blobCount(t testing.TB, s *Store) int {
	return countFiles(t, filepath.Join(s.root, "blobs", "sha256"))
}

func layerCount(t testing.TB, s *Store) int {
	return countFiles(t, filepath.Join(s.root, "layers"))
}

func sha256Digest(b []byte) string { return digest.FromBytes(b).String() }

// testWriter routes the store's logs to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
