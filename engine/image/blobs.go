package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// blobPath is where the blob with digest d lives (d must be validated).
func (s *Store) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

// hasBlob reports whether the blob d is stored.
func (s *Store) hasBlob(d digest.Digest) bool {
	_, err := os.Stat(s.blobPath(d))
	return err == nil
}

// parseDigest validates a sha256 digest string.
func parseDigest(v string) (digest.Digest, error) {
	d, err := digest.Parse(v)
	if err != nil {
		return "", fmt.Errorf("digest %q: %w", v, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("digest %q: only sha256 is supported", v)
	}
	return d, nil
}

// ctxReader fails reads once ctx is done, so long copies stop on cancel.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeBlob stores the content of r as a blob, verifying it against want
// (when not empty) and returning its digest and size. progress, when not nil,
// is called with the bytes copied so far.
func (s *Store) writeBlob(ctx context.Context, r io.Reader, want digest.Digest, progress func(int64)) (digest.Digest, int64, error) {
	if want != "" && s.hasBlob(want) {
		st, err := os.Stat(s.blobPath(want))
		if err == nil {
			return want, st.Size(), nil
		}
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "blob-")
	if err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(f, h)
	if progress != nil {
		w = io.MultiWriter(w, &progressWriter{fn: progress})
	}
	n, err := io.Copy(w, ctxReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", want, err)
	}
	got := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	if want != "" && got != want {
		return "", 0, fmt.Errorf("write blob: digest mismatch: want %s, got %s", want, got)
	}
	if err := os.Rename(tmp, s.blobPath(got)); err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", got, err)
	}
	return got, n, nil
}

// readBlob returns the content of a small blob (manifest, config).
func (s *Store) readBlob(d digest.Digest) ([]byte, error) {
	b, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	return b, nil
}

// progressWriter counts bytes for a progress callback.
type progressWriter struct {
	n  int64
	fn func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	p.fn(p.n)
	return len(b), nil
}
