package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// chainIDs computes the chain id of every layer: the first is its diff id,
// each next one sha256(parent chain id + " " + diff id) (OCI image spec).
func chainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

// layerDir is the unpacked directory of a chain id (validated digest string).
func (s *Store) layerDir(chainID string) string {
	return filepath.Join(s.root, "layers", digest.Digest(chainID).Encoded())
}

// shortLen is the length of a layer's short link name.
const shortLen = 16

// layerLink is the short symlink to a chain id's directory (<root>/l/<16
// hex>): what LayerDirs hands out, so that an image with many layers still
// fits overlayfs's one-page mount options (Docker's overlay2 does the same).
func (s *Store) layerLink(chainID string) string {
	return filepath.Join(s.root, "l", digest.Digest(chainID).Encoded()[:shortLen])
}

// ensureLink makes the short link of an unpacked chain id.
func (s *Store) ensureLink(chainID string) error {
	target := filepath.Join("..", "layers", digest.Digest(chainID).Encoded())
	link := s.layerLink(chainID)
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	_ = os.Remove(link)
	if err := os.Symlink(target, link); err != nil && !os.IsExist(err) {
		return fmt.Errorf("link layer %s: %w", chainID, err)
	}
	return nil
}

// LayerDirs returns the unpacked layer directories of img, lowest first,
// unpacking any that are missing. They are ready to be overlayfs lowerdirs
// (whiteouts in overlay form) and must not be written to. Each path is a
// short symlink (<root>/l/<16 hex>) to the layer's directory, so 128 layers
// fit in overlayfs's one-page mount options. An image without
// layers yields an empty slice. For an image whose layers are unpacked this
// is a map lookup: no hashing, no filesystem access.
func (s *Store) LayerDirs(ctx context.Context, img *Image) ([]string, error) {
	if img == nil {
		return nil, fmt.Errorf("layer dirs: nil image: %w", ErrNotFound)
	}
	s.mu.RLock()
	r := s.images[img.ID]
	if r == nil {
		s.mu.RUnlock()
		return nil, fmt.Errorf("layer dirs of image %s: %w", img.ID, ErrNotFound)
	}
	layers := r.Layers
	missing := false
	for _, l := range layers {
		if !s.unpacked[l.ChainID] {
			missing = true
			break
		}
	}
	dirs := slices.Clone(r.dirs)
	s.mu.RUnlock()
	if !missing {
		return dirs, nil
	}
	s.gc.RLock()
	defer s.gc.RUnlock()
	for i := range layers {
		if _, err := s.ensureUnpacked(ctx, &layers[i]); err != nil {
			return nil, fmt.Errorf("layer dirs of image %s: %w", img.ID, err)
		}
	}
	return dirs, nil
}

// ensureUnpacked unpacks layer l (its blob must be stored) into its chain id
// directory unless already there; concurrent callers for the same chain id
// wait for the first. It returns the uncompressed size when it unpacked, or
// -1 when the directory already existed. The caller holds s.gc.RLock.
func (s *Store) ensureUnpacked(ctx context.Context, l *layerRecord) (int64, error) {
	s.mu.RLock()
	done := s.unpacked[l.ChainID]
	s.mu.RUnlock()
	if done {
		return -1, nil
	}
	var mine chan struct{}
	for mine == nil {
		s.unpackMu.Lock()
		ch, busy := s.unpacking[l.ChainID]
		if !busy {
			mine = make(chan struct{})
			s.unpacking[l.ChainID] = mine
			s.unpackMu.Unlock()
			break
		}
		s.unpackMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	defer func() {
		s.unpackMu.Lock()
		delete(s.unpacking, l.ChainID)
		close(mine)
		s.unpackMu.Unlock()
	}()
	return s.unpackLocked(ctx, l)
}

// markUnpacked records that a chain id's directory is complete.
func (s *Store) markUnpacked(chainID string) {
	s.mu.Lock()
	s.unpacked[chainID] = true
	s.mu.Unlock()
}

func (s *Store) unpackLocked(ctx context.Context, l *layerRecord) (int64, error) {
	dir := s.layerDir(l.ChainID)
	if _, err := os.Stat(dir); err == nil {
		if err := s.ensureLink(l.ChainID); err != nil {
			return 0, err
		}
		s.markUnpacked(l.ChainID)
		return -1, nil
	}
	d, err := parseDigest(l.Digest)
	if err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Digest, err)
	}
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Digest, err)
	}
	defer f.Close()
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "layer-")
	if err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Digest, err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Digest, err)
	}
	res, err := unpackLayer(ctx, f, tmp, unpackLimits{MaxSize: s.opts.MaxLayerSize, MaxEntries: s.opts.MaxLayerEntries})
	if err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Digest, err)
	}
	if res.DiffID.String() != l.DiffID {
		return 0, fmt.Errorf("unpack layer %s: uncompressed digest %s does not match the config's diff id %s: %w",
			l.Digest, res.DiffID, l.DiffID, ErrUnsafeLayer)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return 0, fmt.Errorf("unpack layer %s: %w", l.Digest, err)
		}
	}
	if err := s.ensureLink(l.ChainID); err != nil {
		return 0, err
	}
	s.markUnpacked(l.ChainID)
	return res.Size, nil
}

