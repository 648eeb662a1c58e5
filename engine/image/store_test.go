//go:build linux

package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                     "docker.io/library/busybox:latest",
		"busybox:1.36":                "docker.io/library/busybox:1.36",
		"library/busybox":             "docker.io/library/busybox:latest",
		"docker.io/busybox":           "docker.io/library/busybox:latest",
		"index.docker.io/foo/bar:v1":  "docker.io/foo/bar:v1",
		"host:5000/x":                 "host:5000/x:latest",
		"localhost/x/y:z":             "localhost/x/y:z",
		"ghcr.io/a/b@sha256:" + hex64: "ghcr.io/a/b@sha256:" + hex64,
	} {
		got, err := NormalizeRef(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", " busybox", "UPPER", "a:b:c", "x@sha256:12"} {
		if _, err := NormalizeRef(bad); !errors.Is(err, ErrInvalidReference) {
			t.Errorf("NormalizeRef(%q) err = %v, want ErrInvalidReference", bad, err)
		}
	}
	if got := FamiliarName("docker.io/library/busybox:latest"); got != "busybox:latest" {
		t.Errorf("FamiliarName = %q", got)
	}
	if got := FamiliarName("host:5000/x:1"); got != "host:5000/x:1" {
		t.Errorf("FamiliarName = %q", got)
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func create(t testing.TB, s *Store, ref string, layers ...[]byte) *Image {
	t.Helper()
	img, err := s.Create(context.Background(), ref, layers, ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"A=" + ref}})
	if err != nil {
		t.Fatalf("create %s: %v", ref, err)
	}
	return img
}

func TestGetResolvesLikeDocker(t *testing.T) {
	s := newStore(t, Options{})
	img := create(t, s, "busybox", newTar(t).file("bin/x", "x").bytes())
	hex := strings.TrimPrefix(img.ID, "sha256:")
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox",
		img.ID, hex, hex[:12], "sha256:" + hex[:12], hex[:20]} {
		got, err := s.Get(ref)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %v, %v", ref, got, err)
		}
	}
	for _, ref := range []string{"busybox:1", "nope", hex[:11], "sha256:" + hex64} {
		if _, err := s.Get(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) err = %v, want ErrNotFound", ref, err)
		}
	}
	if !slices.Equal(img.RepoTags, []string{"docker.io/library/busybox:latest"}) || img.Size <= 0 || img.Created.IsZero() {
		t.Errorf("image = %+v", img)
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].ID != img.ID {
		t.Errorf("List = %v", list)
	}
}

func readDirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestLayersSharedUnpackedOnceLowestFirst(t *testing.T) {
	s := newStore(t, Options{})
	base := newTar(t).file("etc/base", "b").file("etc/over", "base").bytes()
	a := create(t, s, "a", base, newTar(t).file("etc/over", "a").bytes())
	b := create(t, s, "b", base, newTar(t).file("etc/.wh.base", "").bytes())
	if n := layerCount(t, s); n != 3 {
		t.Fatalf("%d layer dirs for 2 images sharing a base, want 3", n)
	}
	ctx := context.Background()
	da, err := s.LayerDirs(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := s.LayerDirs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if da[0] != db[0] || da[1] == db[1] {
		t.Fatalf("layer dirs %v %v: base must be shared, tops distinct", da, db)
	}
	if got, _ := os.ReadFile(filepath.Join(da[1], "etc/over")); string(got) != "a" {
		t.Errorf("top layer of a: etc/over = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(da[0], "etc/over")); string(got) != "base" {
		t.Errorf("lowest layer: etc/over = %q", got)
	}
	assertWhiteout(t, filepath.Join(db[1], "etc/base"))
}

func TestConcurrentLayerDirs(t *testing.T) {
	s := newStore(t, Options{})
	img := create(t, s, "c", newTar(t).file("a", "1").bytes(), newTar(t).file("b", "2").bytes())
	// Forget the unpacked layers, as if they had been lost, so every caller races to unpack.
	s.mu.Lock()
	for _, l := range s.images[img.ID].Layers {
		delete(s.unpacked, l.ChainID)
		if err := os.RemoveAll(s.layerDir(l.ChainID)); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	results := make([][]string, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = s.LayerDirs(context.Background(), img) })
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || !slices.Equal(results[i], results[0]) {
			t.Fatalf("caller %d: %v %v", i, results[i], errs[i])
		}
	}
	if b, err := os.ReadFile(filepath.Join(results[0][1], "b")); err != nil || string(b) != "2" {
		t.Fatalf("unpacked layer: %q %v", b, err)
	}
	if n := countFiles(t, filepath.Join(s.root, "tmp")); n != 0 {
		t.Errorf("%d leftovers in tmp", n)
	}
}

func seventyLayers(t testing.TB) [][]byte {
	var layers [][]byte
	for i := range 70 {
		layers = append(layers, newTar(t).file(fmt.Sprintf("layer/%02d", i), fmt.Sprint(i)).bytes())
	}
	return layers
}

func TestSeventyLayers(t *testing.T) {
	s := newStore(t, Options{})
	layers := seventyLayers(t)
	layers[69] = newTar(t).file("layer/69", "69").file("layer/.wh.00", "").bytes()
	img := create(t, s, "deep", layers...)
	dirs, err := s.LayerDirs(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 70 {
		t.Fatalf("%d dirs", len(dirs))
	}
	for i, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, fmt.Sprintf("layer/%02d", i)))
		if err != nil || string(b) != fmt.Sprint(i) {
			t.Fatalf("layer %d (%s): %q %v", i, d, b, err)
		}
	}
	// The dirs stack as overlayfs lowerdirs (top first) in one mount call.
	merged := mountLayers(t, s, img)
	ents, err := os.ReadDir(filepath.Join(merged, "layer"))
	if err != nil || len(ents) != 69 || ents[0].Name() != "01" {
		t.Fatalf("merged view: %d entries (%v), first %v; want 69 with 00 whited out", len(ents), err, ents[:1])
	}
}

