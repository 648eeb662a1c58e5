package cli

// `cp`: copy files between a container and the local machine as tar
// streams (CopyFrom / CopyTo). Extraction on this side refuses entries that
// would land outside the destination (.., absolute names, paths through
// symlinks).

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func cpCommand() *cli.Command {
	return &cli.Command{
		Name: "cp", Usage: "Copy files between a container and the local filesystem",
		ArgsUsage: "CONTAINER:SRC_PATH DEST_PATH|-  or  SRC_PATH|- CONTAINER:DEST_PATH",
		Action:    cpAction,
	}
}

// copyArg is one side of `cp`: a container path, a local path, or "-".
type copyArg struct {
	container string // empty: local
	path      string
}

// parseCopyArg splits "CTR:PATH"; a local path with a colon must start with
// "/" or "." (as with Docker).
func parseCopyArg(arg string) copyArg {
	if arg == "-" || strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return copyArg{path: arg}
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || ctr == "" {
		return copyArg{path: arg}
	}
	return copyArg{container: ctr, path: p}
}

func cpAction(c *cli.Context) error {
	if err := requireExactArgs(c, 2, "2 arguments (SRC DEST)"); err != nil {
		return err
	}
	src, dst := parseCopyArg(c.Args().Get(0)), parseCopyArg(c.Args().Get(1))
	switch {
	case src.container != "" && dst.container != "":
		return usagef(c, "copying between containers is not supported")
	case src.container == "" && dst.container == "":
		return usagef(c, "one of SRC and DEST must be CONTAINER:PATH")
	case src.container != "" && src.path == "", dst.container != "" && dst.path == "":
		return usagef(c, "the container path must not be empty")
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	if src.container != "" {
		rc, err := cl.CopyFrom(c.Context, src.container, src.path)
		if err != nil {
			return fmt.Errorf("copy from %s:%s: %w", src.container, src.path, err)
		}
		defer rc.Close()
		if dst.path == "-" {
			_, err = io.Copy(c.App.Writer, rc)
			return err
		}
		if err := extractTar(rc, dst.path); err != nil {
			return fmt.Errorf("copy from %s:%s to %s: %w", src.container, src.path, dst.path, err)
		}
		return nil
	}
	if src.path == "-" {
		if err := cl.CopyTo(c.Context, dst.container, dst.path, c.App.Reader); err != nil {
			return fmt.Errorf("copy to %s:%s: %w", dst.container, dst.path, err)
		}
		return nil
	}
	dir, name, err := copyTarget(c, cl, dst, filepath.Base(filepath.Clean(src.path)))
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeTar(pw, src.path, name)
		_ = pw.CloseWithError(err)
		done <- err
	}()
	err = cl.CopyTo(c.Context, dst.container, dir, pr)
	_ = pr.CloseWithError(errors.New("copy ended"))
	if terr := <-done; terr != nil && !errors.Is(terr, io.ErrClosedPipe) {
		return fmt.Errorf("copy %s: %w", src.path, terr)
	}
	if err != nil {
		return fmt.Errorf("copy to %s:%s: %w", dst.container, dst.path, err)
	}
	return nil
}

// copyTarget decides where a local file goes in the container, as Docker
// does: into the destination when it is an existing directory (or ends in
// "/"), else under the destination's name. The API has no stat, so an
// existing destination is detected by reading the first header of its archive.
func copyTarget(c *cli.Context, cl *api.Client, dst copyArg, srcBase string) (dir, name string, err error) {
	if strings.HasSuffix(dst.path, "/") || dst.path == "." {
		return dst.path, srcBase, nil
	}
	clean := path.Clean(dst.path)
	rc, err := cl.CopyFrom(c.Context, dst.container, clean)
	if err == nil {
		hdr, herr := tar.NewReader(rc).Next()
		rc.Close()
		if herr == nil && hdr.Typeflag == tar.TypeDir {
			return clean, srcBase, nil
		}
	} else if !errors.Is(err, api.ErrNotFound) {
		return "", "", fmt.Errorf("look at %s:%s: %w", dst.container, dst.path, err)
	}
	return path.Dir(clean), path.Base(clean), nil
}

// writeTar writes src (a file or a directory tree) as a tar stream whose
// top entry is named name.
func writeTar(w io.Writer, src, name string) error {
	tw := tar.NewWriter(w)
	root := filepath.Clean(src)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = path.Join(name, filepath.ToSlash(rel))
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// extractTar extracts a container's archive to dst: into dst when it is an
// existing directory, else as dst itself (the archive's top entry renamed).
func extractTar(r io.Reader, dst string) error {
	dst = filepath.Clean(dst)
	into := false
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		into = true
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		rel, err := archiveRelPath(hdr.Name, into)
		if err != nil {
			return err
		}
		var target string
		if into {
			target, err = safeJoin(dst, rel)
		} else {
			target, err = safeJoin(filepath.Dir(dst), filepath.Join(filepath.Base(dst), rel))
		}
		if err != nil {
			return err
		}
		if err := extractEntry(tr, hdr, target, dst, into); err != nil {
			return err
		}
	}
}

// archiveRelPath is an entry's path relative to the destination: all of it
// when extracting into a directory, without its first element otherwise.
// Absolute names and ".." elements are refused.
func archiveRelPath(name string, into bool) (string, error) {
	clean := path.Clean("/" + strings.TrimPrefix(name, "./"))
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("archive entry %q: leaves the destination: %w", name, api.ErrInvalid)
		}
	}
	rel := strings.TrimPrefix(clean, "/")
	if into {
		return filepath.FromSlash(rel), nil
	}
	_, rest, _ := strings.Cut(rel, "/")
	return filepath.FromSlash(rest), nil
}

// safeJoin joins root and rel, refusing a result outside root or one whose
// existing parent directories include a symlink (which could point anywhere).
func safeJoin(root, rel string) (string, error) {
	target := filepath.Join(root, rel)
	r, err := filepath.Rel(root, target)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("archive entry %q: leaves the destination: %w", rel, api.ErrInvalid)
	}
	if r == "." {
		return target, nil
	}
	cur := root
	parts := strings.Split(r, string(filepath.Separator))
	for _, p := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("archive entry %q: goes through the symlink %s: %w", rel, cur, api.ErrInvalid)
		}
	}
	return target, nil
}

// extractEntry writes one entry at target.
func extractEntry(tr *tar.Reader, hdr *tar.Header, target, dst string, into bool) error {
	mode := fs.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		return os.Chmod(target, mode|0o700)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if fi, err := os.Lstat(target); err == nil && !fi.Mode().IsRegular() {
			if err := os.Remove(target); err != nil {
				return err
			}
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		_ = os.Chtimes(target, hdr.ModTime, hdr.ModTime)
		return nil
	case tar.TypeSymlink:
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		_ = os.Remove(target)
		return os.Symlink(hdr.Linkname, target)
	case tar.TypeLink:
		rel, err := archiveRelPath(hdr.Linkname, into)
		if err != nil {
			return err
		}
		var old string
		if into {
			old, err = safeJoin(dst, rel)
		} else {
			old, err = safeJoin(filepath.Dir(dst), filepath.Join(filepath.Base(dst), rel))
		}
		if err != nil {
			return err
		}
		_ = os.Remove(target)
		return os.Link(old, target)
	}
	return nil // devices, fifos: skipped on this side
}
