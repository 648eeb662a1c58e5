package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Create builds an image from uncompressed layer tars (lowest first) and a
// runtime config, for this machine's platform, and tags it ref (when not
// empty). It is how tests and the demo image make images without a registry.
func (s *Store) Create(ctx context.Context, ref string, layers [][]byte, cfg ocispec.ImageConfig) (*Image, error) {
	var tags []string
	if ref != "" {
		n, err := NormalizeRef(ref)
		if err != nil {
			return nil, fmt.Errorf("create image %s: %w", ref, err)
		}
		if strings.Contains(n, "@") {
			return nil, fmt.Errorf("create image %s: a digest cannot name a new image: %w", ref, ErrInvalidReference)
		}
		tags = []string{n}
	}
	s.gc.RLock()
	defer s.gc.RUnlock()
	now := time.Now().UTC()
	img := ocispec.Image{
		Created:  &now,
		Platform: hostPlatform(),
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	descs := make([]ocispec.Descriptor, 0, len(layers))
	for i, l := range layers {
		if isCompressed(l) {
			return nil, fmt.Errorf("create image %s: layer %d: layers must be uncompressed tar streams", ref, i)
		}
		d, n, err := s.writeBlob(ctx, bytes.NewReader(l), "", nil)
		if err != nil {
			return nil, fmt.Errorf("create image %s: layer %d: %w", ref, i, err)
		}
		descs = append(descs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: n})
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, d)
		img.History = append(img.History, ocispec.History{Created: &now, CreatedBy: "kedge image create"})
	}
	cfgBytes, err := json.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("create image %s: %w", ref, err)
	}
	cfgD, _, err := s.writeBlob(ctx, bytes.NewReader(cfgBytes), "", nil)
	if err != nil {
		return nil, fmt.Errorf("create image %s: config: %w", ref, err)
	}
	r, err := newRecord(cfgD, cfgBytes, descs)
	if err != nil {
		return nil, fmt.Errorf("create image %s: %w", ref, err)
	}
	if err := s.storeManifest(ctx, r, int64(len(cfgBytes)), descs); err != nil {
		return nil, fmt.Errorf("create image %s: %w", ref, err)
	}
	out, err := s.commit(ctx, r, tags)
	if err != nil {
		return nil, fmt.Errorf("create image %s: %w", ref, err)
	}
	return out, nil
}

// storeManifest writes an OCI manifest for r's config and layers and records it.
func (s *Store) storeManifest(ctx context.Context, r *record, cfgSize int64, layers []ocispec.Descriptor) error {
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.Digest(r.ID), Size: cfgSize},
		Layers:    layers,
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	d, _, err := s.writeBlob(ctx, bytes.NewReader(b), "", nil)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	r.ManifestDigest, r.ManifestMediaType = d.String(), ocispec.MediaTypeImageManifest
	return nil
}

// hostPlatform is linux on this machine's architecture (arm: v7 unless built
// for an older GOARM; arm64: v8).
func hostPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	p.Variant = defaultVariant(p.Architecture)
	return p
}
