//go:build linux

package testimage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"kedge/engine/image"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func newStore(t *testing.T) *image.Store {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (the image store unpacks with chown and mknod)")
	}
	s, err := image.Open(t.TempDir(), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestBusyboxImageRuns(t *testing.T) {
	s := newStore(t)
	img := BusyboxInto(t, s, "", nil)
	if !slices.Equal(img.RepoTags, []string{Ref}) || !slices.Equal(img.Config.Config.Cmd, []string{"sh"}) {
		t.Fatalf("image %+v", img)
	}
	dirs, err := s.LayerDirs(context.Background(), img)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("layer dirs %v %v", dirs, err)
	}
	root := dirs[0]
	st, err := os.Stat(filepath.Join(root, "tmp"))
	if err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v %v", st, err)
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/sh")); l != "busybox" {
		t.Errorf("/bin/sh -> %q", l)
	}
	// Run the image's shell in a chroot of the layer: user database and applets work.
	cmd := exec.Command("/bin/sh", "-c", "id app; grep -c . /etc/passwd; ls /bin/ls")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = DefaultEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh in the image: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "uid=1000(app) gid=1000(app) groups=1000(app),50(staff)") ||
		!strings.Contains(string(out), "/bin/ls") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}

func TestBusyboxIntoDerived(t *testing.T) {
	s := newStore(t)
	extra := TarLayer(t, map[string]string{"app/run.sh": "#!/bin/sh\necho ok\n", "app/data/": ""})
	img := BusyboxInto(t, s, "example.com/app:1", func(c *ocispec.ImageConfig) {
		c.Cmd = []string{"/app/run.sh"}
		c.User = "app"
	}, extra)
	if img.Config.Config.User != "app" || img.Config.Config.Cmd[0] != "/app/run.sh" {
		t.Fatalf("config %+v", img.Config.Config)
	}
	dirs, err := s.LayerDirs(context.Background(), img)
	if err != nil || len(dirs) != 2 {
		t.Fatalf("layer dirs %v %v", dirs, err)
	}
	base, err := s.Get(Ref)
	if err != nil {
		t.Fatal(err)
	}
	baseDirs, _ := s.LayerDirs(context.Background(), base)
	if baseDirs[0] != dirs[0] {
		t.Errorf("derived image does not share the busybox layer: %v vs %v", baseDirs, dirs)
	}
	st, err := os.Stat(filepath.Join(dirs[1], "app/run.sh"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("run.sh: %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(dirs[1], "app/data")); err != nil || !st.IsDir() {
		t.Errorf("app/data: %v %v", st, err)
	}
}