func TestTagRemoveFreesDisk(t *testing.T) {
	s := newStore(t, Options{})
	ctx := context.Background()
	base := newTar(t).file("base", "b").bytes()
	a := create(t, s, "a:1", base, newTar(t).file("top", "a").bytes())
	create(t, s, "b:1", base)
	if err := s.Tag(ctx, "a:1", "a:2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tag of a missing image: %v", err)
	}
	if img, _ := s.Get("a:2"); img == nil || img.ID != a.ID || len(img.RepoTags) != 2 {
		t.Fatalf("after tag: %+v", img)
	}
	if _, err := s.Remove(a.ID, false, nil); err == nil {
		t.Fatal("remove by id of an image with two tags succeeded without force")
	}
	lines, err := s.Remove("a:1", false, nil)
	if err != nil || !slices.Equal(lines, []string{"Untagged: a:1"}) {
		t.Fatalf("remove a:1: %v %v", lines, err)
	}
	blobsBefore, layersBefore := blobCount(t, s), layerCount(t, s)
	lines, err = s.Remove("a:2", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Untagged: a:2", "Deleted: " + a.ID}
	if len(lines) != 3 || !slices.Equal(lines[:2], want) || !strings.HasPrefix(lines[2], "Deleted: sha256:") {
		t.Fatalf("remove lines %q", lines)
	}
	// a's config, manifest and top layer went; the shared base stays for b.
	if got := blobCount(t, s); got != blobsBefore-3 {
		t.Errorf("blobs %d -> %d, want 3 fewer", blobsBefore, got)
	}
	if got := layerCount(t, s); got != layersBefore-1 {
		t.Errorf("layer dirs %d -> %d, want 1 fewer", layersBefore, got)
	}
	if _, err := s.Get("a:2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get removed: %v", err)
	}
	if _, err := s.Remove("b:1", false, nil); err != nil {
		t.Fatal(err)
	}
	if blobCount(t, s) != 0 || layerCount(t, s) != 0 || countFiles(t, filepath.Join(s.root, "l")) != 0 {
		t.Errorf("after removing every image: %d blobs, %d layer dirs, %d links",
			blobCount(t, s), layerCount(t, s), countFiles(t, filepath.Join(s.root, "l")))
	}
}

