package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Tag points the name target at the image source resolves to (like `docker
// tag`), moving target from any image that had it.
func (s *Store) Tag(ctx context.Context, source, target string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	norm, err := NormalizeRef(target)
	if err != nil {
		return fmt.Errorf("tag %s %s: %w", source, target, err)
	}
	if strings.Contains(norm, "@") {
		return fmt.Errorf("tag %s %s: target must be a name, not a digest: %w", source, target, ErrInvalidReference)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.resolveLocked(source)
	if err != nil {
		return fmt.Errorf("tag %s %s: %w", source, target, err)
	}
	err = s.txn(func(imgs, tags *bolt.Bucket) error {
		if err := s.setTagLocked(imgs, tags, norm, r); err != nil {
			return err
		}
		return putRecord(imgs, r)
	})
	if err != nil {
		s.reloadLocked()
		return fmt.Errorf("tag %s %s: %w", source, target, err)
	}
	return nil
}

// Remove untags ref and deletes the image once no tag is left, like `docker
// rmi`: a tag reference drops that tag; an id reference drops every tag
// (with force when there are several). An image a container uses (inUse,
// may be nil) is refused with ErrInUse; with force it is only untagged and
// kept for the container. Blobs and unpacked layers nothing else refers to
// are freed. It returns Docker's "Untagged: ..." and "Deleted: ..." lines.
func (s *Store) Remove(ref string, force bool, inUse func(imageID string) bool) ([]string, error) {
	s.gc.Lock()
	defer s.gc.Unlock()
	s.mu.Lock()
	r, err := s.resolveLocked(ref)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("remove image %s: %w", ref, err)
	}
	byTag := false
	if n, err := NormalizeRef(ref); err == nil && slices.Contains(r.RepoTags, n) {
		byTag = true
	}
	used := inUse != nil && inUse(r.ID)
	var drop []string
	deleteImage := false
	switch {
	case byTag && len(r.RepoTags) > 1:
		drop = []string{mustNormalize(ref)}
	case used && !force:
		s.mu.Unlock()
		return nil, fmt.Errorf("remove image %s (%s): a container uses it: %w", ref, shortID(r.ID), ErrInUse)
	case used:
		drop = slices.Clone(r.RepoTags)
	case !byTag && len(r.RepoTags) > 1 && !force:
		s.mu.Unlock()
		return nil, fmt.Errorf("remove image %s: it is referenced in multiple repositories (%s); remove by name or use force",
			ref, strings.Join(r.RepoTags, ", "))
	default:
		drop = slices.Clone(r.RepoTags)
		deleteImage = true
	}
	var lines []string
	err = s.txn(func(imgs, tags *bolt.Bucket) error {
		for _, t := range drop {
			if err := tags.Delete([]byte(t)); err != nil {
				return err
			}
			delete(s.tags, t)
			r.RepoTags = slices.DeleteFunc(r.RepoTags, func(x string) bool { return x == t })
			lines = append(lines, "Untagged: "+FamiliarName(t))
		}
		if deleteImage {
			for _, d := range r.RepoDigests {
				lines = append(lines, "Untagged: "+FamiliarName(d))
			}
			lines = append(lines, "Deleted: "+r.ID)
			return imgs.Delete([]byte(r.ID))
		}
		return putRecord(imgs, r)
	})
	if err != nil {
		s.reloadLocked()
		s.mu.Unlock()
		return nil, fmt.Errorf("remove image %s: %w", ref, err)
	}
	if deleteImage {
		delete(s.images, r.ID)
	}
	s.mu.Unlock()
	if deleteImage {
		freed, _, err := s.collectLocked()
		lines = append(lines, freed...)
		if err != nil {
			return lines, fmt.Errorf("remove image %s: free space: %w", ref, err)
		}
	}
	return lines, nil
}

func mustNormalize(ref string) string {
	n, _ := NormalizeRef(ref)
	return n
}

