//go:build linux

package image

// The unpacker turns one layer tar (hostile input) into a directory that
// overlayfs can use as a lowerdir. Its rules:
//
//   - every path is resolved inside the target dir (openat2 RESOLVE_IN_ROOT
//     through filepath-securejoin): a symlink "etc -> /" followed by
//     "etc/passwd" writes <dir>/passwd, never /etc/passwd;
//   - entry names with ".." are refused; absolute names are made relative;
//   - the last component is always created by us with *at calls and
//     O_NOFOLLOW/O_EXCL (an existing entry is removed first), so nothing is
//     ever written through a symlink or an existing hard link;
//   - hard link sources are looked up inside the dir; links to directories fail;
//   - whiteouts become overlay whiteouts: ".wh.NAME" a 0/0 char device,
//     ".wh..wh..opq" the trusted.overlay.opaque=y xattr on the directory;
//   - block and char devices (other than 0/0 whiteouts) are skipped;
//     fifos are kept;
//   - the uncompressed stream, the bytes written and the entry count are
//     bounded, and writes stop before the filesystem runs out of space;
//   - the digest of the uncompressed stream is returned (the diff id).

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// unpacker holds the state of one layer extraction.
type unpacker struct {
	root    *os.File
	lim     unpackLimits
	budget  int64 // bytes that may still be written
	entries int
	res     unpackResult
	isRoot  bool

	// The parent directory handle of the previous entry, reused while
	// entries stay in the same directory. Entries in a directory D only
	// create or remove children of D, which cannot change what D resolves
	// to; anything that could (an entry for D or an ancestor) has a
	// different parent and so misses the cache.
	cacheDir string
	cacheFd  *os.File

	dirTimes []dirTime
}

type dirTime struct {
	name  string
	mtime time.Time
	atime time.Time
}

// unpackLayer extracts the tar stream r (plain, gzip or zstd) into dir, which
// must exist. It never creates or changes anything outside dir.
func unpackLayer(ctx context.Context, r io.Reader, dir string, lim unpackLimits) (unpackResult, error) {
	if lim.MaxSize <= 0 {
		lim.MaxSize = DefaultMaxLayerSize
	}
	if lim.MaxEntries <= 0 {
		lim.MaxEntries = DefaultMaxLayerEntries
	}
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return unpackResult{}, fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	free := freeSpace(dir) - diskReserve
	u := &unpacker{root: root, lim: lim, budget: min(lim.MaxSize, free), isRoot: os.Geteuid() == 0}
	defer u.dropCache()

	dec, err := decompress(r)
	if err != nil {
		return unpackResult{}, fmt.Errorf("unpack: %w", err)
	}
	defer dec.Close()
	h := sha256.New()
	cr := &limitedCounter{r: io.TeeReader(ctxReader{ctx, dec}, h), max: lim.MaxSize}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return u.res, fmt.Errorf("unpack: read tar: %w", err)
		}
		u.entries++
		if u.entries > lim.MaxEntries {
			return u.res, fmt.Errorf("unpack: more than %d entries: %w", lim.MaxEntries, ErrUnsafeLayer)
		}
		if err := u.entry(hdr, tr); err != nil {
			return u.res, fmt.Errorf("unpack %q: %w", hdr.Name, err)
		}
	}
	// The diff id covers the whole stream, including the end-of-archive padding.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return u.res, fmt.Errorf("unpack: read tar: %w", err)
	}
	u.dropCache()
	u.applyDirTimes()
	u.res.Size = cr.n
	u.res.DiffID = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	return u.res, nil
}

// limitedCounter counts bytes read and fails past max.
type limitedCounter struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limitedCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n, fmt.Errorf("uncompressed layer larger than %d bytes: %w", l.max, ErrUnsafeLayer)
	}
	return n, err
}

// cleanEntryName makes a tar name relative and clean, refusing "..".
func cleanEntryName(n string) (string, error) {
	if strings.ContainsRune(n, 0) {
		return "", fmt.Errorf("name contains NUL: %w", ErrUnsafeLayer)
	}
	rel := strings.TrimLeft(n, "/")
	for _, p := range strings.Split(rel, "/") {
		if p == ".." {
			return "", fmt.Errorf("path %q escapes the layer: %w", n, ErrUnsafeLayer)
		}
	}
	c := path.Clean(rel)
	if c == "" {
		c = "."
	}
	return c, nil
}