func TestRemoveInUseAndPrune(t *testing.T) {
	s := newStore(t, Options{})
	ctx := context.Background()
	img := create(t, s, "used", newTar(t).file("f", strings.Repeat("x", 10000)).bytes())
	used := map[string]bool{img.ID: true}
	inUse := func(id string) bool { return used[id] }
	if _, err := s.Remove("used", false, inUse); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove in use: %v", err)
	}
	lines, err := s.Remove("used", true, inUse)
	if err != nil || !slices.Equal(lines, []string{"Untagged: used:latest"}) {
		t.Fatalf("forced remove in use: %v %v", lines, err)
	}
	got, err := s.Get(img.ID)
	if err != nil || len(got.RepoTags) != 0 {
		t.Fatalf("image in use must be kept, dangling: %+v %v", got, err)
	}
	if n, del, err := s.Prune(ctx, false, inUse); err != nil || n != 0 || len(del) != 0 {
		t.Fatalf("prune while in use: %d %v %v", n, del, err)
	}
	tagged := create(t, s, "keep", newTar(t).file("k", "k").bytes())
	used = map[string]bool{}
	n, del, err := s.Prune(ctx, false, inUse)
	if err != nil || n < 10000 || !slices.Contains(del, "Deleted: "+img.ID) {
		t.Fatalf("prune dangling: %d %v %v", n, del, err)
	}
	if _, err := s.Get("keep"); err != nil {
		t.Fatalf("prune removed a tagged image: %v", err)
	}
	n, del, err = s.Prune(ctx, true, inUse)
	if err != nil || n <= 0 || !slices.Contains(del, "Deleted: "+tagged.ID) || !slices.Contains(del, "Untagged: keep:latest") {
		t.Fatalf("prune all: %d %v %v", n, del, err)
	}
	if blobCount(t, s) != 0 || layerCount(t, s) != 0 {
		t.Errorf("after prune all: %d blobs, %d layer dirs", blobCount(t, s), layerCount(t, s))
	}
}

func TestReopenKeepsImages(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := create(t, s, "persist", newTar(t).file("p", "p").bytes())
	if err := s.Tag(context.Background(), "persist", "other:2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get("other:2")
	if err != nil || got.ID != img.ID || len(got.RepoTags) != 2 || got.Size != img.Size {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	s.mu.RLock()
	fast := s.unpacked[s.images[img.ID].Layers[0].ChainID]
	s.mu.RUnlock()
	if !fast {
		t.Error("unpacked layers not known after reopen")
	}
	checkStore(t, s)
}

// BenchmarkLayerDirs measures the `kedge run` hot path: the dirs of an
// already unpacked 70-layer image.
func BenchmarkLayerDirs(b *testing.B) {
	s := newStore(b, Options{})
	img := create(b, s, "deep", seventyLayers(b)...)
	ctx := context.Background()
	if _, err := s.LayerDirs(ctx, img); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.LayerDirs(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConcurrentImportsOfOneImage(t *testing.T) {
	s := newStore(t, Options{})
	archive := dockerSave(t, "same:1", randomImage(t, 60, 4, ""))
	var wg sync.WaitGroup
	ids := make([]string, 4)
	errs := make([]error, 4)
	for i := range ids {
		wg.Go(func() {
			imgs, err := s.Import(context.Background(), bytes.NewReader(archive))
			errs[i] = err
			if err == nil {
				ids[i] = imgs[0].ID
				_, errs[i] = s.LayerDirs(context.Background(), imgs[0])
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("import %d: %s %v", i, ids[i], errs[i])
		}
	}
	if n := layerCount(t, s); n != 4 {
		t.Errorf("%d layer dirs, want 4", n)
	}
}

// mountLayers mounts the image's layer dirs read-only with overlayfs and
// returns the merged directory.
func mountLayers(t *testing.T, s *Store, img *Image) string {
	t.Helper()
	dirs, err := s.LayerDirs(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	lower := slices.Clone(dirs)
	slices.Reverse(lower)
	merged := filepath.Join(t.TempDir(), "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lower, ":")); err != nil {
		t.Fatalf("overlay mount: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(merged, unix.MNT_DETACH) })
	return merged
}

func TestOverlaySeesWhiteoutsAndOpaqueDirs(t *testing.T) {
	s := newStore(t, Options{})
	img := create(t, s, "ovl",
		newTar(t).file("var/cache/old", "o").file("etc/keep", "k").file("etc/gone", "g").bytes(),
		newTar(t).dir("var/cache/").file("var/cache/.wh..wh..opq", "").file("var/cache/new", "n").file("etc/.wh.gone", "").bytes())
	merged := mountLayers(t, s, img)
	if got := readDirNames(t, filepath.Join(merged, "var/cache")); !slices.Equal(got, []string{"new"}) {
		t.Errorf("opaque dir shows %v, want [new]", got)
	}
	if got := readDirNames(t, filepath.Join(merged, "etc")); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("etc shows %v, want [keep]", got)
	}
}
