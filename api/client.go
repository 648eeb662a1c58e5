package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultSocket is where the agent listens unless told otherwise.
const DefaultSocket = "/run/kedge/kedge.sock"

// APIPrefix is the path prefix of every API endpoint.
const APIPrefix = "/v1"

// Client calls a kedge agent's HTTP API.
type Client struct {
	base  string // scheme://host, no trailing slash
	dial  func(ctx context.Context) (net.Conn, error)
	http  *http.Client
	token string
	// consistent asks for linearizable reads (SetConsistent).
	consistent bool
}

// SetConsistent makes the client's cluster reads linearizable (served after
// the leader confirms it leads and the node has applied what it committed)
// instead of served from the node's local copy.
func (c *Client) SetConsistent(on bool) { c.consistent = on }

// ClientOptions configure a connection to a remote node's HTTPS API.
type ClientOptions struct {
	// TLS verifies the node (RootCAs: the cluster CA).
	TLS *tls.Config
	// Token is the bearer token sent with every request.
	Token string
}

// NewClient connects to host: a unix socket path ("/run/kedge/kedge.sock" or
// "unix:///path") or "tcp://HOST:PORT" / "http://HOST:PORT". Empty means DefaultSocket.
func NewClient(host string) (*Client, error) { return NewClientWith(host, ClientOptions{}) }

// NewClientWith is NewClient that also reaches a cluster node's API at
// "https://HOST[:PORT]" (default port 7780) with opts' CA and token.
func NewClientWith(host string, opts ClientOptions) (*Client, error) {
	if host == "" {
		host = DefaultSocket
	}
	c := &Client{token: opts.Token}
	switch {
	case strings.HasPrefix(host, "https://"):
		addr := strings.TrimSuffix(strings.TrimPrefix(host, "https://"), "/")
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, strconv.Itoa(DefaultAPIPort))
		}
		cfg := opts.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.base = "https://" + addr
		c.dial = func(ctx context.Context) (net.Conn, error) {
			d := tls.Dialer{Config: cfg}
			return d.DialContext(ctx, "tcp", addr)
		}
	case strings.HasPrefix(host, "unix://") || strings.HasPrefix(host, "/") || strings.HasPrefix(host, "."):
		path := strings.TrimPrefix(host, "unix://")
		c.base = "http://kedge"
		c.dial = func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	case strings.HasPrefix(host, "tcp://") || strings.HasPrefix(host, "http://"):
		addr := strings.TrimPrefix(strings.TrimPrefix(host, "tcp://"), "http://")
		c.base = "http://" + addr
		c.dial = func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	default:
		return nil, fmt.Errorf("host %q: want a unix socket path, unix://PATH, tcp://HOST:PORT or https://NODE[:PORT]: %w", host, ErrInvalid)
	}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext:        func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		DialTLSContext:     func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		DisableCompression: true,
		MaxIdleConns:       4,
		IdleConnTimeout:    30 * time.Second,
	}}
	return c, nil
}

// authorize adds the bearer token, if any.
func (c *Client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func (c *Client) url(path string, q url.Values) string {
	if c.consistent && strings.HasPrefix(path, "/cluster/") {
		q2 := url.Values{"consistent": {"true"}}
		for k, v := range q {
			q2[k] = v
		}
		q = q2
	}
	u := c.base + APIPrefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// do sends a request with a JSON (or raw, when in is an io.Reader) body and
// decodes a JSON answer into out, when out is non-nil.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, q, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns the response when its status is 2xx; the
// caller closes the body.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	resp, err := c.roundTrip(ctx, method, path, q, in)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// roundTrip sends a request (in: nil, an io.Reader, or a value sent as
// JSON) and returns the response, whatever its status; the caller closes
// the body.
func (c *Client) roundTrip(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	var body io.Reader
	contentType := ""
	switch v := in.(type) {
	case nil:
	case io.Reader:
		body, contentType = v, "application/octet-stream"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the kedge agent (is `kedge agent` running?): %w", err)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	var e Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return &StatusError{Code: resp.StatusCode, Message: e.Message}
}

// streamJSON calls fn for each JSON value of a newline-delimited stream.
func streamJSON[T any](body io.Reader, fn func(T) error) error {
	dec := json.NewDecoder(bufio.NewReader(body))
	for {
		var v T
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read stream: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
}

// Version returns the agent's version.
func (c *Client) Version(ctx context.Context) (*Version, error) {
	var v Version
	return &v, c.do(ctx, http.MethodGet, "/version", nil, nil, &v)
}

// Info describes the agent's node.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var v Info
	return &v, c.do(ctx, http.MethodGet, "/info", nil, nil, &v)
}

// Events streams events until ctx ends; since replays stored events from then.
func (c *Client) Events(ctx context.Context, since time.Time, fn func(Event) error) error {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.Format(time.RFC3339Nano))
	}
	resp, err := c.send(ctx, http.MethodGet, "/events", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return streamJSON(resp.Body, fn)
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
