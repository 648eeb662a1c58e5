package web

import (
	"net/http"

	"kedge/api"
)

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) {
	var req api.Network
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	n, err := s.eng.CreateNetwork(r.Context(), &req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, n)
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.eng.ListNetworks())
}

func (s *Server) inspectNetwork(w http.ResponseWriter, r *http.Request) {
	n, err := s.eng.InspectNetwork(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) removeNetwork(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.RemoveNetwork(r.Context(), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createPod(w http.ResponseWriter, r *http.Request) {
	var req api.PodConfig
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	p, err := s.eng.CreatePod(r.Context(), &req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) listPods(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.eng.ListPods())
}

func (s *Server) inspectPod(w http.ResponseWriter, r *http.Request) {
	p, err := s.eng.InspectPod(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) removePod(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.RemovePod(r.Context(), r.PathValue("id"), boolQuery(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
