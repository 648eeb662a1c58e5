package cli

// A small fake agent for command tests: a real HTTP server on a unix socket
// speaking the API's wire format (JSON, streams, hijacked attach), recording
// what the CLI sent. It lets the tests check the CLI end to end without a
// container engine.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/api"
)

type fakeAgent struct {
	t    *testing.T
	host string

	mu         sync.Mutex
	calls      []string // "METHOD path" in order
	resizes    []api.ResizeFrame
	created    []api.ContainerConfig
	images     map[string]bool
	containers []api.Container
	logs       []api.LogEntry
	started    map[string]chan struct{}
	archive    []byte // what the last PUT archive carried, and what GET archive answers
	archiveDir string
}

const fakeID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func newFakeAgent(t *testing.T) *fakeAgent {
	t.Helper()
	dir, err := os.MkdirTemp("", "kcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "k.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fa := &fakeAgent{t: t, host: "unix://" + sock, images: map[string]bool{"busybox": true}, started: map[string]chan struct{}{}}
	srv := &http.Server{Handler: fa.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fa
}

func (fa *fakeAgent) record(r *http.Request) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fa.calls = append(fa.calls, r.Method+" "+r.URL.Path)
}

func (fa *fakeAgent) callList() []string {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	return append([]string(nil), fa.calls...)
}

func writeJSONResp(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (fa *fakeAgent) startChan(id string) chan struct{} {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	ch, ok := fa.started[id]
	if !ok {
		ch = make(chan struct{})
		fa.started[id] = ch
	}
	return ch
}

func (fa *fakeAgent) lastConfig() api.ContainerConfig {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if len(fa.created) == 0 {
		fa.t.Fatal("no container was created")
	}
	return fa.created[len(fa.created)-1]
}

func (fa *fakeAgent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		writeJSONResp(w, 200, api.Version{Version: "9.9.9", Commit: "fakecommit", GoVersion: "go0", OS: "linux", Arch: "amd64"})
	})
	mux.HandleFunc("GET /v1/images/inspect", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		fa.mu.Lock()
		ok := fa.images[r.URL.Query().Get("ref")]
		fa.mu.Unlock()
		if !ok {
			writeJSONResp(w, 404, api.Error{Message: "image not found"})
			return
		}
		writeJSONResp(w, 200, api.Image{ID: "sha256:" + fakeID, RepoTags: []string{r.URL.Query().Get("ref") + ":latest"}})
	})
	mux.HandleFunc("POST /v1/images/pull", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		var req api.PullRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		fa.mu.Lock()
		fa.images[req.Ref] = true
		fa.mu.Unlock()
		enc := json.NewEncoder(w)
		_ = enc.Encode(api.Progress{Layer: "sha256:aaaaaaaaaaaaaaaa", Total: 100, Current: 50})
		_ = enc.Encode(api.Progress{Layer: "sha256:aaaaaaaaaaaaaaaa", Total: 100, Current: 100, Done: true})
		_ = enc.Encode(api.Progress{ImageID: "sha256:" + fakeID, Status: "Downloaded newer image for " + req.Ref})
	})
	mux.HandleFunc("POST /v1/containers", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		var cfg api.ContainerConfig
		if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
			writeJSONResp(w, 400, api.Error{Message: err.Error()})
			return
		}
		fa.mu.Lock()
		fa.created = append(fa.created, cfg)
		fa.started[fakeID] = make(chan struct{}) // every test container has the same id
		fa.mu.Unlock()
		writeJSONResp(w, 201, api.CreateResponse{ID: fakeID})
	})
	mux.HandleFunc("GET /v1/containers", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		fa.mu.Lock()
		defer fa.mu.Unlock()
		writeJSONResp(w, 200, fa.containers)
	})
	mux.HandleFunc("GET /v1/containers/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		fa.mu.Lock()
		defer fa.mu.Unlock()
		enc := json.NewEncoder(w)
		for _, e := range fa.logs {
			_ = enc.Encode(e)
		}
	})
	mux.HandleFunc("POST /v1/containers/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		if cfg := fa.lastConfig(); cfg.Image == "nocmd" {
			writeJSONResp(w, http.StatusFailedDependency, api.Error{Message: `exec: "nope": executable file not found in $PATH`})
			return
		}
		close(fa.startChan(r.PathValue("id")))
		w.WriteHeader(204)
	})
	mux.HandleFunc("POST /v1/containers/{id}/attach", fa.attach)
	mux.HandleFunc("POST /v1/containers/{id}/exec", fa.exec)
	mux.HandleFunc("GET /v1/containers/{id}", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		if r.PathValue("id") != "web" {
			writeJSONResp(w, 404, api.Error{Message: "no such container " + r.PathValue("id")})
			return
		}
		writeJSONResp(w, 200, api.Container{ID: fakeID, Name: "web", Image: "busybox", State: api.ContainerState{Status: api.StateRunning, Running: true}})
	})
	mux.HandleFunc("GET /v1/containers/{id}/archive", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		fa.mu.Lock()
		defer fa.mu.Unlock()
		if fa.archive == nil {
			writeJSONResp(w, 404, api.Error{Message: "no such path " + r.URL.Query().Get("path")})
			return
		}
		_, _ = w.Write(fa.archive)
	})
	mux.HandleFunc("PUT /v1/containers/{id}/archive", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		b, _ := io.ReadAll(r.Body)
		fa.mu.Lock()
		fa.archive, fa.archiveDir = b, r.URL.Query().Get("path")
		fa.mu.Unlock()
		w.WriteHeader(204)
	})
	mux.HandleFunc("DELETE /v1/containers/{id}", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		w.WriteHeader(204)
	})
	mux.HandleFunc("POST /v1/cluster/nodes/{node}/{action}", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		if r.PathValue("action") == "drain" && r.PathValue("node") == "stuck" {
			<-r.Context().Done() // a pod that cannot go elsewhere: the drain waits until the client gives up
			return
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fa.record(r)
		writeJSONResp(w, 404, api.Error{Message: "no such endpoint " + r.URL.Path})
	})
	return mux
}

