//go:build linux

package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// sandbox is a test dir holding the layer target and a sibling "outside"
// dir with a sentinel file; after an unpack nothing outside the layer may change.
type sandbox struct {
	base, layer, outside string
	before               []string
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	base := t.TempDir()
	sb := &sandbox{base: base, layer: filepath.Join(base, "layer"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{sb.layer, sb.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sb.outside, "secret"), []byte("orig"), 0o644); err != nil {
		t.Fatal(err)
	}
	sb.before = sb.snapshot(t)
	return sb
}

// snapshot lists everything under base except the layer dir, with sizes.
func (sb *sandbox) snapshot(t testing.TB) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(sb.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == sb.layer {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		out = append(out, fmt.Sprintf("%s %v nlink=%d size=%d", p, info.Mode(), st.Nlink, info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// assertContained fails if anything outside the layer dir changed.
func (sb *sandbox) assertContained(t testing.TB) {
	t.Helper()
	after := sb.snapshot(t)
	if strings.Join(after, "\n") != strings.Join(sb.before, "\n") {
		t.Fatalf("unpack changed things outside the layer dir:\nbefore:\n%s\nafter:\n%s",
			strings.Join(sb.before, "\n"), strings.Join(after, "\n"))
	}
	if b, err := os.ReadFile(filepath.Join(sb.outside, "secret")); err != nil || string(b) != "orig" {
		t.Fatalf("sentinel outside the layer changed: %q %v", b, err)
	}
}

func (sb *sandbox) unpack(t testing.TB, data []byte, lim unpackLimits) (unpackResult, error) {
	t.Helper()
	return unpackLayer(context.Background(), bytes.NewReader(data), sb.layer, lim)
}

func mustUnsafe(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnsafeLayer) {
		t.Fatalf("want ErrUnsafeLayer, got %v", err)
	}
}

func TestUnpackRefusesDotDot(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	_, err := sb.unpack(t, newTar(t).file("../outside/pwned", "x").bytes(), unpackLimits{})
	mustUnsafe(t, err)
	sb.assertContained(t)
	_, err = sb.unpack(t, newTar(t).file("a/../../outside/secret", "evil").bytes(), unpackLimits{})
	mustUnsafe(t, err)
	sb.assertContained(t)
	_, err = sb.unpack(t, newTar(t).file("ok", "x").link("h", "../outside/secret").bytes(), unpackLimits{})
	mustUnsafe(t, err)
	sb.assertContained(t)
}

func TestUnpackNeutralisesAbsolutePaths(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	abs := filepath.Join(sb.outside, "pwned")
	if _, err := sb.unpack(t, newTar(t).file(abs, "x").bytes(), unpackLimits{}); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	sb.assertContained(t)
	if b, err := os.ReadFile(filepath.Join(sb.layer, abs)); err != nil || string(b) != "x" {
		t.Fatalf("absolute entry should land inside the layer: %q %v", b, err)
	}
}

func TestUnpackSymlinkEscapes(t *testing.T) {
	requireRoot(t)
	for name, target := range map[string]string{
		"absolute": "OUTSIDE",
		"relative": "../../../../../../OUTSIDE",
		"root":     "/",
	} {
		t.Run(name, func(t *testing.T) {
			sb := newSandbox(t)
			target = strings.ReplaceAll(target, "OUTSIDE", strings.TrimPrefix(sb.outside, "/"))
			if name == "absolute" {
				target = "/" + target
			}
			data := newTar(t).
				symlink("etc", target).
				file("etc/secret", "evil").
				file("etc/passwd", "root::0:0::/:/bin/sh").
				bytes()
			_, err := sb.unpack(t, data, unpackLimits{})
			if err != nil {
				t.Logf("refused: %v", err)
			}
			sb.assertContained(t)
			if b, err := os.ReadFile("/etc/passwd"); err == nil && strings.HasPrefix(string(b), "root::0:0::/:/bin/sh") {
				t.Fatal("host /etc/passwd overwritten")
			}
		})
	}
}

func TestUnpackNeverWritesThroughSymlinkOrHardlink(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	secret := filepath.Join(sb.outside, "secret")
	data := newTar(t).
		symlink("s", secret).
		file("s", "evil via symlink").
		file("a", "inside").
		link("h", "a").
		file("h", "replaced").
		symlink("d", sb.outside).
		dir("d").
		file("d/secret", "evil via dir symlink").
		bytes()
	if _, err := sb.unpack(t, data, unpackLimits{}); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	sb.assertContained(t)
	for p, want := range map[string]string{"s": "evil via symlink", "a": "inside", "h": "replaced", "d/secret": "evil via dir symlink"} {
		b, err := os.ReadFile(filepath.Join(sb.layer, p))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if st, err := os.Lstat(filepath.Join(sb.layer, "s")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("s should have been replaced by a regular file: %v %v", st, err)
	}
}

func TestUnpackHardlinkOutsideRefused(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	// The source path goes through a symlink to outside: resolved inside the
	// layer, where it does not exist.
	data := newTar(t).symlink("d", sb.outside).link("h", "d/secret").bytes()
	if _, err := sb.unpack(t, data, unpackLimits{}); err == nil {
		t.Fatal("hard link to a file outside the layer was accepted")
	}
	sb.assertContained(t)
	data = newTar(t).link("h", filepath.Join(sb.outside, "secret")).bytes()
	if _, err := sb.unpack(t, data, unpackLimits{}); err == nil {
		t.Fatal("absolute hard link to a file outside the layer was accepted")
	}
	sb.assertContained(t)
}

func TestUnpackSkipsDevices(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	data := newTar(t).
		add(&tar.Header{Typeflag: tar.TypeBlock, Name: "sda", Devmajor: 8, Devminor: 0, Mode: 0o666}, "").
		add(&tar.Header{Typeflag: tar.TypeChar, Name: "mem", Devmajor: 1, Devminor: 1, Mode: 0o666}, "").
		add(&tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o600}, "").
		add(&tar.Header{Typeflag: tar.TypeChar, Name: "gone", Mode: 0o600}, "").
		bytes()
	res, err := sb.unpack(t, data, unpackLimits{})
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if res.Skipped != 2 {
		t.Errorf("skipped %d entries, want 2", res.Skipped)
	}
	for _, n := range []string{"sda", "mem"} {
		if _, err := os.Lstat(filepath.Join(sb.layer, n)); !os.IsNotExist(err) {
			t.Errorf("device %s was created (%v)", n, err)
		}
	}
	if st, err := os.Lstat(filepath.Join(sb.layer, "fifo")); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("fifo: %v %v", st, err)
	}
	assertWhiteout(t, filepath.Join(sb.layer, "gone"))
	sb.assertContained(t)
}

func TestUnpackSizeLimits(t *testing.T) {
	requireRoot(t)
	lim := unpackLimits{MaxSize: 1 << 20, MaxEntries: 10}
	t.Run("huge header", func(t *testing.T) {
		sb := newSandbox(t)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big", Size: 1 << 40, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		buf.WriteString("just a few bytes")
		_, err := sb.unpack(t, buf.Bytes(), lim)
		mustUnsafe(t, err)
		if _, err := os.Stat(filepath.Join(sb.layer, "big")); !os.IsNotExist(err) {
			t.Errorf("oversized file was created: %v", err)
		}
		sb.assertContained(t)
	})
	t.Run("gzip bomb", func(t *testing.T) {
		sb := newSandbox(t)
		data := gzipBytes(t, newTar(t).file("zeros", strings.Repeat("\x00", 4<<20)).bytes())
		if len(data) > 64<<10 {
			t.Fatalf("bomb is %d bytes", len(data))
		}
		_, err := sb.unpack(t, data, lim)
		mustUnsafe(t, err)
		sb.assertContained(t)
	})
	t.Run("many files", func(t *testing.T) {
		sb := newSandbox(t)
		b := newTar(t)
		for i := range 4 {
			b.file(string(rune('a'+i)), strings.Repeat("x", 300<<10))
		}
		_, err := sb.unpack(t, b.bytes(), lim)
		mustUnsafe(t, err)
		sb.assertContained(t)
	})
	t.Run("too many entries", func(t *testing.T) {
		sb := newSandbox(t)
		b := newTar(t)
		for i := range 20 {
			b.dir(string(rune('a' + i)))
		}
		_, err := sb.unpack(t, b.bytes(), lim)
		mustUnsafe(t, err)
		sb.assertContained(t)
	})
}

func assertWhiteout(t *testing.T, p string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("whiteout %s: %v", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Fatalf("%s is not a 0/0 char device (mode %o rdev %d)", p, st.Mode, st.Rdev)
	}
}

func TestUnpackWhiteoutsToOverlayFormat(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	data := newTar(t).
		dir("etc/").
		file("etc/.wh.hosts", "").
		dir("var/cache/").
		file("var/cache/.wh..wh..opq", "").
		file("var/cache/new", "n").
		file(".wh..wh.plnk", "").
		bytes()
	if _, err := sb.unpack(t, data, unpackLimits{}); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	assertWhiteout(t, filepath.Join(sb.layer, "etc/hosts"))
	if _, err := os.Lstat(filepath.Join(sb.layer, "etc/.wh.hosts")); !os.IsNotExist(err) {
		t.Error(".wh.hosts left in the layer")
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(sb.layer, "var/cache"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr = %q, %v", buf[:n], err)
	}
	if _, err := os.Stat(filepath.Join(sb.layer, "var/cache/new")); err != nil {
		t.Errorf("file beside the opaque marker: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(sb.layer, ".wh..wh.plnk")); !os.IsNotExist(err) {
		t.Error("aufs metadata left in the layer")
	}
	sb.assertContained(t)
}

func TestUnpackKeepsMetadata(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	data := newTar(t).
		add(&tar.Header{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o750, Uid: 7, Gid: 8}, "").
		add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/su", Mode: 0o4755, Uid: 0, Gid: 0}, "#!/bin/sh\n").
		add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/app", Mode: 0o2711, Uid: 1000, Gid: 1000,
			PAXRecords: map[string]string{"SCHILY.xattr.user.note": "hi", "SCHILY.xattr.trusted.evil": "x"}}, "app").
		add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/sh", Linkname: "/bin/busybox", Uid: 1000, Gid: 1001}, "").
		link("bin/app2", "bin/app").
		add(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}, "").
		bytes()
	res, err := sb.unpack(t, data, unpackLimits{})
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if res.Size != int64(len(data)) {
		t.Errorf("size %d, want %d", res.Size, len(data))
	}
	check := func(p string, mode fs.FileMode, uid, gid uint32) {
		t.Helper()
		st, err := os.Lstat(filepath.Join(sb.layer, p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode() != mode || sys.Uid != uid || sys.Gid != gid {
			t.Errorf("%s: mode %v uid %d gid %d; want %v %d %d", p, st.Mode(), sys.Uid, sys.Gid, mode, uid, gid)
		}
		if !st.ModTime().Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v", p, st.ModTime(), testTime)
		}
	}
	check("bin", fs.ModeDir|0o750, 7, 8)
	check("bin/su", fs.ModeSetuid|0o755, 0, 0)
	check("bin/app", fs.ModeSetgid|0o711, 1000, 1000)
	check("bin/sh", fs.ModeSymlink|0o777, 1000, 1001)
	check("tmp", fs.ModeDir|fs.ModeSticky|0o777, 0, 0)
	if l, _ := os.Readlink(filepath.Join(sb.layer, "bin/sh")); l != "/bin/busybox" {
		t.Errorf("symlink target %q", l)
	}
	a, _ := os.Stat(filepath.Join(sb.layer, "bin/app"))
	b, _ := os.Stat(filepath.Join(sb.layer, "bin/app2"))
	if !os.SameFile(a, b) {
		t.Error("hard link is not the same inode")
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(sb.layer, "bin/app"), "user.note", buf); err == nil && string(buf[:n]) != "hi" {
		t.Errorf("user xattr = %q", buf[:n])
	}
	if _, err := unix.Lgetxattr(filepath.Join(sb.layer, "bin/app"), "trusted.evil", buf); err == nil {
		t.Error("trusted.* xattr from the archive was applied")
	}
	sb.assertContained(t)
}

func TestUnpackReportsDiffID(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	data := newTar(t).file("a", "1").bytes()
	res, err := sb.unpack(t, gzipBytes(t, data), unpackLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256Digest(data); res.DiffID.String() != want {
		t.Fatalf("diff id %s, want %s", res.DiffID, want)
	}
	var zbuf bytes.Buffer
	zw, err := zstd.NewWriter(&zbuf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sb2 := newSandbox(t)
	res, err = sb2.unpack(t, zbuf.Bytes(), unpackLimits{})
	if err != nil || res.DiffID.String() != sha256Digest(data) {
		t.Fatalf("zstd layer: %v %v", res.DiffID, err)
	}
}

// FuzzUnpack feeds arbitrary bytes to the unpacker: it must never panic nor
// change anything outside the target directory.
func FuzzUnpack(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("needs root (mknod for whiteouts, chown)")
	}
	tb := newTar(f)
	f.Add(tb.symlink("etc", "/").file("etc/passwd", "x").bytes())
	f.Add(newTar(f).symlink("l", "../../outside").file("l/secret", "y").link("h", "l/secret").bytes())
	f.Add(newTar(f).dir("a/").file("a/.wh..wh..opq", "").file("a/.wh.b", "").file("../x", "z").bytes())
	f.Add(gzipBytes(f, newTar(f).file("f", "content").add(&tar.Header{Typeflag: tar.TypeFifo, Name: "p"}, "").bytes()))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sb := newSandbox(t)
		_, _ = sb.unpack(t, data, unpackLimits{MaxSize: 1 << 20, MaxEntries: 1000})
		sb.assertContained(t)
	})
}
