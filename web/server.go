// Package web serves Kedge's HTTP API (JSON, with streaming endpoints for
// logs, events, pull progress, attach and exec) over the agent's unix socket,
// and later over HTTPS with the status page. Handlers translate HTTP to engine
// calls; errors map to status codes through api.HTTPStatus.
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"kedge/api"
	"kedge/engine"
)

// Server is the API's HTTP handler.
type Server struct {
	eng     *engine.Engine
	version api.Version
	log     *slog.Logger
	mux     *http.ServeMux
	// pods serves container references to cluster pods (SetPodRefs).
	pods *podRefs
	// closing ends the blocking queries of the workload API at shutdown
	// (Close); http.Server.Shutdown alone would wait for them.
	closing   chan struct{}
	closeOnce sync.Once
}

// New builds the API handler over an engine. Call Close when the HTTP
// server shuts down (http.Server.RegisterOnShutdown(s.Close)).
func New(eng *engine.Engine, version api.Version, log *slog.Logger) *Server {
	s := &Server{eng: eng, version: version, log: log.With("subsystem", "api"), mux: http.NewServeMux(), closing: make(chan struct{})}
	s.routes()
	return s
}

// Close ends the waiting blocking queries (they answer with the state they
// have); later ones answer at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			writeError(w, errors.New("internal error"))
		}
	}()
	if s.servePodRef(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	p := api.APIPrefix
	m := s.mux
	m.HandleFunc("GET "+p+"/version", s.getVersion)
	m.HandleFunc("GET "+p+"/info", s.getInfo)
	m.HandleFunc("GET "+p+"/events", s.getEvents)

	m.HandleFunc("POST "+p+"/containers", s.createContainer)
	m.HandleFunc("GET "+p+"/containers", s.listContainers)
	m.HandleFunc("GET "+p+"/containers/{id}", s.inspectContainer)
	m.HandleFunc("DELETE "+p+"/containers/{id}", s.removeContainer)
	m.HandleFunc("POST "+p+"/containers/{id}/start", s.startContainer)
	m.HandleFunc("POST "+p+"/containers/{id}/stop", s.stopContainer)
	m.HandleFunc("POST "+p+"/containers/{id}/restart", s.restartContainer)
	m.HandleFunc("POST "+p+"/containers/{id}/kill", s.killContainer)
	m.HandleFunc("POST "+p+"/containers/{id}/pause", s.pauseContainer(true))
	m.HandleFunc("POST "+p+"/containers/{id}/unpause", s.pauseContainer(false))
	m.HandleFunc("POST "+p+"/containers/{id}/wait", s.waitContainer)
	m.HandleFunc("GET "+p+"/containers/{id}/logs", s.containerLogs)
	m.HandleFunc("GET "+p+"/containers/{id}/stats", s.containerStats)
	m.HandleFunc("GET "+p+"/containers/{id}/top", s.containerTop)
	m.HandleFunc("GET "+p+"/containers/{id}/archive", s.copyFrom)
	m.HandleFunc("PUT "+p+"/containers/{id}/archive", s.copyTo)
	m.HandleFunc("POST "+p+"/containers/{id}/resize", s.resizeContainer)
	m.HandleFunc("POST "+p+"/containers/{id}/attach", s.attachContainer)
	m.HandleFunc("POST "+p+"/containers/{id}/exec", s.execContainer)

	m.HandleFunc("POST "+p+"/images/import", s.importImage)
	m.HandleFunc("POST "+p+"/images/pull", s.pullImage)
	m.HandleFunc("POST "+p+"/images/push", s.pushImage)
	m.HandleFunc("POST "+p+"/images/tag", s.tagImage)
	m.HandleFunc("GET "+p+"/images", s.listImages)
	m.HandleFunc("GET "+p+"/images/inspect", s.inspectImage)
	m.HandleFunc("DELETE "+p+"/images", s.removeImage)
	m.HandleFunc("POST "+p+"/images/prune", s.pruneImages)
	m.HandleFunc("GET "+p+"/images/save", s.saveImages)

	m.HandleFunc("POST "+p+"/volumes", s.createVolume)
	m.HandleFunc("GET "+p+"/volumes", s.listVolumes)
	m.HandleFunc("GET "+p+"/volumes/{name}", s.inspectVolume)
	m.HandleFunc("DELETE "+p+"/volumes/{name}", s.removeVolume)
	m.HandleFunc("POST "+p+"/volumes/prune", s.pruneVolumes)

	m.HandleFunc("POST "+p+"/networks", s.createNetwork)
	m.HandleFunc("GET "+p+"/networks", s.listNetworks)
	m.HandleFunc("GET "+p+"/networks/{name}", s.inspectNetwork)
	m.HandleFunc("DELETE "+p+"/networks/{name}", s.removeNetwork)
	m.HandleFunc("POST "+p+"/pods", s.createPod)
	m.HandleFunc("GET "+p+"/pods", s.listPods)
	m.HandleFunc("GET "+p+"/pods/{id}", s.inspectPod)
	m.HandleFunc("DELETE "+p+"/pods/{id}", s.removePod)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, api.HTTPStatus(err), api.Error{Message: err.Error()})
}

// decode reads a JSON body (at most 4 MiB) into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed request body: %v: %w", err, api.ErrInvalid)
	}
	return nil
}

func boolQuery(r *http.Request, key string) bool {
	b, _ := strconv.ParseBool(r.URL.Query().Get(key))
	return b
}

func timeQuery(r *http.Request, key string) (time.Time, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, fmt.Errorf("%s: want an RFC 3339 time: %w", key, api.ErrInvalid)
	}
	return t, nil
}

// streamer writes newline-delimited JSON values, flushing each.
type streamer struct {
	w   http.ResponseWriter
	enc *json.Encoder
	f   http.Flusher
}

func newStreamer(w http.ResponseWriter) *streamer {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	st := &streamer{w: w, enc: json.NewEncoder(w), f: f}
	st.flush()
	return st
}

func (st *streamer) send(v any) error {
	if err := st.enc.Encode(v); err != nil {
		return err
	}
	st.flush()
	return nil
}

func (st *streamer) flush() {
	if st.f != nil {
		st.f.Flush()
	}
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.version)
}

func (s *Server) getInfo(w http.ResponseWriter, r *http.Request) {
	info := s.eng.Info()
	info.Version = s.version
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	since, err := timeQuery(r, "since")
	if err != nil {
		writeError(w, err)
		return
	}
	st := newStreamer(w)
	_ = s.eng.Events(r.Context(), since, func(ev api.Event) error { return st.send(ev) })
}