func shortID(id string) string {
	h := digest.Digest(id).Encoded()
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// Prune deletes dangling images (no tag), or with all every image no
// container uses, and frees what only they used. It returns the bytes freed
// on disk and the "Deleted: ..." / "Untagged: ..." lines.
func (s *Store) Prune(ctx context.Context, all bool, inUse func(imageID string) bool) (int64, []string, error) {
	s.gc.Lock()
	defer s.gc.Unlock()
	s.mu.Lock()
	var victims []*record
	for _, r := range s.images {
		if (all || len(r.RepoTags) == 0) && (inUse == nil || !inUse(r.ID)) {
			victims = append(victims, r)
		}
	}
	slices.SortFunc(victims, func(a, b *record) int { return strings.Compare(a.ID, b.ID) })
	var lines []string
	err := s.txn(func(imgs, tags *bolt.Bucket) error {
		for _, r := range victims {
			for _, t := range r.RepoTags {
				if err := tags.Delete([]byte(t)); err != nil {
					return err
				}
				lines = append(lines, "Untagged: "+FamiliarName(t))
			}
			if err := imgs.Delete([]byte(r.ID)); err != nil {
				return err
			}
			lines = append(lines, "Deleted: "+r.ID)
		}
		return nil
	})
	if err != nil {
		s.reloadLocked()
		s.mu.Unlock()
		return 0, nil, fmt.Errorf("prune images: %w", err)
	}
	for _, r := range victims {
		for _, t := range r.RepoTags {
			delete(s.tags, t)
		}
		delete(s.images, r.ID)
	}
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, lines, err
	}
	freed, n, err := s.collectLocked()
	lines = append(lines, freed...)
	if err != nil {
		return n, lines, fmt.Errorf("prune images: %w", err)
	}
	return n, lines, nil
}

// collectLocked deletes blobs and layer directories no image refers to. The
// caller holds s.gc (write). It returns "Deleted: <chain id>" lines for
// layers and the bytes freed.
func (s *Store) collectLocked() ([]string, int64, error) {
	blobs := map[string]bool{}
	chains := map[string]bool{}
	s.mu.RLock()
	for _, r := range s.images {
		blobs[digest.Digest(r.ID).Encoded()] = true
		if r.ManifestDigest != "" {
			blobs[digest.Digest(r.ManifestDigest).Encoded()] = true
		}
		for _, l := range r.Layers {
			blobs[digest.Digest(l.Digest).Encoded()] = true
			chains[digest.Digest(l.ChainID).Encoded()] = true
		}
	}
	s.mu.RUnlock()
	var lines []string
	var freed int64
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	layersDir := filepath.Join(s.root, "layers")
	ents, err := os.ReadDir(layersDir)
	keep(err)
	for _, e := range ents {
		if chains[e.Name()] {
			continue
		}
		chain := "sha256:" + e.Name()
		s.mu.Lock()
		delete(s.unpacked, chain)
		s.mu.Unlock()
		if len(e.Name()) >= shortLen {
			_ = os.Remove(filepath.Join(s.root, "l", e.Name()[:shortLen]))
		}
		n := dirSize(filepath.Join(layersDir, e.Name()))
		if err := os.RemoveAll(filepath.Join(layersDir, e.Name())); err != nil {
			keep(err)
			continue
		}
		freed += n
		lines = append(lines, "Deleted: "+chain)
	}
	blobDir := filepath.Join(s.root, "blobs", "sha256")
	ents, err = os.ReadDir(blobDir)
	keep(err)
	for _, e := range ents {
		if blobs[e.Name()] {
			continue
		}
		if info, err := e.Info(); err == nil {
			freed += info.Size()
		}
		keep(os.Remove(filepath.Join(blobDir, e.Name())))
	}
	return lines, freed, firstErr
}

// dirSize adds up the sizes of regular files under dir (not following links).
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
