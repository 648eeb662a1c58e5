package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// Push uploads the local image named ref to the registry under ref (layers
// the registry has are not sent again). opts.Platform is ignored;
// opts.Progress, when set, receives overall byte counts (Layer is empty).
func (s *Store) Push(ctx context.Context, ref string, opts PullOptions) error {
	norm, err := NormalizeRef(ref)
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	if err := s.push(ctx, ref, norm, opts); err != nil {
		return fmt.Errorf("push %s: %w", norm, err)
	}
	return nil
}

func (s *Store) push(ctx context.Context, ref, norm string, opts PullOptions) error {
	s.gc.RLock()
	defer s.gc.RUnlock()
	s.mu.RLock()
	r, err := s.resolveLocked(ref)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if strings.Contains(norm, "@") {
		return fmt.Errorf("push by digest is not supported: %w", ErrInvalidReference)
	}
	dst, err := s.remoteRef(norm, opts.Insecure)
	if err != nil {
		return err
	}
	img, err := partial.CompressedToImage(&storeImage{s: s, r: r})
	if err != nil {
		return err
	}
	ropts := s.remoteOptions(ctx, opts)
	if opts.Progress == nil {
		return classify(remote.Write(dst, img, ropts...))
	}
	// remote.Write closes updates when it returns; the forwarder ends then.
	updates := make(chan v1.Update, 16)
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for u := range updates {
			opts.Progress(Progress{Current: u.Complete, Total: u.Total})
		}
	}()
	err = remote.Write(dst, img, append(ropts, remote.WithProgress(updates))...)
	<-forwarded
	if err != nil {
		return classify(err)
	}
	opts.Progress(Progress{Done: true})
	return nil
}

// storeImage presents a stored image to go-containerregistry as blobs.
type storeImage struct {
	s *Store
	r *record
}

var _ partial.CompressedImageCore = (*storeImage)(nil)

func (i *storeImage) RawConfigFile() ([]byte, error) {
	return i.s.readBlob(digest.Digest(i.r.ID))
}

func (i *storeImage) MediaType() (types.MediaType, error) {
	return types.MediaType(i.r.ManifestMediaType), nil
}

func (i *storeImage) RawManifest() ([]byte, error) {
	return i.s.readBlob(digest.Digest(i.r.ManifestDigest))
}

func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h.String() == i.r.ID {
		b, err := i.RawConfigFile()
		if err != nil {
			return nil, err
		}
		return &storeBlob{s: i.s, d: digest.Digest(h.String()), size: int64(len(b)), mt: types.OCIConfigJSON, data: b}, nil
	}
	for _, l := range i.r.Layers {
		if l.Digest == h.String() {
			return &storeBlob{s: i.s, d: digest.Digest(l.Digest), size: l.Size, mt: types.MediaType(l.MediaType)}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not part of image %s", h, i.r.ID)
}

// storeBlob is one stored blob as a go-containerregistry compressed layer.
type storeBlob struct {
	s    *Store
	d    digest.Digest
	size int64
	mt   types.MediaType
	data []byte
}

func (b *storeBlob) Digest() (v1.Hash, error) { return v1.NewHash(b.d.String()) }
func (b *storeBlob) Size() (int64, error)     { return b.size, nil }
func (b *storeBlob) MediaType() (types.MediaType, error) {
	return b.mt, nil
}
func (b *storeBlob) Compressed() (io.ReadCloser, error) {
	if b.data != nil {
		return io.NopCloser(bytes.NewReader(b.data)), nil
	}
	return os.Open(b.s.blobPath(b.d))
}