// newRecord builds an image record from a stored config blob and its layer
// descriptors (lowest first), checking them against the config's diff ids.
func newRecord(cfgDigest digest.Digest, cfgBytes []byte, layers []ocispec.Descriptor) (*record, error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return nil, fmt.Errorf("image config %s: %w: %v", cfgDigest, ErrInvalidArchive, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(layers) {
		return nil, fmt.Errorf("image config %s: %d diff ids for %d layers: %w",
			cfgDigest, len(cfg.RootFS.DiffIDs), len(layers), ErrInvalidArchive)
	}
	for _, d := range cfg.RootFS.DiffIDs {
		if _, err := parseDigest(d.String()); err != nil {
			return nil, fmt.Errorf("image config %s: %w: %v", cfgDigest, ErrInvalidArchive, err)
		}
	}
	chains := chainIDs(cfg.RootFS.DiffIDs)
	r := &record{Image: Image{ID: cfgDigest.String(), Config: cfg}}
	if cfg.Created != nil {
		r.Created = *cfg.Created
	}
	for i, l := range layers {
		if _, err := parseDigest(l.Digest.String()); err != nil {
			return nil, fmt.Errorf("image config %s: layer %d: %w: %v", cfgDigest, i, ErrInvalidArchive, err)
		}
		r.Layers = append(r.Layers, layerRecord{
			Digest:    l.Digest.String(),
			MediaType: l.MediaType,
			Size:      l.Size,
			DiffID:    cfg.RootFS.DiffIDs[i].String(),
			ChainID:   chains[i].String(),
		})
	}
	return r, nil
}

// commit unpacks every layer of r (recording sizes) and stores r under tags.
// The caller holds s.gc.RLock and has stored every blob r refers to.
func (s *Store) commit(ctx context.Context, r *record, tags []string) (*Image, error) {
	s.mu.RLock()
	prev := s.images[r.ID]
	s.mu.RUnlock()
	for i := range r.Layers {
		l := &r.Layers[i]
		n, err := s.ensureUnpacked(ctx, l)
		if err != nil {
			return nil, err
		}
		switch {
		case n >= 0:
			l.UnpackedSize = n
		case prev != nil && i < len(prev.Layers):
			l.UnpackedSize = prev.Layers[i].UnpackedSize
		default:
			l.UnpackedSize = s.sizeOfChain(l.ChainID)
		}
	}
	r.Size = 0
	for _, l := range r.Layers {
		r.Size += l.UnpackedSize
	}
	stored, err := s.addImage(r, tags)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return stored.public(), nil
}

// sizeOfChain finds the recorded size of an unpacked chain id in another image.
func (s *Store) sizeOfChain(chainID string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.images {
		for _, l := range r.Layers {
			if l.ChainID == chainID && l.UnpackedSize > 0 {
				return l.UnpackedSize
			}
		}
	}
	return 0
}
