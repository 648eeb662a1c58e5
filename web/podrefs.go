package web

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"kedge/api"
)

// PodRefPrefix starts a container reference that names a cluster pod's
// container, "pod:NAMESPACE:POD[:CONTAINER]", wherever it runs: the
// container endpoints (logs, exec, attach, top, stats ...) serve it here
// when the pod runs on this node, and proxy the request to its node
// otherwise.
const PodRefPrefix = "pod:"

// PodRefResolver finds a pod reference's container: its engine id when it
// runs on this node, else the API address (host:port) of its node.
type PodRefResolver func(ctx context.Context, ref string) (containerID, nodeAPI string, err error)

// podRefs serves pod references: resolve, then rewrite or proxy.
type podRefs struct {
	resolve   PodRefResolver
	transport http.RoundTripper
}

// SetPodRefs makes the container endpoints accept pod references; the
// transport reaches other nodes (mutual TLS with this node's identity).
func (s *Server) SetPodRefs(resolve PodRefResolver, transport http.RoundTripper) {
	s.pods = &podRefs{resolve: resolve, transport: transport}
}

// servePodRef handles a request whose container reference is a pod
// reference; it reports false when the request is not one.
func (s *Server) servePodRef(w http.ResponseWriter, r *http.Request) bool {
	prefix := api.APIPrefix + "/containers/" + PodRefPrefix
	if s.pods == nil || !strings.HasPrefix(r.URL.Path, prefix) {
		return false
	}
	rest := strings.TrimPrefix(r.URL.Path, api.APIPrefix+"/containers/")
	ref, tail, _ := strings.Cut(rest, "/")
	id, node, err := s.pods.resolve(r.Context(), ref)
	if err != nil {
		writeError(w, err)
		return true
	}
	if id != "" {
		r2 := r.Clone(r.Context())
		r2.URL.Path = api.APIPrefix + "/containers/" + url.PathEscape(id)
		if tail != "" {
			r2.URL.Path += "/" + tail
		}
		r2.URL.RawPath = ""
		s.mux.ServeHTTP(w, r2)
		return true
	}
	target := &url.URL{Scheme: "https", Host: node}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Del("Authorization") // the node authenticates with its certificate
			pr.Out.Header.Del("Cookie")
		},
		Transport:     s.pods.transport,
		FlushInterval: -1, // logs -f and exec stream
	}
	proxy.ServeHTTP(w, r)
	return true
}
