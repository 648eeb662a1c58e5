package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Attach and exec run over a hijacked HTTP connection ("Upgrade: kedge-stream")
// carrying frames in both directions: a 1-byte kind, 3 zero bytes and a 4-byte
// big-endian length, then the payload (Docker's stdcopy header, with more kinds).
const (
	// FrameStdin carries input to the process (client -> server).
	FrameStdin byte = 0
	// FrameStdout and FrameStderr carry the process's output (server -> client).
	FrameStdout byte = 1
	FrameStderr byte = 2
	// FrameExit ends a stream with a JSON ExitFrame (server -> client).
	FrameExit byte = 3
	// FrameStdinClose closes the process's stdin (client -> server).
	FrameStdinClose byte = 4
	// FrameResize carries a JSON ResizeFrame (client -> server).
	FrameResize byte = 5
)

// UpgradeProtocol is the Upgrade header value of stream endpoints.
const UpgradeProtocol = "kedge-stream"

// MaxFrame bounds a frame's payload so a hostile peer cannot make us allocate.
const MaxFrame = 1 << 20

// ExitFrame is the payload of FrameExit.
type ExitFrame struct {
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	// Kind is "not-found" or "cannot-invoke" when the command could not start.
	Kind string `json:"kind,omitempty"`
}

// ResizeFrame is the payload of FrameResize.
type ResizeFrame struct {
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, kind byte, payload []byte) error {
	if len(payload) > MaxFrame {
		return fmt.Errorf("frame of %d bytes: too large", len(payload))
	}
	var hdr [8]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	if _, err := w.Write(append(hdr[:], payload...)); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame. It returns io.EOF at a clean end of stream.
func ReadFrame(r io.Reader) (kind byte, payload []byte, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("read frame header: %w", err)
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("read frame: %d bytes is too large", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("read frame payload: %w", err)
	}
	return hdr[0], payload, nil
}

// FrameWriter is an io.Writer that wraps each write in a frame of one kind.
// Writers of different kinds may share the underlying writer: a mutex
// serialises whole frames.
type FrameWriter struct {
	mu   *sync.Mutex
	w    io.Writer
	kind byte
}

// NewFrameWriters returns frame writers of the given kinds sharing w.
func NewFrameWriters(w io.Writer, kinds ...byte) []*FrameWriter {
	mu := &sync.Mutex{}
	out := make([]*FrameWriter, len(kinds))
	for i, k := range kinds {
		out[i] = &FrameWriter{mu: mu, w: w, kind: k}
	}
	return out
}

// Write sends p as frames of the writer's kind.
func (f *FrameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	written := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > MaxFrame {
			chunk = chunk[:MaxFrame]
		}
		if err := WriteFrame(f.w, f.kind, chunk); err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

// WriteKind sends one frame of any kind through the shared lock.
func (f *FrameWriter) WriteKind(kind byte, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return WriteFrame(f.w, kind, payload)
}
