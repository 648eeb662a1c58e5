package logs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
)

// Writer appends entries to a container's log file and rotates it by size.
// It is safe for concurrent use: the supervisor's stdout and stderr copiers
// write at the same time. Output is buffered and written with one write(2) per
// Write call; nothing is fsynced.
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int

	mu      sync.Mutex
	f       *os.File
	bw      *bufio.Writer
	size    int64
	pending map[string][]byte // unfinished line per stream
	scratch []byte            // one encoded entry
	closed  bool
}

// NewWriter opens (creating or appending to) the log at path. maxSize rotates
// the file once it would grow past that many bytes (0: never); maxFiles is how
// many files to keep in total, the live one included (values below 1 mean 1:
// the live file is truncated instead of rotated).
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxFiles < 1 {
		maxFiles = 1
	}
	w := &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles, pending: make(map[string][]byte, 2)}
	if err := w.open(false); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open(truncate bool) error {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(w.path, flags, 0o640)
	if err != nil {
		return fmt.Errorf("open log %s: %w", w.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log %s: %w", w.path, err)
	}
	w.f, w.size = f, st.Size()
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, 32*1024)
	} else {
		w.bw.Reset(f)
	}
	return nil
}

// Stream returns an io.Writer that appends to the log as the named stream
// (Stdout or Stderr). It always reports len(p) written unless the log failed.
func (w *Writer) Stream(name string) io.Writer { return streamWriter{w: w, name: name} }

type streamWriter struct {
	w    *Writer
	name string
}

func (s streamWriter) Write(p []byte) (int, error) {
	if err := s.w.Write(s.name, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Write appends output p of stream: every complete line becomes an entry, a
// line longer than MaxLineSize is cut into partial entries, and an unfinished
// line waits for the rest (see EndStream). All entries of one call share a
// timestamp and reach the file in one write.
func (w *Writer) Write(stream string, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errWriterClosed
	}
	now := time.Now().UTC()
	buf := p
	if pend := w.pending[stream]; len(pend) > 0 {
		buf = append(pend, p...)
	}
	var err error
	for err == nil {
		window := buf
		if len(window) > MaxLineSize+1 {
			window = window[:MaxLineSize+1]
		}
		if i := indexNewline(window); i >= 0 {
			err = w.emit(stream, buf[:i+1], now)
			buf = buf[i+1:]
			continue
		}
		if len(buf) > MaxLineSize {
			err = w.emit(stream, buf[:MaxLineSize], now)
			buf = buf[MaxLineSize:]
			continue
		}
		break
	}
	w.keepPending(stream, buf)
	if ferr := w.bw.Flush(); ferr != nil {
		// bufio's errors are sticky: drop what failed (disk full) so that
		// later output is tried again.
		if w.f != nil {
			w.bw.Reset(w.f)
		}
		if err == nil {
			err = fmt.Errorf("write log %s: %w", w.path, ferr)
		}
	}
	return err
}

// keepPending stores the unfinished rest of a stream, reusing its buffer
// unless that grew large.
func (w *Writer) keepPending(stream string, rest []byte) {
	old := w.pending[stream]
	if len(rest) == 0 {
		if cap(old) > 4*MaxLineSize {
			old = nil
		}
		w.pending[stream] = old[:0]
		return
	}
	if cap(old) > 4*MaxLineSize || cap(old) < len(rest) {
		old = make([]byte, 0, max(len(rest), 256))
	}
	// rest may alias old; copy handles the overlap.
	w.pending[stream] = old[:copy(old[:len(rest)], rest)]
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// EndStream writes the unfinished last line of stream, if any, as a partial
// entry: the stream has ended (or the caller wants it visible now).
func (w *Writer) EndStream(stream string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errWriterClosed
	}
	return w.endStreamLocked(stream)
}

func (w *Writer) endStreamLocked(stream string) error {
	rest := w.pending[stream]
	if len(rest) == 0 {
		return nil
	}
	w.pending[stream] = rest[:0]
	if err := w.emit(stream, rest, time.Now().UTC()); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("write log %s: %w", w.path, err)
	}
	return nil
}

// Close writes the unfinished lines of all streams and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	var errs []error
	for stream := range w.pending {
		errs = append(errs, w.endStreamLocked(stream))
	}
	if w.f != nil {
		errs = append(errs, w.bw.Flush(), w.f.Close())
	}
	w.closed = true
	return errors.Join(errs...)
}

var errWriterClosed = errors.New("log writer closed")

// emit encodes one entry and rotates first when it would not fit.
func (w *Writer) emit(stream string, text []byte, now time.Time) error {
	e := append(w.scratch[:0], `{"log":`...)
	e = appendJSONString(e, text)
	e = append(e, `,"stream":`...)
	e = appendJSONString(e, []byte(stream))
	e = append(e, `,"time":"`...)
	e = now.AppendFormat(e, time.RFC3339Nano)
	e = append(e, "\"}\n"...)
	w.scratch = e
	if w.f == nil { // a failed rotation: try again to open the live file
		if err := w.open(false); err != nil {
			return err
		}
	}
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(e)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.bw.Write(e)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log %s: %w", w.path, err)
	}
	return nil
}

// rotate shifts path -> path.1 -> ... and starts an empty live file.
func (w *Writer) rotate() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("write log %s: %w", w.path, err)
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("close log %s: %w", w.path, err)
	}
	if w.maxFiles > 1 {
		for i := w.maxFiles - 1; i >= 1; i-- {
			err := os.Rename(rotatedName(w.path, i-1), rotatedName(w.path, i))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("rotate log %s: %w", w.path, err)
			}
		}
	}
	return w.open(true)
}

// rotatedName is path for i == 0 and path.i otherwise.
func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}
