package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Save writes the images named by refs as one archive in the layout Docker
// 25+ writes: an OCI image layout (oci-layout, index.json, blobs/sha256/...)
// plus docker's manifest.json, so `docker load` and Import both accept it.
// An image named by a tag carries that tag; one named by id carries none.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string) error {
	s.gc.RLock()
	defer s.gc.RUnlock()
	type entry struct {
		r    *record
		tags []string
	}
	var order []*entry
	byID := map[string]*entry{}
	s.mu.RLock()
	for _, ref := range refs {
		r, err := s.resolveLocked(ref)
		if err != nil {
			s.mu.RUnlock()
			return fmt.Errorf("save: %w", err)
		}
		e := byID[r.ID]
		if e == nil {
			e = &entry{r: r}
			byID[r.ID] = e
			order = append(order, e)
		}
		if n, err := NormalizeRef(ref); err == nil && slices.Contains(r.RepoTags, n) && !slices.Contains(e.tags, n) {
			e.tags = append(e.tags, n)
		}
	}
	s.mu.RUnlock()

	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	written := map[string]bool{}
	writeBlob := func(d string) error {
		if written[d] {
			return nil
		}
		written[d] = true
		dg, err := parseDigest(d)
		if err != nil {
			return err
		}
		f, err := os.Open(s.blobPath(dg))
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "blobs/sha256/" + dg.Encoded(), Size: st.Size(), Mode: 0o644, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, ctxReader{ctx, f})
		return err
	}
	var dockerManifest []dockerManifestEntry
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, e := range order {
		r := e.r
		de := dockerManifestEntry{Config: "blobs/sha256/" + digest.Digest(r.ID).Encoded(), RepoTags: []string{}}
		blobs := []string{r.ID, r.ManifestDigest}
		for _, l := range r.Layers {
			blobs = append(blobs, l.Digest)
			de.Layers = append(de.Layers, "blobs/sha256/"+digest.Digest(l.Digest).Encoded())
		}
		for _, b := range blobs {
			if err := writeBlob(b); err != nil {
				return fmt.Errorf("save %s: blob %s: %w", r.ID, b, err)
			}
		}
		mst, err := os.Stat(s.blobPath(digest.Digest(r.ManifestDigest)))
		if err != nil {
			return fmt.Errorf("save %s: %w", r.ID, err)
		}
		desc := ocispec.Descriptor{MediaType: r.ManifestMediaType, Digest: digest.Digest(r.ManifestDigest), Size: mst.Size()}
		if len(e.tags) == 0 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		for _, t := range e.tags {
			de.RepoTags = append(de.RepoTags, FamiliarName(t))
			td := desc
			td.Annotations = map[string]string{annotationContainerdName: t, annotationRefName: t[strings.LastIndex(t, ":")+1:]}
			idx.Manifests = append(idx.Manifests, td)
		}
		dockerManifest = append(dockerManifest, de)
	}
	files := []struct {
		name string
		v    any
	}{
		{"oci-layout", ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}},
		{"index.json", idx},
		{"manifest.json", dockerManifest},
	}
	for _, f := range files {
		b, err := json.Marshal(f.v)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Size: int64(len(b)), Mode: 0o644, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		if _, err := io.Copy(tw, bytes.NewReader(b)); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}
