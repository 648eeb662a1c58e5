package image

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Archive limits: an import is staged on disk before it is parsed.
const (
	maxArchiveEntries = 100_000
	maxJSONSize       = 16 << 20
	maxLinkDepth      = 16
)

// Annotations that name an image in an OCI layout.
const (
	annotationRefName        = ocispec.AnnotationRefName // "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// dockerManifestEntry is one image of a docker-save manifest.json.
type dockerManifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// staged is an archive unpacked into flat temp files, looked up by name.
type staged struct {
	dir   string
	files map[string]string // clean name -> temp file
	links map[string]string // clean name -> clean name it points to
}

// Import loads a `docker save` archive or an OCI image layout archive
// (plain or gzip) and returns the images in it, tagged as the archive says
// (manifest.json RepoTags, the "repositories" file, or the OCI
// org.opencontainers.image.ref.name / io.containerd.image.name annotations).
func (s *Store) Import(ctx context.Context, r io.Reader) ([]*Image, error) {
	s.gc.RLock()
	defer s.gc.RUnlock()
	st, err := s.stage(ctx, r)
	if st != nil {
		defer func() { _ = os.RemoveAll(st.dir) }()
	}
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	var imgs []*Image
	switch {
	case st.has("manifest.json"):
		imgs, err = s.importDocker(ctx, st)
	case st.has("index.json"):
		imgs, err = s.importOCI(ctx, st)
	default:
		err = fmt.Errorf("%w: neither manifest.json (docker save) nor index.json (OCI layout) found", ErrInvalidArchive)
	}
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return imgs, nil
}

// cleanArchiveName makes an archive member name relative and clean; ".."
// cannot climb above the archive root.
func cleanArchiveName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

// stage copies the archive's files to temp files, bounded in count and size.
func (s *Store) stage(ctx context.Context, r io.Reader) (*staged, error) {
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "import-")
	if err != nil {
		return nil, err
	}
	st := &staged{dir: dir, files: map[string]string{}, links: map[string]string{}}
	budget := freeSpace(dir) - diskReserve
	dec, err := decompress(ctxReader{ctx, r})
	if err != nil {
		return st, fmt.Errorf("%w: %v", ErrInvalidArchive, err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("%w: read tar: %v", ErrInvalidArchive, err)
		}
		if n >= maxArchiveEntries {
			return st, fmt.Errorf("%w: more than %d entries", ErrInvalidArchive, maxArchiveEntries)
		}
		name := cleanArchiveName(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			if hdr.Size > budget {
				return st, fmt.Errorf("%w: %s: %d bytes do not fit on disk", ErrInvalidArchive, name, hdr.Size)
			}
			f, err := os.CreateTemp(dir, "f-")
			if err != nil {
				return st, err
			}
			w, err := io.Copy(f, io.LimitReader(tr, hdr.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return st, fmt.Errorf("stage %s: %w", name, err)
			}
			budget -= w
			st.files[name] = f.Name()
			delete(st.links, name)
		case tar.TypeSymlink:
			st.links[name] = cleanArchiveName(path.Join(path.Dir(name), hdr.Linkname))
		case tar.TypeLink:
			st.links[name] = cleanArchiveName(hdr.Linkname)
		}
	}
	return st, nil
}

// resolve follows archive links to a staged file.
func (st *staged) resolve(name string) (string, bool) {
	name = cleanArchiveName(name)
	for range maxLinkDepth {
		if f, ok := st.files[name]; ok {
			return f, true
		}
		t, ok := st.links[name]
		if !ok {
			return "", false
		}
		name = t
	}
	return "", false
}

func (st *staged) has(name string) bool { _, ok := st.resolve(name); return ok }

func (st *staged) open(name string) (*os.File, error) {
	f, ok := st.resolve(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s is missing", ErrInvalidArchive, name)
	}
	return os.Open(f)
}

// readJSON decodes a small staged file.
func (st *staged) readJSON(name string, v any) ([]byte, error) {
	f, err := st.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJSONSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSONSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidArchive, name, maxJSONSize)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidArchive, name, err)
		}
	}
	return b, nil
}

// ingestStaged stores a staged file as a blob (verified against want if set).
func (s *Store) ingestStaged(ctx context.Context, st *staged, name string, want digest.Digest) (digest.Digest, int64, []byte, error) {
	f, err := st.open(name)
	if err != nil {
		return "", 0, nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(4)
	head = append([]byte(nil), head...)
	d, n, err := s.writeBlob(ctx, br, want, nil)
	if err != nil {
		return "", 0, nil, fmt.Errorf("%s: %w", name, err)
	}
	return d, n, head, nil
}

// parseDockerManifest decodes a docker-save manifest.json.
func parseDockerManifest(b []byte) ([]dockerManifestEntry, error) {
	var m []dockerManifestEntry
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %v", ErrInvalidArchive, err)
	}
	for i, e := range m {
		if e.Config == "" {
			return nil, fmt.Errorf("%w: manifest.json entry %d has no Config", ErrInvalidArchive, i)
		}
	}
	return m, nil
}

