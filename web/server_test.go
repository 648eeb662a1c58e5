package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"kedge/api"
	"kedge/engine"
)

func newServer(t testing.TB) *httptest.Server {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the API serves a real engine, which needs root")
	}
	eng, err := engine.New(context.Background(), engine.Options{DataDir: t.TempDir(), RunDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(eng, api.Version{Version: "test"}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(func() {
		srv.Close()
		eng.Close()
	})
	return srv
}

func call(t testing.TB, srv *httptest.Server, method, path string, body []byte, header map[string]string) (int, api.Error) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e
}

func TestBadRequestsGetClearErrors(t *testing.T) {
	srv := newServer(t)
	cases := []struct {
		method, path string
		body         string
		header       map[string]string
		status       int
		msg          string
	}{
		{"POST", "/v1/containers", `{"image": `, nil, 400, "malformed request body"},
		{"POST", "/v1/containers", `{"image":"x","bogus":1}`, nil, 400, "unknown field"},
		{"POST", "/v1/containers", `{"image":""}`, nil, 400, "image is required"},
		{"POST", "/v1/containers", `{"image":"nope:1"}`, nil, 404, "no such image"},
		{"GET", "/v1/containers/nope", "", nil, 404, "no such container"},
		{"DELETE", "/v1/containers/nope", "", nil, 404, "no such container"},
		{"POST", "/v1/containers/nope/attach", "", nil, 404, "no such container"},
		{"POST", "/v1/containers/nope/stop?t=soon", "", nil, 400, "number of seconds"},
		{"POST", "/v1/images/pull", `{}`, nil, 400, "reference is required"},
		{"GET", "/v1/images/inspect?ref=nope", "", nil, 404, "nope"},
		{"POST", "/v1/volumes", `{"name":"../x"}`, nil, 400, "volume name"},
		{"GET", "/v1/volumes/nope", "", nil, 404, "nope"},
		{"GET", "/v1/events?since=yesterday", "", nil, 400, "RFC 3339"},
		{"GET", "/v1/nothing-here", "", nil, 404, ""},
	}
	for _, c := range cases {
		status, e := call(t, srv, c.method, c.path, []byte(c.body), c.header)
		if status != c.status || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s %s %s: %d %q, want %d and a message containing %q", c.method, c.path, c.body, status, e.Message, c.status, c.msg)
		}
	}
}

// Whatever a client sends as a container config, the API answers with a
// client error or success, never a server error or a crash.
func FuzzCreateContainer(f *testing.F) {
	for _, s := range []string{`{"image":"x"}`, `{"image":"busybox","mounts":[{"type":"bind","target":"/x"}]}`, `{"resources":{"memory":-1}}`, `[]`, `null`, `{"name":"` + strings.Repeat("a", 300) + `"}`} {
		f.Add([]byte(s))
	}
	srv := newServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		status, e := call(t, srv, "POST", "/v1/containers", body, nil)
		if status >= 500 {
			t.Fatalf("create with %q: %d %s", body, status, e.Message)
		}
	})
}
