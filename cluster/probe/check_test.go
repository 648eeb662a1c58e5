package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kedge/api"
)

// These tests run checks against real sockets on the loopback, with real
// time; a slow server blocks until the client gives up, never on a sleep.

const shortTimeout = 200 * time.Millisecond

// serverTarget is a target whose pod IP and named port "http" are srv's.
func serverTarget(t *testing.T, srv *httptest.Server) *Target {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	return &Target{Key: "a/c", PodIP: u.Hostname(), Container: api.ContainerSpec{
		Ports: []api.ContainerPort{{Name: "http", ContainerPort: int32(port)}},
	}}
}

func httpProbe(path string, port api.IntOrString, headers ...api.HTTPHeader) *api.Probe {
	return &api.Probe{HTTPGet: &api.HTTPGetAction{Path: path, Port: port, HTTPHeaders: headers}}
}

type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *seen) add(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
}

func (s *seen) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p []string
	for _, r := range s.reqs {
		p = append(p, r.URL.Path)
	}
	return p
}

func (s *seen) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

func newTestServer(t *testing.T, tlsServer bool) (*httptest.Server, *seen) {
	var s seen
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { s.add(r) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		u := *r.URL
		u.Scheme, u.Host, u.Path = "http", "localhost:"+strings.Split(r.Host, ":")[1], "/fail"
		http.Redirect(w, r, u.String(), http.StatusFound)
	})
	mux.HandleFunc("/samehost", func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		http.Redirect(w, r, "/fail", http.StatusMovedPermanently)
	})
	srv := httptest.NewUnstartedServer(mux)
	if tlsServer {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, &s
}

func TestHTTPCheck(t *testing.T) {
	srv, seen := newTestServer(t, false)
	tg := serverTarget(t, srv)
	c := newChecker(nil, nil)
	defer c.close()
	port := api.FromInt(int32(tg.Container.Ports[0].ContainerPort))
	check := func(p *api.Probe) error { return c.check(t.Context(), tg, p, shortTimeout) }

	t.Run("pass by named port with headers", func(t *testing.T) {
		err := check(httpProbe("ok", api.FromString("http"),
			api.HTTPHeader{Name: "X-Probe", Value: "1"}, api.HTTPHeader{Name: "Host", Value: "app.example"}))
		if err != nil {
			t.Fatal(err)
		}
		r := seen.last()
		if r.URL.Path != "/ok" || r.Header.Get("X-Probe") != "1" || r.Host != "app.example" ||
			r.Header.Get("User-Agent") != userAgent || r.Header.Get("Accept") != "*/*" {
			t.Fatalf("request %s host %q headers %v", r.URL, r.Host, r.Header)
		}
	})
	t.Run("own user agent", func(t *testing.T) {
		if err := check(httpProbe("/ok", port, api.HTTPHeader{Name: "user-agent", Value: "mine"})); err != nil {
			t.Fatal(err)
		}
		if ua := seen.last().Header.Values("User-Agent"); len(ua) != 1 || ua[0] != "mine" {
			t.Fatalf("User-Agent %q, want [mine]", ua)
		}
	})
	t.Run("500 fails", func(t *testing.T) {
		err := check(httpProbe("/fail", port))
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "HTTP 500") {
			t.Fatalf("got %v, want HTTP 500 wrapping ErrFailed", err)
		}
	})
	t.Run("slow fails", func(t *testing.T) {
		start := time.Now()
		err := check(httpProbe("/slow", port))
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d < shortTimeout {
			t.Fatalf("gave up after %s, before the timeout", d)
		}
	})
	t.Run("redirect to another host is not followed", func(t *testing.T) {
		before := len(seen.paths())
		if err := check(httpProbe("/elsewhere", port)); err != nil {
			t.Fatalf("got %v, want the 302 to pass", err)
		}
		if p := seen.paths()[before:]; len(p) != 1 {
			t.Fatalf("requests %v, want only /elsewhere", p)
		}
	})
	t.Run("redirect on the same host is followed", func(t *testing.T) {
		before := len(seen.paths())
		if err := check(httpProbe("/samehost", port)); !errors.Is(err, ErrFailed) {
			t.Fatalf("got %v, want the redirect's 500", err)
		}
		if p := seen.paths()[before:]; len(p) != 2 || p[1] != "/fail" {
			t.Fatalf("requests %v, want /samehost then /fail", p)
		}
	})
	t.Run("unknown named port", func(t *testing.T) {
		if err := check(httpProbe("/ok", api.FromString("metrics"))); !errors.Is(err, ErrPortNotFound) {
			t.Fatalf("got %v, want ErrPortNotFound", err)
		}
	})
	t.Run("explicit host", func(t *testing.T) {
		p := httpProbe("/ok", port)
		p.HTTPGet.Host = tg.PodIP
		noIP := *tg
		noIP.PodIP = ""
		if err := c.check(t.Context(), &noIP, p, shortTimeout); err != nil {
			t.Fatal(err)
		}
		p.HTTPGet.Host = ""
		if err := c.check(t.Context(), &noIP, p, shortTimeout); !errors.Is(err, ErrInvalidProbe) {
			t.Fatalf("no host: got %v, want ErrInvalidProbe", err)
		}
	})
	if c.transport.Proxy != nil {
		t.Error("probes use a proxy")
	}
}

