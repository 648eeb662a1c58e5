package engine

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"kedge/api"
)

// withRootfs runs fn with the container's root filesystem mounted (it is
// while the container runs; a stopped container's is mounted for the call).
func (e *Engine) withRootfs(ctx context.Context, ref string, fn func(rootfs string) error) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	rec := c.snapshot()
	dir := e.containerDir(rec.ID)
	rootfs := filepath.Join(dir, "rootfs")
	if !rec.State.Running {
		img, err := e.images.Get(rec.ImageID)
		if err != nil {
			return imageErr(rec.Image, err)
		}
		lowers, err := e.images.LayerDirs(ctx, img)
		if err != nil {
			return err
		}
		if err := mountOverlay(lowers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), rootfs); err != nil {
			return err
		}
		defer unmountRootfs(rootfs)
	}
	return fn(rootfs)
}

// CopyFrom writes a tar stream of path inside the container to w. Symlinks
// are archived as links, never followed out of the container.
func (e *Engine) CopyFrom(ctx context.Context, ref, p string, w io.Writer) error {
	return e.withRootfs(ctx, ref, func(rootfs string) error {
		src, err := securejoin.SecureJoin(rootfs, p)
		if err != nil {
			return fmt.Errorf("cp %s: %w", p, err)
		}
		if _, err := os.Lstat(src); err != nil {
			return fmt.Errorf("cp: no such path in the container: %s: %w", p, api.ErrNotFound)
		}
		tw := tar.NewWriter(w)
		base := path.Base(path.Clean("/" + p))
		err = filepath.WalkDir(src, func(file string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rel, _ := filepath.Rel(src, file)
			name := path.Join(base, filepath.ToSlash(rel))
			info, err := os.Lstat(file)
			if err != nil {
				return err
			}
			link := ""
			if info.Mode()&fs.ModeSymlink != 0 {
				link, _ = os.Readlink(file)
			}
			hdr, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return nil // sockets and the like are skipped
			}
			hdr.Name = name
			if info.IsDir() {
				hdr.Name += "/"
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if info.Mode().IsRegular() {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				_, err = io.Copy(tw, f)
				f.Close()
				return err
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("cp %s: %w", p, err)
		}
		return tw.Close()
	})
}

// CopyTo extracts a tar stream into dir inside the container. Every path is
// resolved inside the container's root, so `..`, absolute names and symlinks
// in the container cannot lead the write out of it.
func (e *Engine) CopyTo(ctx context.Context, ref, dir string, r io.Reader) error {
	return e.withRootfs(ctx, ref, func(rootfs string) error {
		tr := tar.NewReader(r)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("cp: read archive: %v: %w", err, api.ErrInvalid)
			}
			name := path.Clean("/" + strings.TrimPrefix(hdr.Name, "./"))
			target := path.Join(dir, name)
			if err := extractEntry(rootfs, target, hdr, tr); err != nil {
				return fmt.Errorf("cp %s: %w", hdr.Name, err)
			}
		}
	})
}
