// Package image is the node's image store: a content-addressed blob store
// (sha256), image records by name and id, import of docker-save and OCI
// archives, registry pull and push through go-containerregistry, and layers
// unpacked once each (by chain id) into directories that overlayfs stacks.
package image

// CONTRACT STUBS: replaced by the real implementation.

import (
	"errors"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var errTODO = errors.New("image: not implemented")

// ErrNotFound means no image matches a reference.
var ErrNotFound = errors.New("no such image")

// ErrInUse means an image cannot be removed because a container uses it.
var ErrInUse = errors.New("image is in use")

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

// Store is an image store rooted at a directory.
type Store struct{}

// Options configure a Store.
type Options struct {
	// Mirrors maps a registry host to mirror hosts tried first ("docker.io" -> ["mirror:5000"]).
	Mirrors map[string][]string
	// Insecure lists registry hosts reached over plain HTTP.
	Insecure []string
}

// Open opens (creating if needed) the store under root.
func Open(root string, opts Options) (*Store, error) { return nil, errTODO }

// Close releases the store.
func (s *Store) Close() error { return nil }