func (s *Store) importDocker(ctx context.Context, st *staged) ([]*Image, error) {
	b, err := st.readJSON("manifest.json", nil)
	if err != nil {
		return nil, err
	}
	entries, err := parseDockerManifest(b)
	if err != nil {
		return nil, err
	}
	// Legacy "repositories": {"name": {"tag": "<top layer id>"}}.
	var repos map[string]map[string]string
	if st.has("repositories") {
		if _, err := st.readJSON("repositories", &repos); err != nil {
			return nil, err
		}
	}
	var out []*Image
	for _, e := range entries {
		cfgBytes, err := st.readJSON(e.Config, nil)
		if err != nil {
			return nil, err
		}
		cfgD, _, _, err := s.ingestStaged(ctx, st, e.Config, "")
		if err != nil {
			return nil, err
		}
		var descs []ocispec.Descriptor
		for _, l := range e.Layers {
			d, n, head, err := s.ingestStaged(ctx, st, l, "")
			if err != nil {
				return nil, err
			}
			mt := ocispec.MediaTypeImageLayer
			if isCompressed(head) {
				mt = ocispec.MediaTypeImageLayerGzip
			}
			descs = append(descs, ocispec.Descriptor{MediaType: mt, Digest: d, Size: n})
		}
		r, err := newRecord(cfgD, cfgBytes, descs)
		if err != nil {
			return nil, err
		}
		if err := s.storeManifest(ctx, r, int64(len(cfgBytes)), descs); err != nil {
			return nil, err
		}
		tagNames := e.RepoTags
		if len(tagNames) == 0 && len(e.Layers) > 0 {
			top := path.Base(path.Dir(cleanArchiveName(e.Layers[len(e.Layers)-1])))
			for repo, tags := range repos {
				for tag, id := range tags {
					if id == top {
						tagNames = append(tagNames, repo+":"+tag)
					}
				}
			}
		}
		tags, err := normalizeTags(tagNames)
		if err != nil {
			return nil, err
		}
		img, err := s.commit(ctx, r, tags)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func normalizeTags(names []string) ([]string, error) {
	var out []string
	for _, t := range names {
		n, err := NormalizeRef(t)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(n, "@") {
			out = append(out, n)
		}
	}
	return out, nil
}

// ociTag names the image an OCI layout descriptor stands for, if it says.
func ociTag(ann map[string]string) string {
	if n := ann[annotationContainerdName]; n != "" {
		return n
	}
	n := ann[annotationRefName]
	if strings.ContainsAny(n, "/:@") {
		return n // a full reference; a bare tag ("latest") names no repository
	}
	return ""
}

func (s *Store) importOCI(ctx context.Context, st *staged) ([]*Image, error) {
	var idx ocispec.Index
	if _, err := st.readJSON("index.json", &idx); err != nil {
		return nil, err
	}
	var out []*Image
	for _, d := range idx.Manifests {
		img, err := s.importOCIManifest(ctx, st, d, ociTag(d.Annotations), 0)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func blobName(d digest.Digest) (string, error) {
	if _, err := parseDigest(d.String()); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidArchive, err)
	}
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), nil
}

// importOCIManifest stores the image (or, for an index, this machine's
// image) that desc points to.
func (s *Store) importOCIManifest(ctx context.Context, st *staged, desc ocispec.Descriptor, tag string, depth int) (*Image, error) {
	if depth > 4 {
		return nil, fmt.Errorf("%w: indexes nested too deep", ErrInvalidArchive)
	}
	name, err := blobName(desc.Digest)
	if err != nil {
		return nil, err
	}
	b, err := st.readJSON(name, nil)
	if err != nil {
		return nil, err
	}
	if digest.FromBytes(b) != desc.Digest {
		return nil, fmt.Errorf("%w: %s does not match its digest", ErrInvalidArchive, name)
	}
	if isIndexMediaType(desc.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidArchive, name, err)
		}
		d, err := pickManifest(hostPlatform(), idx.Manifests)
		if err != nil {
			return nil, err
		}
		if t := ociTag(d.Annotations); t != "" && tag == "" {
			tag = t
		}
		return s.importOCIManifest(ctx, st, d, tag, depth+1)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidArchive, name, err)
	}
	cfgName, err := blobName(m.Config.Digest)
	if err != nil {
		return nil, err
	}
	cfgBytes, err := st.readJSON(cfgName, nil)
	if err != nil {
		return nil, err
	}
	if _, _, _, err := s.ingestStaged(ctx, st, cfgName, m.Config.Digest); err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		ln, err := blobName(l.Digest)
		if err != nil {
			return nil, err
		}
		if _, _, _, err := s.ingestStaged(ctx, st, ln, l.Digest); err != nil {
			return nil, err
		}
	}
	if _, _, err := s.writeBlob(ctx, strings.NewReader(string(b)), desc.Digest, nil); err != nil {
		return nil, err
	}
	r, err := newRecord(m.Config.Digest, cfgBytes, m.Layers)
	if err != nil {
		return nil, err
	}
	r.ManifestDigest, r.ManifestMediaType = desc.Digest.String(), desc.MediaType
	if r.ManifestMediaType == "" {
		r.ManifestMediaType = m.MediaType
	}
	var tags []string
	if tag != "" {
		if tags, err = normalizeTags([]string{tag}); err != nil {
			return nil, err
		}
	}
	return s.commit(ctx, r, tags)
}

// isIndexMediaType recognises OCI indexes and Docker manifest lists.
func isIndexMediaType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}