// parent returns a handle of the directory part of name, created inside the
// root if missing.
func (u *unpacker) parent(dir string) (*os.File, error) {
	if u.cacheFd != nil && u.cacheDir == dir {
		return u.cacheFd, nil
	}
	u.dropCache()
	f, err := pathrs.MkdirAllHandle(u.root, dir, 0o755)
	if err != nil {
		return nil, fmt.Errorf("parent directory %q: %w", dir, err)
	}
	u.cacheDir, u.cacheFd = dir, f
	return f, nil
}

func (u *unpacker) dropCache() {
	if u.cacheFd != nil {
		_ = u.cacheFd.Close()
	}
	u.cacheFd, u.cacheDir = nil, ""
}

// entry applies one tar entry.
func (u *unpacker) entry(hdr *tar.Header, body io.Reader) error {
	name, err := cleanEntryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the layer root: its attributes belong to the mount, not the layer
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	if strings.HasPrefix(base, ".wh.") {
		return u.whiteout(dir, base)
	}
	parent, err := u.parent(dir)
	if err != nil {
		return err
	}
	pfd := int(parent.Fd())
	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		exists, err := u.removeExisting(pfd, base, true)
		if err != nil {
			return err
		}
		if !exists {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return fmt.Errorf("mkdir: %w", err)
			}
		}
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open dir: %w", err)
		}
		err = u.fdAttrs(fd, hdr, mode)
		_ = unix.Close(fd)
		u.dirTimes = append(u.dirTimes, dirTime{name: name, mtime: hdr.ModTime, atime: hdr.AccessTime})
		return err
	case tar.TypeReg, tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeSymlink, tar.TypeLink, tar.TypeGNUSparse:
	default:
		u.res.Skipped++ // pax/GNU metadata types the reader did not fold in, contiguous files ...
		return nil
	}
	if _, err := u.removeExisting(pfd, base, false); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
		return u.regular(pfd, base, hdr, mode, body)
	case tar.TypeSymlink:
		if strings.ContainsRune(hdr.Linkname, 0) || hdr.Linkname == "" {
			return fmt.Errorf("bad symlink target: %w", ErrUnsafeLayer)
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		if err := u.chownAt(pfd, base, hdr); err != nil {
			return err
		}
		return u.timesAt(pfd, base, hdr)
	case tar.TypeLink:
		return u.hardlink(pfd, base, name, hdr)
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return fmt.Errorf("mkfifo: %w", err)
		}
		if err := u.chownAt(pfd, base, hdr); err != nil {
			return err
		}
		// base is the fifo just made under a handle no one else writes to.
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		return u.timesAt(pfd, base, hdr)
	case tar.TypeChar:
		if hdr.Devmajor == 0 && hdr.Devminor == 0 {
			return u.mkWhiteout(pfd, base)
		}
		u.res.Skipped++
		return nil
	default: // tar.TypeBlock
		u.res.Skipped++
		return nil
	}
}

