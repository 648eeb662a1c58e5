package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CreateContainer creates a container without starting it.
func (c *Client) CreateContainer(ctx context.Context, cfg *ContainerConfig) (*CreateResponse, error) {
	var r CreateResponse
	return &r, c.do(ctx, http.MethodPost, "/containers", nil, cfg, &r)
}

// ListContainers lists running containers, or all with all.
func (c *Client) ListContainers(ctx context.Context, all bool) ([]Container, error) {
	var r []Container
	return r, c.do(ctx, http.MethodGet, "/containers", url.Values{"all": {strconv.FormatBool(all)}}, nil, &r)
}

// InspectContainer returns one container by id, id prefix or name.
func (c *Client) InspectContainer(ctx context.Context, ref string) (*Container, error) {
	var r Container
	return &r, c.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(ref), nil, nil, &r)
}

// StartContainer starts a created or stopped container.
func (c *Client) StartContainer(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(ref)+"/start", nil, nil, nil)
}

// StopContainer sends the stop signal, then SIGKILL after timeout (nil: the container's default).
func (c *Client) StopContainer(ctx context.Context, ref string, timeout *int) error {
	q := url.Values{}
	if timeout != nil {
		q.Set("t", strconv.Itoa(*timeout))
	}
	return c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(ref)+"/stop", q, nil, nil)
}

// RestartContainer stops then starts a container.
func (c *Client) RestartContainer(ctx context.Context, ref string, timeout *int) error {
	q := url.Values{}
	if timeout != nil {
		q.Set("t", strconv.Itoa(*timeout))
	}
	return c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(ref)+"/restart", q, nil, nil)
}

// KillContainer sends a signal ("SIGKILL", "TERM", "9") to a container.
func (c *Client) KillContainer(ctx context.Context, ref, signal string) error {
	return c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(ref)+"/kill", url.Values{"signal": {signal}}, nil, nil)
}

// PauseContainer freezes (pause true) or thaws a container.
func (c *Client) PauseContainer(ctx context.Context, ref string, pause bool) error {
	op := "/unpause"
	if pause {
		op = "/pause"
	}
	return c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(ref)+op, nil, nil, nil)
}

// RemoveContainer deletes a container; force kills a running one first.
func (c *Client) RemoveContainer(ctx context.Context, ref string, force, volumes bool) error {
	q := url.Values{"force": {strconv.FormatBool(force)}, "volumes": {strconv.FormatBool(volumes)}}
	return c.do(ctx, http.MethodDelete, "/containers/"+url.PathEscape(ref), q, nil, nil)
}

// WaitContainer blocks until the container is not running and returns its exit code.
func (c *Client) WaitContainer(ctx context.Context, ref string) (*WaitResponse, error) {
	var r WaitResponse
	return &r, c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(ref)+"/wait", nil, nil, &r)
}

// LogsOptions select the log lines of Logs.
type LogsOptions struct {
	Follow     bool
	Tail       int // negative: all
	Since      time.Time
	Until      time.Time
	Timestamps bool
}

