//go:build linux

package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// randomImage is a go-containerregistry random image (gzip layers, each one
// random file) for platform (os/arch[/variant]) when not empty.
func randomImage(t testing.TB, seed int64, layers int, platform string) v1.Image {
	t.Helper()
	img, err := random.Image(256, int64(layers), random.WithSource(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func configName(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func dockerSave(t testing.TB, ref string, img v1.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.Write(r, img, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarDir archives a directory tree (an OCI layout) the way `tar -C dir -c .` would.
func tarDir(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = "./" + filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ociArchive(t testing.TB, add func(p layout.Path)) []byte {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	add(p)
	return tarDir(t, dir)
}

func importOne(t testing.TB, s *Store, archive []byte) *Image {
	t.Helper()
	imgs, err := s.Import(context.Background(), bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if len(imgs) != 1 {
		t.Fatalf("imported %d images, want 1", len(imgs))
	}
	return imgs[0]
}

// assertRandomFiles checks the unpacked layers of a random image.
func assertRandomFiles(t testing.TB, s *Store, img *Image, layers int) {
	t.Helper()
	dirs, err := s.LayerDirs(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != layers {
		t.Fatalf("%d layer dirs, want %d", len(dirs), layers)
	}
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, "random_file_*.txt"))
		if len(m) != 1 {
			t.Fatalf("layer %s holds %v", d, m)
		}
	}
}

func TestImportDockerSave(t *testing.T) {
	src := randomImage(t, 1, 3, "")
	archive := dockerSave(t, "example.com/team/app:1", src)
	for name, data := range map[string][]byte{"plain": archive, "gzip": gzipBytes(t, archive)} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, Options{})
			img := importOne(t, s, data)
			if img.ID != configName(t, src) || !slices.Equal(img.RepoTags, []string{"example.com/team/app:1"}) {
				t.Fatalf("imported %+v", img)
			}
			if img.Size <= 3*256 {
				t.Errorf("size %d", img.Size)
			}
			assertRandomFiles(t, s, img, 3)
			// Importing again stores nothing new.
			before := blobCount(t, s)
			importOne(t, s, data)
			if blobCount(t, s) != before {
				t.Errorf("re-import added blobs")
			}
		})
	}
}

func TestImportOCILayout(t *testing.T) {
	src := randomImage(t, 2, 2, "")
	archive := ociArchive(t, func(p layout.Path) {
		if err := p.AppendImage(src, layout.WithAnnotations(map[string]string{annotationRefName: "example.com/oci:2"})); err != nil {
			t.Fatal(err)
		}
	})
	for name, data := range map[string][]byte{"plain": archive, "gzip": gzipBytes(t, archive)} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, Options{})
			img := importOne(t, s, data)
			if img.ID != configName(t, src) || !slices.Equal(img.RepoTags, []string{"example.com/oci:2"}) {
				t.Fatalf("imported %+v", img)
			}
			md, _ := src.Digest()
			s.mu.RLock()
			got := s.images[img.ID].ManifestDigest
			s.mu.RUnlock()
			if got != md.String() {
				t.Errorf("manifest digest %s, want the archive's %s", got, md)
			}
			assertRandomFiles(t, s, img, 2)
		})
	}
}

func TestImportOCIIndexPicksThisMachine(t *testing.T) {
	host := randomImage(t, 3, 1, "linux/"+runtime.GOARCH)
	other := randomImage(t, 4, 1, "linux/s390x")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH, Variant: defaultVariant(runtime.GOARCH)}}},
	)
	archive := ociArchive(t, func(p layout.Path) {
		if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationContainerdName: "docker.io/library/multi:1", annotationRefName: "1"})); err != nil {
			t.Fatal(err)
		}
	})
	s := newStore(t, Options{})
	img := importOne(t, s, archive)
	if img.ID != configName(t, host) || !slices.Equal(img.RepoTags, []string{"docker.io/library/multi:1"}) {
		t.Fatalf("imported %+v, want %s", img, configName(t, host))
	}
}

