package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PullOptions tune one Pull or Push.
type PullOptions struct {
	// Insecure reaches the registry over plain HTTP.
	Insecure bool
	// Platform is "os/arch[/variant]" ("linux/arm/v7"); empty is this machine's.
	Platform string
	// Username and Password are explicit credentials; without them
	// ~/.docker/config.json is consulted (authn.DefaultKeychain).
	Username, Password string
	// Progress, when set, is called as layers move.
	Progress func(Progress)
}

// Progress reports the transfer of one layer (or, for Push, of the image).
type Progress struct {
	// Layer is the blob digest ("sha256:..."); empty for Push's overall count.
	Layer          string
	Current, Total int64
	// Done is set once the layer is stored (or was already present).
	Done bool
}

// notFoundError marks a registry's "unknown manifest/repository" answer as
// ErrNotFound while printing the registry's own message.
type notFoundError struct{ err error }

func (e notFoundError) Error() string   { return e.err.Error() }
func (e notFoundError) Unwrap() []error { return []error{ErrNotFound, e.err} }

func classify(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		if te.StatusCode == http.StatusNotFound {
			return notFoundError{err}
		}
		for _, d := range te.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return notFoundError{err}
			}
		}
	}
	return err
}

func (s *Store) remoteOptions(ctx context.Context, opts PullOptions) []remote.Option {
	o := []remote.Option{remote.WithContext(ctx), remote.WithUserAgent("kedge")}
	if opts.Username != "" || opts.Password != "" {
		o = append(o, remote.WithAuth(&authn.Basic{Username: opts.Username, Password: opts.Password}))
	} else {
		o = append(o, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	return o
}

// mirrorsFor lists the mirror hosts configured for a registry.
func (s *Store) mirrorsFor(reg string) []string {
	if m := s.opts.Mirrors[reg]; len(m) > 0 {
		return m
	}
	if reg == name.DefaultRegistry || reg == dockerHub {
		if m := s.opts.Mirrors[dockerHub]; len(m) > 0 {
			return m
		}
		return s.opts.Mirrors[name.DefaultRegistry]
	}
	return nil
}

// Pull fetches ref from its registry (mirrors first), picks the manifest for
// the wanted platform from a multi-platform index, downloads the layers not
// yet stored (verified by digest), unpacks them and tags the image.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*Image, error) {
	norm, err := NormalizeRef(ref)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	img, err := s.pull(ctx, norm, opts)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", norm, err)
	}
	return img, nil
}

func (s *Store) pull(ctx context.Context, norm string, opts PullOptions) (*Image, error) {
	plat, err := parsePlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	origin, err := s.remoteRef(norm, opts.Insecure)
	if err != nil {
		return nil, err
	}
	var candidates []name.Reference
	for _, m := range s.mirrorsFor(origin.Context().RegistryStr()) {
		var nopts []name.Option
		if s.insecureHost(m) {
			nopts = append(nopts, name.Insecure)
		}
		reg, err := name.NewRegistry(m, nopts...)
		if err != nil {
			s.opts.Logger.Warn("bad mirror", "mirror", m, "err", err)
			continue
		}
		repo := origin.Context()
		repo.Registry = reg
		var c name.Reference = repo.Digest(origin.Identifier())
		if _, ok := origin.(name.Tag); ok {
			c = repo.Tag(origin.Identifier())
		}
		candidates = append(candidates, c)
	}
	candidates = append(candidates, origin)
	ropts := s.remoteOptions(ctx, opts)
	var desc *remote.Descriptor
	var src name.Reference
	for i, c := range candidates {
		desc, err = remote.Get(c, ropts...)
		if err == nil {
			src = c
			break
		}
		if i < len(candidates)-1 {
			s.opts.Logger.Info("mirror failed, trying next", "ref", norm, "mirror", c.Context().RegistryStr(), "err", err)
		}
	}
	if err != nil {
		return nil, classify(err)
	}
	manifestDigest := desc.Digest
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		descs := make([]ocispec.Descriptor, len(im.Manifests))
		for i, m := range im.Manifests {
			descs[i] = ocispec.Descriptor{MediaType: string(m.MediaType), Digest: digest.Digest(m.Digest.String())}
			if m.Platform != nil {
				descs[i].Platform = &ocispec.Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}
			}
		}
		pick, err := pickManifest(plat, descs)
		if err != nil {
			return nil, err
		}
		h, err := v1.NewHash(pick.Digest.String())
		if err != nil {
			return nil, err
		}
		if img, err = idx.Image(h); err != nil {
			return nil, classify(err)
		}
		manifestDigest = h
	} else if desc.MediaType.IsImage() {
		if img, err = desc.Image(); err != nil {
			return nil, err
		}
	} else {
		return nil, fmt.Errorf("unsupported manifest media type %q", desc.MediaType)
	}
	return s.ingestRemote(ctx, norm, src, img, manifestDigest, opts)
}