// LogEntry is one log line as the API streams it.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Logs streams a container's log lines to fn.
func (c *Client) Logs(ctx context.Context, ref string, opts LogsOptions, fn func(LogEntry) error) error {
	q := url.Values{"follow": {strconv.FormatBool(opts.Follow)}, "tail": {strconv.Itoa(opts.Tail)}}
	if !opts.Since.IsZero() {
		q.Set("since", opts.Since.Format(time.RFC3339Nano))
	}
	if !opts.Until.IsZero() {
		q.Set("until", opts.Until.Format(time.RFC3339Nano))
	}
	resp, err := c.send(ctx, http.MethodGet, "/containers/"+url.PathEscape(ref)+"/logs", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return streamJSON(resp.Body, fn)
}

// Stats streams resource readings (one, unless stream) to fn.
func (c *Client) Stats(ctx context.Context, ref string, stream bool, fn func(Stats) error) error {
	resp, err := c.send(ctx, http.MethodGet, "/containers/"+url.PathEscape(ref)+"/stats", url.Values{"stream": {strconv.FormatBool(stream)}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return streamJSON(resp.Body, fn)
}

// Top lists a container's processes.
func (c *Client) Top(ctx context.Context, ref string) (*Top, error) {
	var r Top
	return &r, c.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(ref)+"/top", nil, nil, &r)
}

// CopyFrom returns a tar stream of path inside the container (`kedge cp CTR:PATH -`).
func (c *Client) CopyFrom(ctx context.Context, ref, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, "/containers/"+url.PathEscape(ref)+"/archive", url.Values{"path": {path}}, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CopyTo extracts a tar stream into dir inside the container.
func (c *Client) CopyTo(ctx context.Context, ref, dir string, tar io.Reader) error {
	return c.do(ctx, http.MethodPut, "/containers/"+url.PathEscape(ref)+"/archive", url.Values{"path": {dir}}, tar, nil)
}

// Stream is a hijacked attach or exec connection.
type Stream struct {
	conn  io.ReadWriteCloser
	br    *bufio.Reader
	input *FrameWriter
}

// Attach connects to a container's main process.
func (c *Client) Attach(ctx context.Context, ref string, stdin bool) (*Stream, error) {
	return c.upgrade(ctx, "/containers/"+url.PathEscape(ref)+"/attach", url.Values{"stdin": {strconv.FormatBool(stdin)}}, nil)
}

// Exec runs a process in a container and returns its stream; the exit code
// arrives as the stream's last frame.
func (c *Client) Exec(ctx context.Context, ref string, cfg *ExecConfig) (*Stream, error) {
	return c.upgrade(ctx, "/containers/"+url.PathEscape(ref)+"/exec", nil, cfg)
}

func (c *Client) upgrade(ctx context.Context, path string, q url.Values, in any) (*Stream, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the kedge agent (is `kedge agent` running?): %w", err)
	}
	var body []byte
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			conn.Close()
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(path, q), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.authorize(req)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", UpgradeProtocol)
	req.Header.Set("Content-Type", "application/json")
	// No body at all when there is nothing to send: an empty body would go
	// out chunked, and its terminating chunk would land in the frame stream.
	if len(body) > 0 {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytesReader(body))
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("send %s: %w", path, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read answer of %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		return nil, decodeError(resp)
	}
	s := &Stream{conn: conn, br: br}
	s.input = NewFrameWriters(conn, FrameStdin)[0]
	return s, nil
}

// Stdin returns a writer whose bytes become the process's input.
func (s *Stream) Stdin() io.Writer { return s.input }

// CloseStdin closes the process's input.
func (s *Stream) CloseStdin() error { return s.input.WriteKind(FrameStdinClose, nil) }

// Resize sets the process's terminal size.
func (s *Stream) Resize(width, height uint16) error {
	b, _ := json.Marshal(ResizeFrame{Width: width, Height: height})
	return s.input.WriteKind(FrameResize, b)
}

// Copy writes the process's output to stdout and stderr until the exit frame,
// which it returns. A stream that ends without one is an error.
func (s *Stream) Copy(stdout, stderr io.Writer) (*ExitFrame, error) {
	for {
		kind, payload, err := ReadFrame(s.br)
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("stream ended without an exit status")
			}
			return nil, err
		}
		switch kind {
		case FrameStdout:
			if stdout != nil {
				_, _ = stdout.Write(payload)
			}
		case FrameStderr:
			if stderr != nil {
				_, _ = stderr.Write(payload)
			}
		case FrameExit:
			var e ExitFrame
			if err := json.Unmarshal(payload, &e); err != nil {
				return nil, fmt.Errorf("decode exit frame: %w", err)
			}
			return &e, nil
		}
	}
}

// Close ends the stream; the process keeps running unless it was tied to it.
func (s *Stream) Close() error { return s.conn.Close() }
