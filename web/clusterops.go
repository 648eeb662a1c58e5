package web

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"kedge/api"
)

// ClusterOps are the cluster's operations the API exposes: forming and
// changing the cluster, tokens, node removal, snapshots. cluster.Manager
// implements it.
type ClusterOps interface {
	ClusterView
	Init(ctx context.Context, req api.InitRequest) (*api.InitResponse, error)
	Join(ctx context.Context, req api.JoinRequest) (*api.JoinResponse, error)
	Leave(ctx context.Context, req api.LeaveRequest) error
	CreateToken(ctx context.Context, req api.TokenCreateRequest) (*api.JoinToken, error)
	Tokens(ctx context.Context) ([]api.JoinToken, error)
	RevokeToken(ctx context.Context, id string) error
	RemoveNode(ctx context.Context, ref string) error
	SaveSnapshot(ctx context.Context, w io.Writer) error
	RestoreSnapshot(ctx context.Context, r io.Reader) error
	Recover(ctx context.Context, advertise string) error
	BackupCA(ctx context.Context, passphrase []byte) ([]byte, error)
	// ConsistentRead makes the following local reads linearizable.
	ConsistentRead(ctx context.Context) error
}

// consistent serves a read linearizably when asked (?consistent=true), as
// etcd and Consul do; by default reads are served from the local state.
func consistent(ops ClusterOps, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if boolQuery(r, "consistent") {
			if r.URL.Query().Get("index") != "" {
				// The read would come before the wait, and be stale by its end.
				writeError(w, fmt.Errorf("consistent and index (a blocking query) do not go together: %w", api.ErrInvalid))
				return
			}
			if err := ops.ConsistentRead(r.Context()); err != nil {
				writeError(w, err)
				return
			}
		}
		h(w, r)
	}
}

// clusterRoutes registers the cluster's operations. onMember runs after a
// successful init or join (the agent starts its TLS listener then), and
// onLeave after a leave.
func (s *Server) clusterRoutes(ops ClusterOps, onMember, onLeave func()) {
	p := api.APIPrefix + "/cluster"
	m := s.mux
	m.HandleFunc("POST "+p+"/init", func(w http.ResponseWriter, r *http.Request) {
		var req api.InitRequest
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		out, err := ops.Init(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		onMember()
		writeJSON(w, http.StatusOK, out)
	})
	m.HandleFunc("POST "+p+"/join-cluster", func(w http.ResponseWriter, r *http.Request) {
		var req api.JoinRequest
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		out, err := ops.Join(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		onMember()
		writeJSON(w, http.StatusOK, out)
	})
	m.HandleFunc("POST "+p+"/leave", func(w http.ResponseWriter, r *http.Request) {
		var req api.LeaveRequest
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if err := ops.Leave(r.Context(), req); err != nil {
			writeError(w, err)
			return
		}
		onLeave()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST "+p+"/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req api.TokenCreateRequest
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		out, err := ops.CreateToken(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, out)
	})
	m.HandleFunc("GET "+p+"/tokens", consistent(ops, func(w http.ResponseWriter, r *http.Request) {
		out, err := ops.Tokens(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}))
	m.HandleFunc("DELETE "+p+"/tokens/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := ops.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE "+p+"/nodes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := ops.RemoveNode(r.Context(), r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET "+p+"/snapshot", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := ops.SaveSnapshot(r.Context(), w); err != nil {
			writeError(w, err) // only reaches the client if nothing was written yet
		}
	})
	m.HandleFunc("PUT "+p+"/snapshot", func(w http.ResponseWriter, r *http.Request) {
		if err := ops.RestoreSnapshot(r.Context(), http.MaxBytesReader(w, r.Body, 1<<30)); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST "+p+"/ca-backup", func(w http.ResponseWriter, r *http.Request) {
		var req api.CABackupRequest
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		blob, err := ops.BackupCA(r.Context(), []byte(req.Passphrase))
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(blob)
	})
	m.HandleFunc("POST "+p+"/recover", func(w http.ResponseWriter, r *http.Request) {
		var req api.InitRequest
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if err := ops.Recover(r.Context(), req.Advertise); err != nil {
			writeError(w, err)
			return
		}
		onMember()
		w.WriteHeader(http.StatusNoContent)
	})
}
