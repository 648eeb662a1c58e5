// Package image is the node's image store: a content-addressed blob store
// (sha256), image records by name and id, import of docker-save and OCI
// archives, registry pull and push through go-containerregistry, and layers
// unpacked once each (by chain id) into directories that overlayfs stacks.
//
// # On-disk layout (schema version 1)
//
//	<root>/
//	  meta.db                    bbolt, see below
//	  blobs/sha256/<hex>         every blob by digest: manifests, configs, layers
//	                             (layers as they arrived: gzip or plain tar)
//	  layers/<chain-hex>/        one unpacked layer diff per chain id, whiteouts in
//	                             overlay form; used directly as an overlayfs lowerdir
//	  tmp/                       staging for downloads, imports and unpacks
//	                             (emptied by Open; renamed into place when complete)
//
//	meta.db
//	  "meta"   "version" -> "1"
//	  "v1"
//	    "images"  <image id "sha256:..."> -> JSON record{Image, manifest digest and
//	                                         media type, layers[{digest, media type,
//	                                         size, diff id, chain id, unpacked size}]}
//	    "tags"    <normalized name "docker.io/library/busybox:latest"> -> image id
//
// A blob or layer directory exists on disk only while some image record refers
// to it; Remove and Prune collect the rest. A layer directory is published
// with an atomic rename, so its existence means it is complete.
//
// # Concurrency
//
// A Store is safe for concurrent use. Image records live in memory (loaded at
// Open) behind a RWMutex; each chain id is unpacked by one caller while the
// others wait for it; garbage collection excludes ingestion (pull, import,
// create, unpack) so nothing is collected while it is being added.
package image

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// Sentinel errors of the package. Callers test them with errors.Is.
var (
	// ErrNotFound means no image matches a reference (locally, or in a registry).
	ErrNotFound = errors.New("no such image")
	// ErrInUse means an image cannot be removed because a container uses it.
	ErrInUse = errors.New("image is in use")
	// ErrAmbiguous means an id prefix matches more than one image.
	ErrAmbiguous = errors.New("ambiguous image id prefix")
	// ErrInvalidReference means a reference cannot be parsed.
	ErrInvalidReference = errors.New("invalid reference format")
	// ErrNoPlatform means a multi-platform image has no manifest for the wanted platform.
	ErrNoPlatform = errors.New("no matching manifest for platform")
	// ErrUnsafeLayer means a layer archive tried something the unpacker refuses
	// (path escape, too large, too many entries, bad digest).
	ErrUnsafeLayer = errors.New("unsafe layer")
	// ErrInvalidArchive means an image archive is malformed.
	ErrInvalidArchive = errors.New("invalid image archive")
)

// Image is one image in the store.
type Image struct {
	// ID is the digest of the image's config blob ("sha256:...").
	ID string `json:"id"`
	// RepoTags are the normalized names that point at it ("docker.io/library/busybox:latest").
	RepoTags []string `json:"repo_tags"`
	// RepoDigests are "name@sha256:..." manifest digests it was pulled by.
	RepoDigests []string  `json:"repo_digests,omitempty"`
	Created     time.Time `json:"created"`
	// Size is the sum of the uncompressed layer sizes.
	Size int64 `json:"size"`
	// Config is the image's OCI config (entrypoint, cmd, env, user, healthcheck ...).
	Config ocispec.Image `json:"config"`
}

// Options configure a Store.
type Options struct {
	// Mirrors maps a registry host to mirror hosts tried first ("docker.io" -> ["mirror:5000"]).
	Mirrors map[string][]string
	// Insecure lists registry hosts reached over plain HTTP.
	Insecure []string
	// MaxLayerSize bounds the uncompressed size of one layer (0: DefaultMaxLayerSize).
	MaxLayerSize int64
	// MaxLayerEntries bounds the number of entries in one layer (0: DefaultMaxLayerEntries).
	MaxLayerEntries int
	// Logger receives the store's few log lines (a mirror that failed);
	// nil means slog.Default().
	Logger *slog.Logger
}

// Defaults for Options' limits.
const (
	DefaultMaxLayerSize    = 64 << 30
	DefaultMaxLayerEntries = 1 << 20
)

// schemaVersion is the version of the on-disk layout drawn in the package doc.
const schemaVersion = "1"

// Store is an image store rooted at a directory. Open one per root.
type Store struct {
	root string
	opts Options
	db   *bolt.DB

	// gc excludes garbage collection (Lock) from ingestion (RLock).
	gc sync.RWMutex

	// mu guards the maps below.
	mu       sync.RWMutex
	images   map[string]*record // by image id
	tags     map[string]string  // normalized name -> image id
	unpacked map[string]bool    // chain ids known to be unpacked on disk

	// unpackMu guards unpacking: chain id -> closed when that unpack ends.
	unpackMu  sync.Mutex
	unpacking map[string]chan struct{}
}

// Open opens (creating if needed) the store under root.
func Open(root string, opts Options) (*Store, error) {
	if opts.MaxLayerSize <= 0 {
		opts.MaxLayerSize = DefaultMaxLayerSize
	}
	if opts.MaxLayerEntries <= 0 {
		opts.MaxLayerEntries = DefaultMaxLayerEntries
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Logger = opts.Logger.With("subsystem", "image")
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	for _, d := range []string{"blobs/sha256", "layers", "l", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("open image store %s: %w", root, err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "layers"), 0o711); err != nil {
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	db, err := bolt.Open(filepath.Join(root, "meta.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	// Leftovers of interrupted downloads and unpacks (only once the db lock
	// shows no other process is using this root).
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err == nil {
		for _, e := range ents {
			_ = os.RemoveAll(filepath.Join(root, "tmp", e.Name()))
		}
	}
	s := &Store{
		root:      root,
		opts:      opts,
		db:        db,
		images:    map[string]*record{},
		tags:      map[string]string{},
		unpacked:  map[string]bool{},
		unpacking: map[string]chan struct{}{},
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	for _, r := range s.images {
		for _, l := range r.Layers {
			if _, err := os.Stat(s.layerDir(l.ChainID)); err == nil && s.ensureLink(l.ChainID) == nil {
				s.unpacked[l.ChainID] = true
			}
		}
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// Close releases the store.
func (s *Store) Close() error {
	if s == nil || s.db == nil {
		return nil
	}
	return s.db.Close()
}