// ingestRemote stores a remote image's manifest, config and missing layers.
func (s *Store) ingestRemote(ctx context.Context, norm string, src name.Reference, img v1.Image, md v1.Hash, opts PullOptions) (*Image, error) {
	s.gc.RLock()
	defer s.gc.RUnlock()
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, classify(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(rawManifest, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if _, _, err := s.writeBlob(ctx, strings.NewReader(string(rawManifest)), digest.Digest(md.String()), nil); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	cfgD, err := parseDigest(m.Config.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfgBytes []byte
	if s.hasBlob(cfgD) {
		cfgBytes, err = s.readBlob(cfgD)
	} else {
		cfgBytes, err = img.RawConfigFile()
		if err == nil {
			_, _, err = s.writeBlob(ctx, strings.NewReader(string(cfgBytes)), cfgD, nil)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", classify(err))
	}
	if opts.Platform != "" {
		if err := checkPlatform(opts.Platform, cfgBytes); err != nil {
			return nil, err
		}
	}
	for _, l := range m.Layers {
		if err := s.fetchLayer(ctx, src, l, opts.Progress, s.remoteOptions(ctx, opts)); err != nil {
			return nil, err
		}
	}
	r, err := newRecord(m.Config.Digest, cfgBytes, m.Layers)
	if err != nil {
		return nil, err
	}
	r.ManifestDigest, r.ManifestMediaType = md.String(), string(mt)
	repo, _, _, _ := splitRef(norm)
	r.RepoDigests = []string{repo + "@" + md.String()}
	var tags []string
	if !strings.Contains(norm, "@") {
		tags = []string{norm}
	}
	return s.commit(ctx, r, tags)
}

// fetchLayer downloads one layer blob unless it is stored, verifying its digest.
func (s *Store) fetchLayer(ctx context.Context, src name.Reference, l ocispec.Descriptor, progress func(Progress), ropts []remote.Option) error {
	d, err := parseDigest(l.Digest.String())
	if err != nil {
		return err
	}
	report := func(p Progress) {
		if progress != nil {
			p.Layer = d.String()
			progress(p)
		}
	}
	if s.hasBlob(d) {
		report(Progress{Current: l.Size, Total: l.Size, Done: true})
		return nil
	}
	if free := freeSpace(filepath.Join(s.root, "tmp")) - diskReserve; l.Size > free {
		return fmt.Errorf("layer %s: %d bytes do not fit in the %d bytes free", d, l.Size, max(free, 0))
	}
	layer, err := remote.Layer(src.Context().Digest(d.String()), ropts...)
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, classify(err))
	}
	rc, err := layer.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, classify(err))
	}
	defer rc.Close()
	_, n, err := s.writeBlob(ctx, io.LimitReader(rc, l.Size+1), d, func(n int64) {
		report(Progress{Current: n, Total: l.Size})
	})
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, classify(err))
	}
	report(Progress{Current: n, Total: l.Size, Done: true})
	return nil
}

// checkPlatform refuses a single-platform image that does not run on the
// explicitly requested platform (as Docker does).
func checkPlatform(want string, cfgBytes []byte) error {
	p, err := parsePlatform(want)
	if err != nil {
		return err
	}
	var have ocispec.Platform
	if err := json.Unmarshal(cfgBytes, &have); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if have.OS == "" && have.Architecture == "" {
		return nil // platform not recorded: assume it fits
	}
	if platformRank(p, &have) < 0 {
		return fmt.Errorf("%w %s: the image is for %s", ErrNoPlatform, platformString(p), platformString(have))
	}
	return nil
}
