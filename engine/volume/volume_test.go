package volume

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"kedge/api"
)

func TestCreateIsIdempotentAndValidates(t *testing.T) {
	m, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, created, err := m.Create("data", map[string]string{"a": "b"}, false)
	if err != nil || !created {
		t.Fatalf("Create = %v %v", created, err)
	}
	if _, created, err := m.Create("data", nil, false); err != nil || created {
		t.Fatalf("second Create = %v %v, want existing", created, err)
	}
	if _, err := os.Stat(v.Mountpoint); err != nil {
		t.Fatalf("mountpoint: %v", err)
	}
	for _, bad := range []string{"", "../x", "a/b", "-x", ".x"} {
		if _, _, err := m.Create(bad, nil, false); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("Create(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := m.Get("nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Get(nope) = %v", err)
	}
	list, _ := m.List()
	if len(list) != 1 || list[0].Name != "data" || list[0].Labels["a"] != "b" {
		t.Fatalf("List = %+v", list)
	}
	if err := m.Remove("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(v.Mountpoint); !os.IsNotExist(err) {
		t.Fatalf("data left after Remove: %v", err)
	}
}

func TestClaimFillOnlyOnceAndOnlyEmpty(t *testing.T) {
	m, _ := New(t.TempDir())
	m.Create("v", nil, false)
	if ok, err := m.ClaimFill("v"); !ok || err != nil {
		t.Fatalf("first ClaimFill = %v %v", ok, err)
	}
	if ok, _ := m.ClaimFill("v"); ok {
		t.Fatal("second ClaimFill should not fill again")
	}
	m.Create("w", nil, false)
	os.WriteFile(filepath.Join(m.DataPath("w"), "f"), []byte("x"), 0o644)
	if ok, _ := m.ClaimFill("w"); ok {
		t.Fatal("a volume with content must not be filled")
	}
}

func TestCopyTreeKeepsModesLinksAndOwners(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(src, "d"), 0o750)
	os.WriteFile(filepath.Join(src, "d", "f"), []byte("hello"), 0o640)
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	if os.Geteuid() == 0 {
		os.Lchown(filepath.Join(src, "d", "f"), 1000, 1000)
	}
	if err := CopyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "d", "f"))
	if err != nil || string(b) != "hello" {
		t.Fatalf("copied file = %q %v", b, err)
	}
	fi, _ := os.Stat(filepath.Join(dst, "d", "f"))
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode = %v", fi.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(dst, "link")); l != "/etc/passwd" {
		t.Fatalf("symlink = %q (must be copied, not followed)", l)
	}
}
