package web

import (
	"fmt"
	"net/http"

	"kedge/api"
	"kedge/web/ui"
)

// MetricsPath is where the Prometheus metrics are served (with auth on the
// HTTPS API).
const MetricsPath = "/metrics"

// NodeEndpoints are the node-to-node endpoints of a cluster member, served
// on its HTTPS API next to the public API.
type NodeEndpoints struct {
	// Join admits a machine; it is public (the join token authenticates).
	Join http.HandlerFunc
	// Apply, RemoveServer and CAKey are for nodes only (a node
	// certificate); CAKey also gets the caller's node id.
	Apply        http.HandlerFunc
	RemoveServer http.HandlerFunc
	CAKey        func(w http.ResponseWriter, r *http.Request, callerID string)
	// ReadIndex answers a follower's consistent read (leader only).
	ReadIndex func(w http.ResponseWriter, r *http.Request, callerID string)
	// CAKeyFetch gives the CA key to a calling voter.
	CAKeyFetch func(w http.ResponseWriter, r *http.Request, callerID string)
	// Renew signs a renewal of the calling node's certificate.
	Renew func(w http.ResponseWriter, r *http.Request, callerID string)
	// Metrics serves /metrics (any authenticated caller).
	Metrics http.Handler
}

// EnableCluster adds the cluster's API to the server: reads (status, nodes,
// events, the watch stream) and operations (init, join, leave, tokens, node
// removal, snapshots, recover). onMember runs after init, join or recover
// succeed and onLeave after a leave, so the agent can start or stop its
// HTTPS listener. It returns the read API, to Close at shutdown.
func (s *Server) EnableCluster(ops ClusterOps, onMember, onLeave func()) *ClusterAPI {
	ca := NewClusterAPI(ops, s.log, ClusterAPIOptions{})
	p := api.APIPrefix + "/cluster"
	s.mux.HandleFunc("GET "+p+"/status", consistent(ops, ca.GetStatus))
	s.mux.HandleFunc("GET "+p+"/nodes", consistent(ops, ca.GetNodes))
	s.mux.HandleFunc("GET "+p+"/events", consistent(ops, ca.GetEvents))
	s.mux.HandleFunc("GET "+p+"/workloads", consistent(ops, ca.GetWorkloads))
	s.mux.HandleFunc("GET "+p+"/watch", ca.Watch)
	s.clusterRoutes(ops, onMember, onLeave)
	return ca
}

// NodeHandler is the HTTPS API of a cluster node: the status page and its
// sign-in (public), the join endpoint (public), the node-to-node endpoints
// (node certificates only) and the whole API behind auth (bearer tokens,
// the page's cookie, or node certificates).
func (s *Server) NodeHandler(auth *Auth, ep NodeEndpoints) (http.Handler, error) {
	page, err := ui.New()
	if err != nil {
		return nil, err
	}
	inner := http.NewServeMux()
	inner.HandleFunc("POST "+api.APIPrefix+"/auth/login", auth.Login)
	inner.HandleFunc("POST "+api.APIPrefix+"/auth/logout", auth.Logout)
	inner.Handle("GET /{$}", page)
	inner.Handle("GET "+ui.AssetsPrefix, page)
	inner.Handle(api.APIPrefix+"/", s)
	if ep.Metrics != nil {
		inner.Handle("GET "+MetricsPath, ep.Metrics)
	}

	nodeOnly := func(fn func(w http.ResponseWriter, r *http.Request, caller string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			if !ok || p.Role != RoleNode || p.Method != AuthNodeCert {
				writeJSON(w, http.StatusForbidden, api.Error{Message: fmt.Sprintf("%s is for cluster nodes only", r.URL.Path)})
				return
			}
			fn(w, r, p.Subject)
		}
	}
	plain := func(h http.HandlerFunc) func(http.ResponseWriter, *http.Request, string) {
		return func(w http.ResponseWriter, r *http.Request, _ string) { h(w, r) }
	}
	internal := api.APIPrefix + "/cluster/internal"
	inner.HandleFunc("POST "+internal+"/apply", nodeOnly(plain(ep.Apply)))
	inner.HandleFunc("POST "+internal+"/remove-server", nodeOnly(plain(ep.RemoveServer)))
	inner.HandleFunc("POST "+internal+"/ca-key", nodeOnly(ep.CAKey))
	if ep.ReadIndex != nil {
		inner.HandleFunc("POST "+internal+"/read-index", nodeOnly(ep.ReadIndex))
	}
	if ep.CAKeyFetch != nil {
		inner.HandleFunc("POST "+internal+"/ca-key-fetch", nodeOnly(ep.CAKeyFetch))
	}
	if ep.Renew != nil {
		inner.HandleFunc("POST "+internal+"/renew", nodeOnly(ep.Renew))
	}

	outer := http.NewServeMux()
	outer.HandleFunc("POST "+api.APIPrefix+"/cluster/join", ep.Join)
	outer.Handle("/", auth.Middleware(inner))
	return s.recovering(outer), nil
}

// recovering turns a handler panic into a 500, as ServeHTTP does.
func (s *Server) recovering(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", p)
				writeError(w, fmt.Errorf("internal error"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}
