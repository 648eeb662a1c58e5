package image

import (
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta   = []byte("meta")
	bucketV1     = []byte("v1")
	bucketImages = []byte("images")
	bucketTags   = []byte("tags")
	keyVersion   = []byte("version")
)

// record is what the "images" bucket holds for one image.
type record struct {
	Image
	ManifestDigest    string        `json:"manifest_digest"`
	ManifestMediaType string        `json:"manifest_media_type"`
	Layers            []layerRecord `json:"layers"`

	// dirs are the layer directories, lowest first (derived, set by setDirs).
	dirs []string
}

// setDirs derives the record's layer directories.
func (s *Store) setDirs(r *record) {
	r.dirs = make([]string, len(r.Layers))
	for i, l := range r.Layers {
		r.dirs[i] = s.layerLink(l.ChainID)
	}
}

// layerRecord is one layer of an image, lowest first.
type layerRecord struct {
	// Digest and MediaType name the blob as stored (compressed or not).
	Digest    string `json:"digest"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	// DiffID is the digest of the uncompressed tar; ChainID keys the unpacked dir.
	DiffID  string `json:"diff_id"`
	ChainID string `json:"chain_id"`
	// UnpackedSize is the uncompressed tar size.
	UnpackedSize int64 `json:"unpacked_size"`
}

// public returns a copy of the record's Image that callers may keep.
func (r *record) public() *Image {
	img := r.Image
	img.RepoTags = slices.Clone(r.RepoTags)
	img.RepoDigests = slices.Clone(r.RepoDigests)
	if img.RepoTags == nil {
		img.RepoTags = []string{}
	}
	return &img
}

// load reads every record into memory, creating the buckets on first use.
func (s *Store) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := string(meta.Get(keyVersion)); v {
		case "":
			if err := meta.Put(keyVersion, []byte(schemaVersion)); err != nil {
				return err
			}
		case schemaVersion:
		default:
			return fmt.Errorf("image store schema version %q is not supported (want %s)", v, schemaVersion)
		}
		v1, err := tx.CreateBucketIfNotExists(bucketV1)
		if err != nil {
			return err
		}
		imgs, err := v1.CreateBucketIfNotExists(bucketImages)
		if err != nil {
			return err
		}
		tags, err := v1.CreateBucketIfNotExists(bucketTags)
		if err != nil {
			return err
		}
		if err := imgs.ForEach(func(k, v []byte) error {
			r := &record{}
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("decode image record %s: %w", k, err)
			}
			r.RepoTags = nil // rebuilt from the tags bucket, the source of truth
			s.setDirs(r)
			s.images[string(k)] = r
			return nil
		}); err != nil {
			return err
		}
		return tags.ForEach(func(k, v []byte) error {
			r := s.images[string(v)]
			if r == nil {
				return nil // dangling tag: ignored, removed on the next write of that name
			}
			s.tags[string(k)] = string(v)
			r.RepoTags = append(r.RepoTags, string(k))
			return nil
		})
	})
}

// txn runs fn in a write transaction with the v1 buckets. Callers hold s.mu.
func (s *Store) txn(fn func(imgs, tags *bolt.Bucket) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		v1 := tx.Bucket(bucketV1)
		return fn(v1.Bucket(bucketImages), v1.Bucket(bucketTags))
	})
}

func putRecord(imgs *bolt.Bucket, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return imgs.Put([]byte(r.ID), b)
}

// addImage stores r (merging with an existing record of the same id) and
// points tags at it, moving them from any other image. It returns the stored record.
func (s *Store) addImage(r *record, tags []string) (*record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.images[r.ID]
	if cur == nil {
		cur = r
		cur.RepoTags = nil
		s.setDirs(cur)
	} else {
		for _, d := range r.RepoDigests {
			if !slices.Contains(cur.RepoDigests, d) {
				cur.RepoDigests = append(cur.RepoDigests, d)
			}
		}
		if cur.ManifestDigest == "" {
			cur.ManifestDigest, cur.ManifestMediaType = r.ManifestDigest, r.ManifestMediaType
		}
	}
	err := s.txn(func(imgs, tb *bolt.Bucket) error {
		for _, t := range tags {
			if err := s.setTagLocked(imgs, tb, t, cur); err != nil {
				return err
			}
		}
		return putRecord(imgs, cur)
	})
	if err != nil {
		// Reload to drop half-applied in-memory changes.
		s.reloadLocked()
		return nil, fmt.Errorf("store image %s: %w", r.ID, err)
	}
	s.images[cur.ID] = cur
	return cur, nil
}

// setTagLocked points tag at r inside a transaction, removing it from its
// previous image. The caller holds s.mu and writes r itself.
func (s *Store) setTagLocked(imgs, tb *bolt.Bucket, tag string, r *record) error {
	if old := s.tags[tag]; old != "" && old != r.ID {
		if o := s.images[old]; o != nil {
			o.RepoTags = slices.DeleteFunc(o.RepoTags, func(t string) bool { return t == tag })
			if err := putRecord(imgs, o); err != nil {
				return err
			}
		}
	}
	if err := tb.Put([]byte(tag), []byte(r.ID)); err != nil {
		return err
	}
	s.tags[tag] = r.ID
	if !slices.Contains(r.RepoTags, tag) {
		r.RepoTags = append(r.RepoTags, tag)
		slices.Sort(r.RepoTags)
	}
	return nil
}

// reloadLocked rebuilds the in-memory maps from disk after a failed write.
func (s *Store) reloadLocked() {
	s.images = map[string]*record{}
	s.tags = map[string]string{}
	_ = s.load()
}