func TestSaveImportRoundTrip(t *testing.T) {
	a := newStore(t, Options{})
	ctx := context.Background()
	orig := create(t, a, "rt:1",
		newTar(t).dir("etc/").file("etc/conf", "v1").file("etc/old", "o").symlink("bin", "usr/bin").bytes(),
		newTar(t).file("etc/.wh.old", "").file("etc/conf", "v2").bytes())
	if err := a.Tag(ctx, "rt:1", "example.com/rt:2"); err != nil {
		t.Fatal(err)
	}
	other := create(t, a, "other", newTar(t).file("x", "x").bytes())
	var buf bytes.Buffer
	if err := a.Save(ctx, &buf, []string{"rt:1", "example.com/rt:2", other.ID}); err != nil {
		t.Fatal(err)
	}
	// go-containerregistry's docker-save reader (what `docker load` reads) accepts it.
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }
	rtTag, err := name.NewTag("rt:1")
	if err != nil {
		t.Fatal(err)
	}
	tbImg, err := tarball.Image(opener, &rtTag)
	if err != nil {
		t.Fatalf("tarball reader: %v", err)
	}
	if configName(t, tbImg) != orig.ID {
		t.Errorf("tarball reader sees config %s, want %s", configName(t, tbImg), orig.ID)
	}

	b := newStore(t, Options{})
	imgs, err := b.Import(ctx, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("imported %d images", len(imgs))
	}
	got, err := b.Get("example.com/rt:2")
	if err != nil || got.ID != orig.ID || !slices.Equal(got.RepoTags, []string{"docker.io/library/rt:1", "example.com/rt:2"}) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if o, err := b.Get(other.ID); err != nil || len(o.RepoTags) != 0 {
		t.Fatalf("image saved by id: %+v %v", o, err)
	}
	dirs, err := b.LayerDirs(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := os.ReadFile(filepath.Join(dirs[1], "etc/conf")); string(c) != "v2" {
		t.Errorf("etc/conf = %q", c)
	}
	if l, _ := os.Readlink(filepath.Join(dirs[0], "bin")); l != "usr/bin" {
		t.Errorf("bin -> %q", l)
	}
	assertWhiteout(t, filepath.Join(dirs[1], "etc/old"))
}

func TestImportRefusesBadArchives(t *testing.T) {
	s := newStore(t, Options{})
	ctx := context.Background()
	bad := map[string][]byte{
		"not a tar":   []byte("hello"),
		"empty tar":   newTar(t).bytes(),
		"no manifest": newTar(t).file("foo", "bar").bytes(),
		"bad json":    newTar(t).file("manifest.json", "{").bytes(),
		"missing layer": newTar(t).file("c.json", `{"rootfs":{"type":"layers","diff_ids":["sha256:`+hex64+`"]}}`).
			file("manifest.json", `[{"Config":"c.json","Layers":["nope/layer.tar"]}]`).bytes(),
		"diff id mismatch": newTar(t).file("c.json", `{"rootfs":{"type":"layers","diff_ids":["sha256:`+hex64+`"]}}`).
			file("l.tar", string(newTar(t).file("a", "b").bytes())).
			file("manifest.json", `[{"Config":"c.json","RepoTags":["evil:1"],"Layers":["l.tar"]}]`).bytes(),
		"escaping layer": newTar(t).file("c.json", `{"rootfs":{"type":"layers","diff_ids":["`+sha256Digest(newTar(t).file("../x", "b").bytes())+`"]}}`).
			file("l.tar", string(newTar(t).file("../x", "b").bytes())).
			file("manifest.json", `[{"Config":"c.json","RepoTags":["evil:2"],"Layers":["l.tar"]}]`).bytes(),
	}
	for name, data := range bad {
		_, err := s.Import(ctx, bytes.NewReader(data))
		if err == nil || !strings.HasPrefix(err.Error(), "import: ") {
			t.Errorf("%s: err = %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("bad archives left images: %v", list)
	}
	if _, err := s.Import(ctx, bytes.NewReader(bad["diff id mismatch"])); !errors.Is(err, ErrUnsafeLayer) {
		t.Errorf("diff id mismatch: %v", err)
	}
	if _, err := s.Import(ctx, bytes.NewReader(bad["no manifest"])); !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("no manifest: %v", err)
	}
}

// importSeeds are valid archives of every kind for FuzzImport.
func importSeeds(t testing.TB) [][]byte {
	src := randomImage(t, 5, 1, "")
	save := dockerSave(t, "seed:1", src)
	oci := ociArchive(t, func(p layout.Path) {
		if err := p.AppendImage(src, layout.WithAnnotations(map[string]string{annotationRefName: "x.io/seed:2"})); err != nil {
			t.Fatal(err)
		}
	})
	return [][]byte{save, gzipBytes(t, save), oci, newTar(t).file("manifest.json", `[{"Config":"c"}]`).bytes()}
}

func TestImportLegacyRepositoriesFile(t *testing.T) {
	layer := newTar(t).file("hello", "world").bytes()
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + sha256Digest(layer) + `"]}}`
	archive := newTar(t).
		file("c0ffee.json", cfg).
		dir("abc123/").
		file("abc123/layer.tar", string(layer)).
		file("manifest.json", `[{"Config":"c0ffee.json","RepoTags":null,"Layers":["abc123/layer.tar"]}]`).
		file("repositories", `{"old/name":{"v1":"abc123"}}`).
		bytes()
	s := newStore(t, Options{})
	img := importOne(t, s, archive)
	if !slices.Equal(img.RepoTags, []string{"docker.io/old/name:v1"}) || img.ID != sha256Digest([]byte(cfg)) {
		t.Fatalf("imported %+v", img)
	}
}
