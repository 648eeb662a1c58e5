package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"kedge/api"
)

func (s *Server) createContainer(w http.ResponseWriter, r *http.Request) {
	var cfg api.ContainerConfig
	if err := decode(r, &cfg); err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.eng.Create(r.Context(), &cfg)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) listContainers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.eng.List(boolQuery(r, "all")))
}

func (s *Server) inspectContainer(w http.ResponseWriter, r *http.Request) {
	c, err := s.eng.Inspect(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) removeContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.Remove(r.Context(), r.PathValue("id"), boolQuery(r, "force"), boolQuery(r, "volumes")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) startContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.Start(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// timeoutQuery reads ?t=seconds; nil when absent.
func timeoutQuery(r *http.Request) (*int, error) {
	v := r.URL.Query().Get("t")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -1 {
		return nil, fmt.Errorf("t=%q: want a number of seconds: %w", v, api.ErrInvalid)
	}
	return &n, nil
}

func (s *Server) stopContainer(w http.ResponseWriter, r *http.Request) {
	t, err := timeoutQuery(r)
	if err == nil {
		err = s.eng.Stop(r.Context(), r.PathValue("id"), t)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) restartContainer(w http.ResponseWriter, r *http.Request) {
	t, err := timeoutQuery(r)
	if err == nil {
		err = s.eng.Restart(r.Context(), r.PathValue("id"), t)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) killContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pauseContainer(pause bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.eng.Pause(r.Context(), r.PathValue("id"), pause); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) waitContainer(w http.ResponseWriter, r *http.Request) {
	resp, err := s.eng.Wait(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := api.LogsOptions{Follow: boolQuery(r, "follow"), Tail: -1}
	if v := q.Get("tail"); v != "" && v != "all" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, fmt.Errorf("tail=%q: want a number or all: %w", v, api.ErrInvalid))
			return
		}
		opts.Tail = n
	}
	var err error
	if opts.Since, err = timeQuery(r, "since"); err == nil {
		opts.Until, err = timeQuery(r, "until")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.eng.Inspect(r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	st := newStreamer(w)
	if err := s.eng.Logs(r.Context(), r.PathValue("id"), opts, func(e api.LogEntry) error { return st.send(e) }); err != nil {
		s.log.Debug("logs stream ended", "err", err)
	}
}

func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	first, err := s.eng.Stats(id)
	if err != nil {
		writeError(w, err)
		return
	}
	st := newStreamer(w)
	if err := st.send(first); err != nil || !boolQuery(r, "stream") {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		s1, err := s.eng.Stats(id)
		if err != nil || st.send(s1) != nil {
			return
		}
	}
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) {
	top, err := s.eng.Top(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, top)
}

func (s *Server) copyFrom(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		writeError(w, fmt.Errorf("path is required: %w", api.ErrInvalid))
		return
	}
	// Check before answering 200 so that a missing path is a 404.
	if _, err := s.eng.Inspect(r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	pw := &lazyWriter{w: w}
	if err := s.eng.CopyFrom(r.Context(), r.PathValue("id"), path, pw); err != nil {
		if !pw.started {
			writeError(w, err)
		}
		return
	}
	pw.start()
}

// lazyWriter sends the 200 header only when the first byte is written, so an
// early failure can still answer with an error status.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) start() {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/x-tar")
		l.w.WriteHeader(http.StatusOK)
	}
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.start()
	return l.w.Write(p)
}

func (s *Server) copyTo(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		writeError(w, fmt.Errorf("path is required: %w", api.ErrInvalid))
		return
	}
	if err := s.eng.CopyTo(r.Context(), r.PathValue("id"), path, r.Body); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resizeContainer(w http.ResponseWriter, r *http.Request) {
	h, _ := strconv.Atoi(r.URL.Query().Get("h"))
	wd, _ := strconv.Atoi(r.URL.Query().Get("w"))
	if err := s.eng.Resize(r.Context(), r.PathValue("id"), uint16(wd), uint16(h)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