// regular writes a regular file.
func (u *unpacker) regular(pfd int, base string, hdr *tar.Header, mode uint32, body io.Reader) error {
	if hdr.Size < 0 || hdr.Size > u.budget {
		return fmt.Errorf("file of %d bytes exceeds the layer's remaining size or disk budget (%d bytes): %w", hdr.Size, u.budget, ErrUnsafeLayer)
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	n, err := copySparse(f, io.LimitReader(body, hdr.Size))
	u.budget -= n
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := u.fdAttrs(fd, hdr, mode); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return u.timesAt(pfd, base, hdr)
}

// hardlink links base to the entry named by hdr.Linkname, looked up inside the root.
func (u *unpacker) hardlink(pfd int, base, name string, hdr *tar.Header) error {
	target, err := cleanEntryName(hdr.Linkname)
	if err != nil {
		return err
	}
	if target == "." || target == name {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, ErrUnsafeLayer)
	}
	tdir, tbase := path.Split(target)
	tdir = strings.TrimSuffix(tdir, "/")
	if tdir == "" {
		tdir = "."
	}
	src, err := pathrs.OpenatInRoot(u.root, tdir)
	if err != nil {
		return fmt.Errorf("hard link source %q: %w", hdr.Linkname, err)
	}
	defer src.Close()
	if err := unix.Linkat(int(src.Fd()), tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// whiteout records a deletion in overlay form.
func (u *unpacker) whiteout(dir, base string) error {
	parent, err := u.parent(dir)
	if err != nil {
		return err
	}
	if base == ".wh..wh..opq" {
		if err := unix.Fsetxattr(int(parent.Fd()), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("mark %q opaque: %w", dir, err)
		}
		return nil
	}
	if strings.HasPrefix(base, ".wh..wh.") {
		u.res.Skipped++ // aufs metadata (.wh..wh.plnk, .wh..wh.aufs)
		return nil
	}
	victim := strings.TrimPrefix(base, ".wh.")
	if victim == "" || victim == "." {
		return fmt.Errorf("bad whiteout name %q: %w", base, ErrUnsafeLayer)
	}
	if _, err := u.removeExisting(int(parent.Fd()), victim, false); err != nil {
		return err
	}
	return u.mkWhiteout(int(parent.Fd()), victim)
}

func (u *unpacker) mkWhiteout(pfd int, name string) error {
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %q: %w", name, err)
	}
	return nil
}

// removeExisting removes what is at base (recursively for directories),
// except a directory when keepDir. It reports whether a directory was kept.
func (u *unpacker) removeExisting(pfd int, base string, keepDir bool) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat: %w", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return true, nil
		}
		return false, removeAllAt(pfd, base, 0)
	}
	if err := unix.Unlinkat(pfd, base, 0); err != nil {
		return false, fmt.Errorf("replace: %w", err)
	}
	return false, nil
}

// removeAllAt removes the directory base under pfd and everything in it,
// never following symlinks.
func removeAllAt(pfd int, base string, depth int) error {
	if depth > 4096 {
		return fmt.Errorf("remove %q: too deep", base)
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %q: %w", base, err)
	}
	d := os.NewFile(uintptr(fd), base)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("remove %q: %w", base, err)
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("remove %q: %w", n, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := removeAllAt(fd, n, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := unix.Unlinkat(fd, n, 0); err != nil {
			return fmt.Errorf("remove %q: %w", n, err)
		}
	}
	if err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR); err != nil {
		return fmt.Errorf("remove %q: %w", base, err)
	}
	return nil
}

// fdAttrs sets owner, mode (after chown, which clears setuid bits) and
// allowed xattrs on an open file or directory.
func (u *unpacker) fdAttrs(fd int, hdr *tar.Header, mode uint32) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil && u.isRoot {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || !(attr == "security.capability" || strings.HasPrefix(attr, "user.")) {
			continue
		}
		if err := unix.Fsetxattr(fd, attr, []byte(v), 0); err != nil && u.isRoot {
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	return nil
}

func (u *unpacker) chownAt(pfd int, base string, hdr *tar.Header) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && u.isRoot {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

func (u *unpacker) timesAt(pfd int, base string, hdr *tar.Header) error {
	return utimesAt(pfd, base, hdr.AccessTime, hdr.ModTime)
}

func utimesAt(pfd int, base string, atime, mtime time.Time) error {
	if atime.IsZero() {
		atime = mtime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if mtime.IsZero() || mtime.Unix() < 0 {
		ts[0], ts[1] = unix.Timespec{}, unix.Timespec{}
	}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// applyDirTimes sets directory times last, since writing children changes them.
func (u *unpacker) applyDirTimes() {
	for i := len(u.dirTimes) - 1; i >= 0; i-- {
		dt := u.dirTimes[i]
		dir, base := path.Split(dt.name)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			dir = "."
		}
		p, err := pathrs.OpenatInRoot(u.root, dir)
		if err != nil {
			continue // replaced later in the layer
		}
		_ = utimesAt(int(p.Fd()), base, dt.atime, dt.mtime)
		_ = p.Close()
	}
}

// copySparse copies r to f, leaving holes where whole blocks are zero (so a
// sparse or zero-filled file takes no disk space), and returns the length.
func copySparse(f *os.File, r io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	holeAtEnd := false
	for {
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			chunk := buf[:m]
			if allZero(chunk) {
				if _, serr := f.Seek(int64(m), io.SeekCurrent); serr != nil {
					return n, serr
				}
				holeAtEnd = true
			} else {
				if _, werr := f.Write(chunk); werr != nil {
					return n, werr
				}
				holeAtEnd = false
			}
			n += int64(m)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if holeAtEnd {
		if err := f.Truncate(n); err != nil {
			return n, err
		}
	}
	return n, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
