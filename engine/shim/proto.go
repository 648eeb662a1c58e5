package shim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Operations of the protocol (see the package doc).
const (
	opState  = "state"
	opWait   = "wait"
	opSignal = "signal"
	opAttach = "attach"
	opResize = "resize"
	opExec   = "exec"
)

// request is the first line a client sends.
type request struct {
	Op     string `json:"op"`
	Signal int    `json:"signal,omitempty"`
	// Width and Height are the size for resize, and an exec's initial size.
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
	// Stdin says the client will send stdin frames (attach, exec).
	Stdin bool `json:"stdin,omitempty"`
	// Process, Tty and Detach describe an exec.
	Process *specs.Process `json:"process,omitempty"`
	Tty     bool           `json:"tty,omitempty"`
	Detach  bool           `json:"detach,omitempty"`
}

// response is the first line the supervisor sends; it is also the message on
// the ready pipe.
type response struct {
	Error    *wireError `json:"error,omitempty"`
	Pid      int        `json:"pid,omitempty"`
	Running  bool       `json:"running,omitempty"`
	Tty      bool       `json:"tty,omitempty"`
	ExitFile string     `json:"exit_file,omitempty"`
	Exit     *Exit      `json:"exit,omitempty"`
}

// Frame types.
const (
	frameStdin      byte = 0
	frameStdout     byte = 1
	frameStderr     byte = 2
	frameStdinClose byte = 3
	frameResize     byte = 4
	frameExit       byte = 5
)

// maxFrame bounds a frame's payload; larger ones are a protocol error.
const maxFrame = 1 << 20

// frameWriter writes frames; it is safe for concurrent use.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (fw *frameWriter) write(typ byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if _, err := fw.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := fw.w.Write(payload)
	return err
}

// readFrame reads one frame into buf (grown as needed) and returns its type
// and payload, which is valid until the next call.
func readFrame(r *bufio.Reader, buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, buf, fmt.Errorf("frame of %d bytes: %w", n, ErrProtocol)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, buf, unexpectedEOF(err)
	}
	return hdr[0], buf, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func resizePayload(ws WindowSize) []byte {
	var b [4]byte
	binary.BigEndian.PutUint16(b[:2], ws.Width)
	binary.BigEndian.PutUint16(b[2:], ws.Height)
	return b[:]
}

func parseResize(p []byte) (WindowSize, bool) {
	if len(p) != 4 {
		return WindowSize{}, false
	}
	return WindowSize{Width: binary.BigEndian.Uint16(p[:2]), Height: binary.BigEndian.Uint16(p[2:])}, true
}

// maxLine bounds a request or response line (an exec's process spec with its
// environment is the largest).
const maxLine = 1 << 20

// readLine reads one JSON line into v; the line may exceed r's buffer.
func readLine(r *bufio.Reader, v any) error {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= maxLine {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		if len(long) > maxLine {
			return fmt.Errorf("line longer than %d bytes: %w", maxLine, ErrProtocol)
		}
		line = long
	}
	if err != nil {
		return unexpectedEOF(err)
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("decode %.100q: %v: %w", line, err, ErrProtocol)
	}
	return nil
}

func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Files in the state directory.
const (
	sockName    = "shim.sock"
	logName     = "shim.log"
	pidName     = "shim.pid"
	runtimeName = "runtime"
)

// maxSockPath is the longest path a sockaddr_un holds, without its NUL.
const maxSockPath = 107

// socketAddr is the address of stateDir's socket. When the plain path is too
// long for a sockaddr_un it opens stateDir and returns a /proc/self/fd path
// through it, with the directory to close once the socket is bound or
// connected.
func socketAddr(stateDir string) (string, io.Closer, error) {
	path := filepath.Join(stateDir, sockName)
	if len(path) <= maxSockPath {
		return path, nopCloser{}, nil
	}
	d, err := os.Open(stateDir)
	if err != nil {
		return "", nil, fmt.Errorf("open state dir: %w", err)
	}
	return "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/" + sockName, d, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// ReadExit reads an exit file written by a supervisor.
func ReadExit(path string) (*Exit, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read exit file: %w", err)
	}
	var e Exit
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode exit file %s: %w", path, err)
	}
	return &e, nil
}

// writeExit stores e at path atomically (a temporary file renamed over it).
func writeExit(path string, e *Exit) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".exit-*")
	if err != nil {
		return fmt.Errorf("write exit file: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write exit file %s: %w", path, err)
	}
	return nil
}
