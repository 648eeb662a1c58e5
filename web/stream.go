package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"kedge/api"
	"kedge/engine"
)

// hijacked is an upgraded attach or exec connection: frames in both directions.
type hijacked struct {
	conn   net.Conn
	out    []*api.FrameWriter // stdout, stderr
	stdin  *io.PipeReader
	resize chan api.ResizeFrame
	// ctx ends when the client hangs up.
	ctx    context.Context
	cancel context.CancelFunc
}

// upgrade answers 101 and takes over the connection. wantStdin says whether
// the client's stdin frames feed the process.
func upgrade(w http.ResponseWriter, r *http.Request, wantStdin bool) (*hijacked, error) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), api.UpgradeProtocol) {
		return nil, fmt.Errorf("this endpoint needs Upgrade: %s: %w", api.UpgradeProtocol, api.ErrInvalid)
	}
	// Whatever body came with the request is consumed before the frames
	// start, so none of it can be taken for a frame.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, errors.New("connection cannot be upgraded")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", api.UpgradeProtocol)
	if err := brw.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	h := &hijacked{conn: conn, out: api.NewFrameWriters(conn, api.FrameStdout, api.FrameStderr), resize: make(chan api.ResizeFrame, 4)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	if wantStdin {
		h.stdin = pr
	}
	go h.readInput(brw.Reader, pw, wantStdin)
	return h, nil
}

// readInput demultiplexes the client's frames until it hangs up.
func (h *hijacked) readInput(r *bufio.Reader, stdin *io.PipeWriter, wantStdin bool) {
	defer h.cancel()
	defer stdin.Close()
	for {
		kind, payload, err := api.ReadFrame(r)
		if err != nil {
			return
		}
		switch kind {
		case api.FrameStdin:
			if wantStdin {
				if _, err := stdin.Write(payload); err != nil {
					wantStdin = false
				}
			}
		case api.FrameStdinClose:
			stdin.Close()
			wantStdin = false
		case api.FrameResize:
			var rf api.ResizeFrame
			if json.Unmarshal(payload, &rf) == nil {
				select {
				case h.resize <- rf:
				default:
				}
			}
		}
	}
}

// finish sends the exit frame and closes the connection.
func (h *hijacked) finish(code int, err error) {
	ef := api.ExitFrame{ExitCode: code}
	if err != nil {
		ef.Error = err.Error()
		switch {
		case errors.Is(err, api.ErrCommandNotFound):
			ef.Kind, ef.ExitCode = "not-found", 127
		case errors.Is(err, api.ErrCannotInvoke):
			ef.Kind, ef.ExitCode = "cannot-invoke", 126
		default:
			if code == 0 {
				ef.ExitCode = 125
			}
		}
	}
	b, _ := json.Marshal(ef)
	_ = h.out[0].WriteKind(api.FrameExit, b)
	h.conn.Close()
	h.cancel()
}

func (h *hijacked) stdinReader() io.Reader {
	if h.stdin == nil {
		return nil
	}
	return h.stdin
}

func (s *Server) attachContainer(w http.ResponseWriter, r *http.Request) {
	att, err := s.eng.PrepareAttach(r.PathValue("id"), boolQuery(r, "stdin"))
	if err != nil {
		writeError(w, err)
		return
	}
	h, err := upgrade(w, r, boolQuery(r, "stdin"))
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := att.Attach(h.ctx, engine.AttachIO{Stdin: h.stdinReader(), Stdout: h.out[0], Stderr: h.out[1], Resize: h.resize})
	if h.ctx.Err() != nil {
		h.conn.Close() // the client went away
		return
	}
	if err != nil {
		h.finish(0, err)
		return
	}
	var runErr error
	if res.Error != "" {
		runErr = errors.New(res.Error)
		if res.StatusCode == 127 {
			runErr = fmt.Errorf("%s: %w", res.Error, api.ErrCommandNotFound)
		} else if res.StatusCode == 126 {
			runErr = fmt.Errorf("%s: %w", res.Error, api.ErrCannotInvoke)
		}
	}
	h.finish(res.StatusCode, runErr)
}

func (s *Server) execContainer(w http.ResponseWriter, r *http.Request) {
	var cfg api.ExecConfig
	if err := decode(r, &cfg); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("id")
	if _, err := s.eng.Inspect(id); err != nil {
		writeError(w, err)
		return
	}
	h, err := upgrade(w, r, cfg.Stdin)
	if err != nil {
		writeError(w, err)
		return
	}
	var stdout, stderr io.Writer = h.out[0], h.out[1]
	if cfg.Detach {
		stdout, stderr = nil, nil
	}
	code, err := s.eng.Exec(h.ctx, id, &cfg, engine.ExecIO{Stdin: h.stdinReader(), Stdout: stdout, Stderr: stderr, Resize: h.resize})
	h.finish(code, err)
}
