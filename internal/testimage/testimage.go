// Package testimage builds small real images for tests: a busybox image from
// the host's statically linked /bin/busybox (Debian's busybox-static), and
// tiny extra layers. Tests get the image as a docker-save archive and load
// it through image.Store.Import, so they exercise the real import path.
//
// The busybox image has one layer: /bin/busybox with a symlink per applet
// (`busybox --list`) in /bin, /usr/bin/env, /etc/passwd and /etc/group with
// root (0), nobody (65534) and app (1000, home /home/app, also in group
// staff 50), /tmp (1777), /root (0700), and empty /dev, /proc, /sys.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/engine/image"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BusyboxPath is where the static busybox binary is taken from.
const BusyboxPath = "/bin/busybox"

// Ref is the name Busybox's archive tags the image with.
const Ref = "docker.io/library/busybox:latest"

// DefaultEnv is the image's environment.
var DefaultEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// Passwd and Group are the image's /etc/passwd and /etc/group.
const (
	Passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"app:x:1000:1000:app:/home/app:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	Group = "root:x:0:\n" +
		"staff:x:50:app\n" +
		"app:x:1000:\n" +
		"nogroup:x:65534:\n"
)

// built is the once-per-test-binary cache: building the layer runs busybox
// and builds a store, which every test would otherwise repeat.
var built struct {
	once    sync.Once
	layer   []byte
	archive []byte
	err     string
	skip    string
}

func build() {
	if _, err := os.Stat(BusyboxPath); err != nil {
		built.skip = "testimage: " + BusyboxPath + " is missing (apt-get install busybox-static)"
		return
	}
	layer, err := busyboxLayer()
	if err != nil {
		built.err = err.Error()
		return
	}
	dir, err := os.MkdirTemp("", "testimage-")
	if err != nil {
		built.err = err.Error()
		return
	}
	defer os.RemoveAll(dir)
	s, err := image.Open(dir, image.Options{})
	if err != nil {
		built.err = err.Error()
		return
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Create(ctx, Ref, [][]byte{layer}, DefaultConfig()); err != nil {
		built.err = err.Error()
		return
	}
	var buf bytes.Buffer
	if err := s.Save(ctx, &buf, []string{Ref}); err != nil {
		built.err = err.Error()
		return
	}
	built.layer, built.archive = layer, buf.Bytes()
}

func ensure(t testing.TB) {
	t.Helper()
	built.once.Do(build)
	if built.skip != "" {
		t.Skip(built.skip)
	}
	if built.err != "" {
		t.Fatalf("testimage: build busybox image: %s", built.err)
	}
}

// DefaultConfig is the busybox image's runtime config: `sh` with PATH set.
func DefaultConfig() ocispec.ImageConfig {
	return ocispec.ImageConfig{Env: slices.Clone(DefaultEnv), Cmd: []string{"sh"}}
}

// Busybox returns a docker-save archive (tagged busybox:latest) of the
// busybox image. It skips the test when /bin/busybox is missing. Callers
// must not modify the returned bytes.
func Busybox(t testing.TB) []byte {
	ensure(t)
	return built.archive
}

// BusyboxLayer returns the busybox image's single layer (uncompressed tar).
func BusyboxLayer(t testing.TB) []byte {
	ensure(t)
	return built.layer
}

// BusyboxInto imports the busybox image into s and returns it under ref
// (empty: busybox:latest). With mutate or extra layers (uncompressed tars,
// e.g. from TarLayer) it creates a derived image whose config mutate edits
// and whose layers are busybox's plus the extras, sharing the base layer.
func BusyboxInto(t testing.TB, s *image.Store, ref string, mutate func(*ocispec.ImageConfig), extraLayers ...[]byte) *image.Image {
	t.Helper()
	archive := Busybox(t)
	ctx := context.Background()
	imgs, err := s.Import(ctx, bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("testimage: import busybox: %v", err)
	}
	if ref == "" {
		ref = Ref
	}
	if mutate == nil && len(extraLayers) == 0 {
		if err := s.Tag(ctx, imgs[0].ID, ref); err != nil {
			t.Fatalf("testimage: tag busybox as %s: %v", ref, err)
		}
		img, err := s.Get(ref)
		if err != nil {
			t.Fatalf("testimage: %v", err)
		}
		return img
	}
	cfg := imgs[0].Config.Config
	cfg.Env = slices.Clone(cfg.Env)
	cfg.Cmd = slices.Clone(cfg.Cmd)
	if mutate != nil {
		mutate(&cfg)
	}
	layers := append([][]byte{built.layer}, extraLayers...)
	img, err := s.Create(ctx, ref, layers, cfg)
	if err != nil {
		t.Fatalf("testimage: create %s: %v", ref, err)
	}
	return img
}

// TarLayer builds an uncompressed layer tar from path -> content. A path
// ending in "/" is a directory; content starting with "#!" makes the file
// executable (0755, else 0644); parent directories are added as needed.
func TarLayer(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	dirs := map[string]bool{}
	var addDir func(d string)
	addDir = func(d string) {
		d = strings.Trim(d, "/")
		if d == "" || d == "." || dirs[d] {
			return
		}
		addDir(path.Dir(d))
		dirs[d] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mtime}); err != nil {
			t.Fatalf("testimage: %v", err)
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			addDir(n)
			continue
		}
		clean := strings.TrimPrefix(path.Clean("/"+n), "/")
		addDir(path.Dir(clean))
		mode := int64(0o644)
		if strings.HasPrefix(files[n], "#!") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: clean, Mode: mode, Size: int64(len(files[n])), ModTime: mtime}); err != nil {
			t.Fatalf("testimage: %v", err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatalf("testimage: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("testimage: %v", err)
	}
	return buf.Bytes()
}

// busyboxLayer builds the busybox rootfs tar.
func busyboxLayer() ([]byte, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "dev/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "home/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "home/app/", Mode: 0o755, Uid: 1000, Gid: 1000},
		{Typeflag: tar.TypeDir, Name: "proc/", Mode: 0o555},
		{Typeflag: tar.TypeDir, Name: "root/", Mode: 0o700},
		{Typeflag: tar.TypeDir, Name: "sys/", Mode: 0o555},
		{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777},
		{Typeflag: tar.TypeDir, Name: "usr/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "usr/bin/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "var/", Mode: 0o755},
		{Typeflag: tar.TypeSymlink, Name: "usr/bin/env", Linkname: "/bin/busybox", Mode: 0o777},
	}
	for _, h := range hdrs {
		h.ModTime = mtime
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"bin/busybox", 0o755, bin},
		{"etc/passwd", 0o644, []byte(Passwd)},
		{"etc/group", 0o644, []byte(Group)},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
