package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kedge/api"
)

// DialFunc opens a network connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// userAgent is sent by HTTP probes unless the probe sets its own.
const userAgent = "kedge-probe/1"

// maxRedirects bounds the redirects an HTTP probe follows on one host.
const maxRedirects = 10

// maxBody is how much of a response body an HTTP probe reads.
const maxBody = 10 << 10

// checker runs one check of a probe. It holds no per-target state and is
// safe for concurrent use.
type checker struct {
	execer    Execer
	dial      DialFunc
	transport *http.Transport
	client    *http.Client
}

func newChecker(execer Execer, dial DialFunc) *checker {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr := &http.Transport{
		Proxy:       nil, // probes go straight to the pod, never through $HTTP_PROXY
		DialContext: dial,
		// api.HTTPGetAction: HTTPS probes do not verify certificates.
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // documented probe semantics
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &checker{
		execer:    execer,
		dial:      dial,
		transport: tr,
		client:    &http.Client{Transport: tr, CheckRedirect: sameHostRedirects},
	}
}

// sameHostRedirects follows redirects on the probed host only; a redirect
// elsewhere ends the probe with the 3xx response, which passes.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// close releases idle connections (there are none with keep-alives off,
// but a TLS handshake in flight may hold one).
func (c *checker) close() { c.transport.CloseIdleConnections() }

// check runs p once against t within timeout: nil is a pass. When ctx ends
// first the result is meaningless and the caller drops it.
func (c *checker) check(ctx context.Context, t *Target, p *api.Probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		return c.exec(ctx, t, p.Exec, timeout)
	case p.HTTPGet != nil:
		return c.httpGet(ctx, t, p.HTTPGet, timeout)
	case p.TCPSocket != nil:
		return c.tcp(ctx, t, p.TCPSocket, timeout)
	}
	return fmt.Errorf("no exec, httpGet or tcpSocket: %w", ErrInvalidProbe)
}

// timedOut wraps err as ErrTimeout when ctx's deadline has passed.
func timedOut(ctx context.Context, what string, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w after %s", what, ErrTimeout, timeout)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (c *checker) exec(ctx context.Context, t *Target, a *api.ExecAction, timeout time.Duration) error {
	what := fmt.Sprintf("exec %q", a.Command)
	if len(a.Command) == 0 {
		return fmt.Errorf("exec: empty command: %w", ErrInvalidProbe)
	}
	if c.execer == nil {
		return fmt.Errorf("%s: %w", what, ErrNoExecer)
	}
	code, err := c.execer.Exec(ctx, t.Key, a.Command)
	switch {
	case ctx.Err() != nil:
		return timedOut(ctx, what, timeout, ctx.Err())
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case code != 0:
		return fmt.Errorf("%s: exit code %d: %w", what, code, ErrFailed)
	}
	return nil
}

// address is host:port of an HTTP or TCP probe; host defaults to the pod IP.
func address(t *Target, host string, port api.IntOrString) (string, error) {
	n, err := resolvePort(port, t.Container.Ports)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = t.PodIP
	}
	if host == "" {
		return "", fmt.Errorf("no host and no pod IP: %w", ErrInvalidProbe)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

func (c *checker) tcp(ctx context.Context, t *Target, a *api.TCPSocketAction, timeout time.Duration) error {
	addr, err := address(t, a.Host, a.Port)
	if err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	conn, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return timedOut(ctx, "tcp "+addr, timeout, err)
	}
	return conn.Close()
}

func (c *checker) httpGet(ctx context.Context, t *Target, a *api.HTTPGetAction, timeout time.Duration) error {
	req, err := newRequest(ctx, t, a)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	what := "GET " + req.URL.String()
	resp, err := c.client.Do(req)
	if err != nil {
		return timedOut(ctx, what, timeout, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody)); err != nil && ctx.Err() != nil {
		return timedOut(ctx, what, timeout, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("%s: HTTP %d: %w", what, resp.StatusCode, ErrFailed)
	}
	return nil
}

// newRequest builds the GET of an HTTP probe: scheme://host:port/path with
// the probe's headers; a "Host" header sets the request's host.
func newRequest(ctx context.Context, t *Target, a *api.HTTPGetAction) (*http.Request, error) {
	sch, err := scheme(a.Scheme)
	if err != nil {
		return nil, err
	}
	addr, err := address(t, a.Host, a.Port)
	if err != nil {
		return nil, err
	}
	path := a.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("path %q: %v: %w", a.Path, err, ErrInvalidProbe)
	}
	u.Scheme, u.Host = sch, addr
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrInvalidProbe)
	}
	for _, h := range a.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	}
	return req, nil
}