func TestHTTPSCheckSkipsVerification(t *testing.T) {
	srv, _ := newTestServer(t, true)
	tg := serverTarget(t, srv)
	p := httpProbe("/ok", api.FromString("http"))
	p.HTTPGet.Scheme = api.SchemeHTTPS
	c := newChecker(nil, nil)
	defer c.close()
	if err := c.check(t.Context(), tg, p, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	tg := &Target{Key: "a/c", PodIP: "127.0.0.1"}
	p := &api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(int32(port))}}
	c := newChecker(nil, nil)
	if err := c.check(t.Context(), tg, p, time.Second); err != nil {
		t.Fatalf("listener up: %v", err)
	}
	ln.Close()
	if err := c.check(t.Context(), tg, p, time.Second); err == nil {
		t.Fatal("listener down: the check passed")
	}
}

func TestExecCheck(t *testing.T) {
	ex := newFakeExecer()
	c := newChecker(ex, nil)
	tg := &Target{Key: "a/c"}
	run := func(word string) error {
		return c.check(t.Context(), tg, execProbe(word), shortTimeout)
	}
	if err := run("ok"); err != nil {
		t.Fatalf("exit 0: %v", err)
	}
	ex.setCode("a/c/bad", 3)
	if err := run("bad"); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "exit code 3") {
		t.Fatalf("exit 3: got %v", err)
	}
	boom := errors.New("no such container")
	ex.mu.Lock()
	ex.err["a/c/gone"] = boom
	ex.mu.Unlock()
	if err := run("gone"); !errors.Is(err, boom) {
		t.Fatalf("exec error: got %v", err)
	}
	ex.setHang("a/c/hang", true)
	if err := run("hang"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("hung command: got %v, want ErrTimeout", err)
	}
	if err := newChecker(nil, nil).check(t.Context(), tg, execProbe("ok"), time.Second); !errors.Is(err, ErrNoExecer) {
		t.Fatalf("no execer: got %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.check(ctx, tg, execProbe("hang"), time.Second); errors.Is(err, ErrTimeout) {
		t.Fatalf("a stopped check is not a timeout: %v", err)
	}
}

// TestManagerHTTPEndToEnd runs a Manager, outside any bubble, against a real
// server: readiness follows the server's answers.
func TestManagerHTTPEndToEnd(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	tg := *serverTarget(t, srv)
	tg.StartedAt = time.Now()
	tg.Container.ReadinessProbe = &api.Probe{
		HTTPGet:       &api.HTTPGetAction{Path: "/healthz", Port: api.FromString("http")},
		PeriodSeconds: 1, FailureThreshold: 1,
	}
	m := New(nil, Options{Logger: testLogger(t)})
	defer m.Close()
	waitReady := func(want bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			if s := result(t, m, tg.Key); s.Ready == want {
				return
			}
			select {
			case <-m.Changed():
			case <-deadline:
				t.Fatalf("Ready never became %v: %+v", want, result(t, m, tg.Key))
			}
		}
	}
	m.Sync([]Target{tg})
	waitReady(true)
	failing.Store(true)
	waitReady(false)
	if s := result(t, m, tg.Key); !strings.Contains(s.LastError, "HTTP 503") {
		t.Fatalf("LastError %q, want the 503", s.LastError)
	}
}
