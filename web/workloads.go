package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"kedge/api"
)

// WorkloadOps are the workload operations the API exposes: apply, get,
// delete and scale. cluster.Manager implements it.
type WorkloadOps interface {
	// StateIndexer makes the object reads blocking queries.
	StateIndexer
	ApplyObjects(ctx context.Context, objs []api.Object) ([]api.ApplyResult, error)
	GetObjects(ctx context.Context, kind, namespace, name string) ([]json.RawMessage, error)
	DeleteObject(ctx context.Context, kind, namespace, name string) error
	Scale(ctx context.Context, namespace, name string, replicas int32) error
	Cordon(ctx context.Context, node string, cordoned bool) error
	Drain(ctx context.Context, node string) error
	RolloutHistory(ctx context.Context, namespace, name string) ([]api.Revision, error)
	RolloutUndo(ctx context.Context, namespace, name string, toRevision int) error
	RolloutRestart(ctx context.Context, namespace, name string) error
}

// EnableWorkloads adds the workload API: POST /v1/objects (a manifest file,
// YAML or JSON, several documents), GET /v1/objects/{kind} (?namespace=,
// ?name=; a blocking query with ?index=&wait=, see api.IndexHeader), DELETE
// /v1/objects/{kind}/{namespace}/{name} and POST
// /v1/objects/deployment/{namespace}/{name}/scale?replicas=N.
func (s *Server) EnableWorkloads(ops WorkloadOps) {
	p := api.APIPrefix + "/objects"
	s.mux.HandleFunc("POST "+p, func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
		if err != nil {
			writeError(w, err)
			return
		}
		objs, err := api.DecodeManifests(data, r.URL.Query().Get("source"))
		if err != nil {
			writeError(w, err)
			return
		}
		out, err := ops.ApplyObjects(r.Context(), objs)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	s.mux.HandleFunc("GET "+p+"/{kind}", func(w http.ResponseWriter, r *http.Request) {
		if !awaitIndex(w, r, ops, nil, s.closing) {
			return
		}
		q := r.URL.Query()
		out, err := ops.GetObjects(r.Context(), r.PathValue("kind"), q.Get("namespace"), q.Get("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		if out == nil {
			out = []json.RawMessage{}
		}
		writeJSON(w, http.StatusOK, out)
	})
	s.mux.HandleFunc("DELETE "+p+"/{kind}/{namespace}/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := ops.DeleteObject(r.Context(), r.PathValue("kind"), r.PathValue("namespace"), r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for action, fn := range map[string]func(ctx context.Context, node string) error{
		"cordon":   func(ctx context.Context, n string) error { return ops.Cordon(ctx, n, true) },
		"uncordon": func(ctx context.Context, n string) error { return ops.Cordon(ctx, n, false) },
		"drain":    ops.Drain,
	} {
		s.mux.HandleFunc("POST "+api.APIPrefix+"/cluster/nodes/{id}/"+action, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(r.Context(), r.PathValue("id")); err != nil {
				writeError(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	s.mux.HandleFunc("GET "+p+"/deployment/{namespace}/{name}/history", func(w http.ResponseWriter, r *http.Request) {
		out, err := ops.RolloutHistory(r.Context(), r.PathValue("namespace"), r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	s.mux.HandleFunc("POST "+p+"/deployment/{namespace}/{name}/undo", func(w http.ResponseWriter, r *http.Request) {
		to := 0
		if v := r.URL.Query().Get("to-revision"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeError(w, api.ErrInvalid)
				return
			}
			to = n
		}
		if err := ops.RolloutUndo(r.Context(), r.PathValue("namespace"), r.PathValue("name"), to); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("POST "+p+"/deployment/{namespace}/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		if err := ops.RolloutRestart(r.Context(), r.PathValue("namespace"), r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("POST "+p+"/deployment/{namespace}/{name}/scale", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("replicas"), 10, 32)
		if err != nil {
			writeError(w, api.ErrInvalid)
			return
		}
		if err := ops.Scale(r.Context(), r.PathValue("namespace"), r.PathValue("name"), int32(n)); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
