package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Polling bounds of Follow: a follower checks quickly after new output and
// backs off while the log is idle.
const (
	followMinPoll = 10 * time.Millisecond
	followMaxPoll = 200 * time.Millisecond
)

// maxEncodedLine bounds one encoded entry; a longer run without a newline is
// garbage (a writer emits at most MaxLineSize bytes of text, at most six bytes
// of JSON each) and is skipped.
const maxEncodedLine = 6*MaxLineSize + 4096

// maxRotated bounds the search for rotated files.
const maxRotated = 1000

// errStop ends a read early without an error (Until passed).
var errStop = errors.New("stop")

// Read calls fn for each selected entry of the log at path, oldest first,
// including rotated files (path.1, path.2, ...). Lines that are not valid
// entries are skipped, as is an unfinished last line (a writer is mid-write;
// with Follow it is returned once complete). Tail counts lines before Since
// and Until filter them, as Docker does. A missing log reads as empty.
//
// Read returns fn's error if fn fails, ctx's error if ctx ends before a
// non-following read is done, and nil when a Follow ends because ctx ended
// or Done was closed.
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Entry) error) error {
	r := &reader{path: path, opts: opts, fn: fn}
	err := r.run(ctx)
	r.closeAll()
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

type reader struct {
	path  string
	opts  ReadOptions
	fn    func(Entry) error
	files []*fileReader // oldest first; the last is the live file when open
	live  *fileReader
	buf   []byte
}

func (r *reader) closeAll() {
	for _, f := range r.files {
		f.f.Close()
	}
	if r.live != nil && !r.contains(r.live) {
		r.live.f.Close()
	}
}

func (r *reader) contains(fr *fileReader) bool {
	for _, f := range r.files {
		if f == fr {
			return true
		}
	}
	return false
}

func (r *reader) run(ctx context.Context) error {
	if err := r.openAll(); err != nil {
		return err
	}
	if r.opts.Tail >= 0 {
		if err := r.seekTail(r.opts.Tail); err != nil {
			return err
		}
	}
	for _, f := range r.files {
		if err := r.drain(ctx, f); err != nil {
			return err
		}
	}
	if !r.opts.Follow {
		return nil
	}
	// Following needs only the live file.
	for _, f := range r.files {
		if f != r.live {
			f.f.Close()
		}
	}
	r.files = nil
	return r.follow(ctx)
}

// openAll opens the live file first and then the rotated ones, so that a
// rotation in between shows up as the same file twice, which is dropped.
func (r *reader) openAll() error {
	var newestFirst []*fileReader
	live, err := openLog(r.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if live != nil {
		newestFirst = append(newestFirst, live)
		r.live = live
	}
	for i := 1; i < maxRotated; i++ {
		fr, err := openLog(rotatedName(r.path, i))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			for _, f := range newestFirst {
				f.f.Close()
			}
			return err
		}
		if dup(newestFirst, fr) {
			fr.f.Close()
			continue
		}
		newestFirst = append(newestFirst, fr)
	}
	for i := len(newestFirst) - 1; i >= 0; i-- {
		r.files = append(r.files, newestFirst[i])
	}
	return nil
}

func dup(list []*fileReader, fr *fileReader) bool {
	for _, f := range list {
		if os.SameFile(f.info, fr.info) {
			return true
		}
	}
	return false
}

// seekTail positions the files so that only the last n complete lines remain.
func (r *reader) seekTail(n int) error {
	for i := len(r.files) - 1; i >= 0; i-- {
		f := r.files[i]
		if n == 0 {
			f.off = f.info.Size()
			continue
		}
		start, found, err := tailStart(f.f, f.info.Size(), n)
		if err != nil {
			return fmt.Errorf("tail log %s: %w", f.name, err)
		}
		f.off = start
		n -= found
	}
	return nil
}

// drain emits every complete entry of f from its offset to its current end.
func (r *reader) drain(ctx context.Context, f *fileReader) error {
	if r.buf == nil {
		r.buf = make([]byte, 32*1024)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.f.ReadAt(r.buf, f.off)
		if n > 0 {
			f.off += int64(n)
			if perr := f.feed(r.buf[:n], r.emit); perr != nil {
				return perr
			}
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log %s: %w", f.name, err)
		}
	}
}

func (r *reader) emit(line []byte) error {
	var e Entry
	if len(line) == 0 || json.Unmarshal(line, &e) != nil {
		return nil // not an entry: skip
	}
	if !r.opts.Since.IsZero() && e.Time.Before(r.opts.Since) {
		return nil
	}
	if !r.opts.Until.IsZero() && e.Time.After(r.opts.Until) {
		return errStop
	}
	return r.fn(e)
}

// follow reads the live file as it grows, moving to the new live file when
// the writer rotates, until ctx ends or Done is closed (then after a last
// drain).
func (r *reader) follow(ctx context.Context) error {
	wait := followMinPoll
	timer := time.NewTimer(wait)
	defer timer.Stop()
	final := false
	for {
		grew := false
		if r.live != nil {
			before := r.live.off
			if err := r.drain(ctx, r.live); err != nil {
				return r.followErr(err)
			}
			grew = r.live.off != before
		}
		switched, err := r.checkRotation(ctx)
		if err != nil {
			return r.followErr(err)
		}
		if switched {
			wait = followMinPoll
			continue
		}
		if final || (!r.opts.Until.IsZero() && time.Now().After(r.opts.Until)) {
			return nil // Done, or nothing later than Until can come
		}
		if grew {
			wait = followMinPoll
		} else {
			wait = min(wait*2, followMaxPoll)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-r.opts.Done:
			final = true
			r.opts.Done = nil
		case <-timer.C:
		}
	}
}

func (r *reader) followErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// checkRotation notices a new live file (or a truncated one) and switches to
// it, after reading what the old live file and any rotated file written since
// still hold.
func (r *reader) checkRotation(ctx context.Context) (bool, error) {
	st, err := os.Stat(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // mid-rotation or not created yet
	}
	if err != nil {
		return false, fmt.Errorf("stat log %s: %w", r.path, err)
	}
	if r.live != nil && os.SameFile(st, r.live.info) {
		if st.Size() < r.live.off { // truncated in place (one file kept)
			r.live.off, r.live.pend, r.live.skipping = 0, r.live.pend[:0], false
			return true, nil
		}
		return false, nil
	}
	// Open the new live file before looking for the rotated ones, so that
	// everything between the old and the new live file is found.
	live, err := openLog(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if r.live != nil {
		if err := r.drain(ctx, r.live); err != nil {
			live.f.Close()
			return false, err
		}
		if err := r.readMissed(ctx, live); err != nil {
			live.f.Close()
			return false, err
		}
		if !r.contains(r.live) {
			r.live.f.Close()
		}
	}
	r.live = live
	return true, nil
}

// readMissed reads the files rotated after the old live file and before the
// new one (live), which a follower polling slower than the rotation skipped.
// Scanning path.1, path.2, ... goes from newer to older; files seen before the
// new live file are newer than it (it was rotated meanwhile) and are left for
// later; the scan ends at the old live file.
func (r *reader) readMissed(ctx context.Context, live *fileReader) error {
	var missed []*fileReader // newest first
	defer func() {
		for _, fr := range missed {
			fr.f.Close()
		}
	}()
	for i := 1; i < maxRotated; i++ {
		fr, err := openLog(rotatedName(r.path, i))
		if err != nil {
			break
		}
		switch {
		case os.SameFile(fr.info, r.live.info):
			fr.f.Close()
			for j := len(missed) - 1; j >= 0; j-- {
				if err := r.drain(ctx, missed[j]); err != nil {
					return err
				}
			}
			return nil
		case os.SameFile(fr.info, live.info):
			for _, m := range missed {
				m.f.Close()
			}
			missed = missed[:0]
			fr.f.Close()
		case dup(missed, fr):
			fr.f.Close()
		default:
			missed = append(missed, fr)
		}
	}
	return nil // the old live file is gone (deleted by the limit): nothing safe to add
}