// attach hijacks the connection; once the container is started it echoes
// stdin (when asked) and records resize frames, then writes the command to stdout, "err" to stderr and
// an exit frame whose code is the container's "exit" label.
func (fa *fakeAgent) attach(w http.ResponseWriter, r *http.Request) {
	fa.record(r)
	withStdin, _ := strconv.ParseBool(r.URL.Query().Get("stdin"))
	// api.Client sends an empty body as chunked ("0\r\n\r\n"); drain it
	// before hijacking, or it would be read as the first frame.
	_, _ = io.Copy(io.Discard, r.Body)
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + api.UpgradeProtocol + "\r\n\r\n")
	_ = brw.Flush()
	select {
	case <-fa.startChan(r.PathValue("id")):
	case <-time.After(10 * time.Second):
		return
	}
	cfg := fa.lastConfig()
	out := api.NewFrameWriters(conn, api.FrameStdout, api.FrameStderr)
	if withStdin {
		br := bufio.NewReader(brw)
		for {
			kind, payload, err := api.ReadFrame(br)
			if err != nil || kind == api.FrameStdinClose {
				break
			}
			if kind == api.FrameResize {
				var rf api.ResizeFrame
				_ = json.Unmarshal(payload, &rf)
				fa.mu.Lock()
				fa.resizes = append(fa.resizes, rf)
				fa.mu.Unlock()
			}
			if kind == api.FrameStdin {
				_, _ = out[0].Write(payload)
				if cfg.Tty && strings.Contains(string(payload), "q") {
					break // a terminal in raw mode has no EOF: "q" ends the session
				}
			}
		}
	}
	_, _ = fmt.Fprintf(out[0], "out:%s\n", strings.Join(cfg.Cmd, " "))
	_, _ = fmt.Fprint(out[1], "err\n")
	code, _ := strconv.Atoi(cfg.Labels["exit"])
	b, _ := json.Marshal(api.ExitFrame{ExitCode: code})
	_ = api.WriteFrame(conn, api.FrameExit, b)
}

// exec hijacks the connection and answers by the command: "exit N" exits N,
// "missing" is a command that does not exist, anything else prints itself.
func (fa *fakeAgent) exec(w http.ResponseWriter, r *http.Request) {
	fa.record(r)
	var cfg api.ExecConfig
	_ = json.NewDecoder(r.Body).Decode(&cfg)
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + api.UpgradeProtocol + "\r\n\r\n")
	_ = brw.Flush()
	out := api.NewFrameWriters(conn, api.FrameStdout)
	ef := api.ExitFrame{}
	switch {
	case len(cfg.Cmd) == 2 && cfg.Cmd[0] == "exit":
		ef.ExitCode, _ = strconv.Atoi(cfg.Cmd[1])
	case len(cfg.Cmd) > 0 && cfg.Cmd[0] == "missing":
		ef = api.ExitFrame{ExitCode: 127, Kind: "not-found", Error: `exec: "missing": executable file not found in $PATH`}
	default:
		_, _ = fmt.Fprintf(out[0], "exec:%s env:%s user:%s\n", strings.Join(cfg.Cmd, " "), strings.Join(cfg.Env, ","), cfg.User)
	}
	b, _ := json.Marshal(ef)
	_ = api.WriteFrame(conn, api.FrameExit, b)
}
