package web

import (
	"fmt"
	"net/http"
	"strings"

	"kedge/api"
	"kedge/engine"
	"kedge/engine/image"
)

func toAPIImage(img *image.Image) api.Image {
	c := img.Config.Config
	out := api.Image{
		ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Created: img.Created, Size: img.Size,
		Architecture: img.Config.Architecture, OS: img.Config.OS,
		Config: api.ImageConfig{User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, Labels: c.Labels, StopSignal: c.StopSignal},
	}
	for p := range c.ExposedPorts {
		out.Config.ExposedPorts = append(out.Config.ExposedPorts, p)
	}
	for v := range c.Volumes {
		out.Config.Volumes = append(out.Config.Volumes, v)
	}
	if out.RepoTags == nil {
		out.RepoTags = []string{}
	}
	return out
}

func (s *Server) importImage(w http.ResponseWriter, r *http.Request) {
	imgs, err := s.eng.Images().Import(r.Context(), r.Body)
	if err != nil {
		writeError(w, engine.ImageErr(err))
		return
	}
	out := make([]api.Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, toAPIImage(img))
	}
	writeJSON(w, http.StatusOK, out)
}

// transfer runs a pull or push, streaming progress lines; the last line has
// the image id or the error.
func (s *Server) transfer(w http.ResponseWriter, r *http.Request, push bool) {
	var req api.PullRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Ref == "" {
		writeError(w, fmt.Errorf("an image reference is required: %w", api.ErrInvalid))
		return
	}
	st := newStreamer(w)
	opts := image.PullOptions{
		Insecure: req.Insecure, Platform: req.Platform, Username: req.Username, Password: req.Password,
		Progress: func(p image.Progress) {
			_ = st.send(api.Progress{Layer: p.Layer, Current: p.Current, Total: p.Total, Done: p.Done})
		},
	}
	if push {
		if err := s.eng.Images().Push(r.Context(), req.Ref, opts); err != nil {
			_ = st.send(api.Progress{Error: err.Error()})
			return
		}
		_ = st.send(api.Progress{Status: "pushed " + req.Ref})
		return
	}
	img, err := s.eng.Images().Pull(r.Context(), req.Ref, opts)
	if err != nil {
		_ = st.send(api.Progress{Error: err.Error()})
		return
	}
	_ = st.send(api.Progress{Status: "pulled " + req.Ref, ImageID: img.ID})
}

func (s *Server) pullImage(w http.ResponseWriter, r *http.Request) { s.transfer(w, r, false) }
func (s *Server) pushImage(w http.ResponseWriter, r *http.Request) { s.transfer(w, r, true) }

func (s *Server) tagImage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := s.eng.Images().Tag(r.Context(), q.Get("source"), q.Get("target")); err != nil {
		writeError(w, engine.ImageErr(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := s.eng.Images().List()
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]api.Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, toAPIImage(img))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) inspectImage(w http.ResponseWriter, r *http.Request) {
	img, err := s.eng.Images().Get(r.URL.Query().Get("ref"))
	if err != nil {
		writeError(w, engine.ImageErr(err))
		return
	}
	writeJSON(w, http.StatusOK, toAPIImage(img))
}

func (s *Server) removeImage(w http.ResponseWriter, r *http.Request) {
	lines, err := s.eng.RemoveImage(r.Context(), r.URL.Query().Get("ref"), boolQuery(r, "force"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RemoveResponse{Lines: lines})
}

func (s *Server) pruneImages(w http.ResponseWriter, r *http.Request) {
	n, lines, err := s.eng.PruneImages(r.Context(), boolQuery(r, "all"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RemoveResponse{Lines: lines, Reclaimed: n})
}

func (s *Server) saveImages(w http.ResponseWriter, r *http.Request) {
	refs := r.URL.Query()["ref"]
	if len(refs) == 0 {
		writeError(w, fmt.Errorf("at least one image is required: %w", api.ErrInvalid))
		return
	}
	for _, ref := range refs {
		if _, err := s.eng.Images().Get(ref); err != nil {
			writeError(w, engine.ImageErr(err))
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	if err := s.eng.Images().Save(r.Context(), w, refs); err != nil {
		s.log.Warn("save images", "refs", strings.Join(refs, ","), "err", err)
	}
}

func (s *Server) createVolume(w http.ResponseWriter, r *http.Request) {
	var v api.Volume
	if err := decode(r, &v); err != nil {
		writeError(w, err)
		return
	}
	if v.Name == "" {
		v.Name = engine.NewVolumeName()
	}
	out, _, err := s.eng.Volumes().Create(v.Name, v.Labels, false)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) {
	vs, err := s.eng.ListVolumes()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, vs)
}

func (s *Server) inspectVolume(w http.ResponseWriter, r *http.Request) {
	v, err := s.eng.InspectVolume(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) removeVolume(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.RemoveVolume(r.PathValue("name"), boolQuery(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pruneVolumes(w http.ResponseWriter, r *http.Request) {
	names, err := s.eng.PruneVolumes()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RemoveResponse{Lines: names})
}
