package cli

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestParseCopyArg(t *testing.T) {
	tests := []struct {
		in   string
		want copyArg
	}{
		{"web:/etc/hosts", copyArg{container: "web", path: "/etc/hosts"}},
		{"web:relative", copyArg{container: "web", path: "relative"}},
		{"/abs/a:b", copyArg{path: "/abs/a:b"}},
		{"./a:b", copyArg{path: "./a:b"}},
		{"-", copyArg{path: "-"}},
		{"plain", copyArg{path: "plain"}},
		{":x", copyArg{path: ":x"}},
	}
	for _, tt := range tests {
		if got := parseCopyArg(tt.in); got != tt.want {
			t.Errorf("parseCopyArg(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func tarOf(t *testing.T, entries ...*tar.Header) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "data of " + h.Name
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(tw, body)
	}
	_ = tw.Close()
	return &buf
}

func TestExtractTar(t *testing.T) {
	dir := t.TempDir()
	// Into an existing directory: entries keep their names.
	err := extractTar(tarOf(t,
		&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "etc/hosts", Typeflag: tar.TypeReg},
		&tar.Header{Name: "etc/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		&tar.Header{Name: "etc/hard", Typeflag: tar.TypeLink, Linkname: "etc/hosts"},
	), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "hosts")); err != nil || string(b) != "data of etc/hosts" {
		t.Errorf("etc/hosts = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "hard")); err != nil || string(b) != "data of etc/hosts" {
		t.Errorf("hard link = %q, %v", b, err)
	}
	// To a new name: the top entry is renamed.
	if err := extractTar(tarOf(t, &tar.Header{Name: "hosts", Typeflag: tar.TypeReg}), filepath.Join(dir, "copy")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "copy")); err != nil || string(b) != "data of hosts" {
		t.Errorf("renamed copy = %q, %v", b, err)
	}
	// Hostile archives.
	outside := filepath.Join(filepath.Dir(dir), "evil-"+filepath.Base(dir))
	for name, entries := range map[string][]*tar.Header{
		"dotdot":   {{Name: "../evil-" + filepath.Base(dir), Typeflag: tar.TypeReg}},
		"deep":     {{Name: "a/../../x", Typeflag: tar.TypeReg}},
		"symlink":  {{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: filepath.Dir(dir)}, {Name: "esc/evil-" + filepath.Base(dir), Typeflag: tar.TypeReg}},
		"hardlink": {{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}},
	} {
		if err := extractTar(tarOf(t, entries...), dir); err == nil {
			t.Errorf("%s: a hostile archive was extracted", name)
		}
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Errorf("a file was written outside the destination: %s", outside)
	}
	// An absolute name lands inside the destination.
	if err := extractTar(tarOf(t, &tar.Header{Name: "/abs", Typeflag: tar.TypeReg}), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "abs")); err != nil {
		t.Errorf("absolute entry: %v", err)
	}
}

func TestWriteTarRoundTrip(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "f"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, src, "app"); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := extractTar(&buf, dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "app", "sub", "f"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("round trip: %v, %v", fi, err)
	}
}

func TestCopyBothWays(t *testing.T) {
	fa := newFakeAgent(t)
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("hello container"), 0o640); err != nil {
		t.Fatal(err)
	}
	// Local -> container, to a path that does not exist there yet: renamed.
	if code, _, stderr := run(t, "", "-H", fa.host, "cp", src, "web:/srv/renamed.txt"); code != 0 {
		t.Fatalf("cp to container: exit %d, %q", code, stderr)
	}
	fa.mu.Lock()
	dir, archive := fa.archiveDir, fa.archive
	fa.mu.Unlock()
	hdr, err := tar.NewReader(bytes.NewReader(archive)).Next()
	if err != nil || dir != "/srv" || hdr.Name != "renamed.txt" || hdr.Mode&0o777 != 0o640 {
		t.Errorf("cp sent dir %q, entry %+v, %v", dir, hdr, err)
	}
	// Container -> local: the archive the container holds comes back.
	dst := t.TempDir()
	if code, _, stderr := run(t, "", "-H", fa.host, "cp", "web:/srv/renamed.txt", dst); code != 0 {
		t.Fatalf("cp from container: exit %d, %q", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "renamed.txt")); err != nil || string(b) != "hello container" {
		t.Errorf("copied back: %q, %v", b, err)
	}
	// To stdout as a tar stream.
	code, stdout, _ := run(t, "", "-H", fa.host, "cp", "web:/srv/renamed.txt", "-")
	if code != 0 || !bytes.Equal([]byte(stdout), archive) {
		t.Errorf("cp to -: exit %d, %d bytes", code, len(stdout))
	}
}
