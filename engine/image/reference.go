package image

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// dockerHub is how the store spells Docker Hub in normalized names (as Docker
// does); go-containerregistry spells it index.docker.io.
const dockerHub = "docker.io"

// NormalizeRef returns the full form of an image reference as Docker shows
// it: "busybox" -> "docker.io/library/busybox:latest", "host:5000/x" ->
// "host:5000/x:latest", "x@sha256:..." -> "docker.io/library/x@sha256:...".
func NormalizeRef(ref string) (string, error) {
	repo, tag, dgst, err := splitRef(ref)
	if err != nil {
		return "", err
	}
	if dgst != "" {
		return repo + "@" + dgst, nil
	}
	return repo + ":" + tag, nil
}

// FamiliarName is the short form Docker prints ("busybox:latest" for
// "docker.io/library/busybox:latest"); other names come back unchanged.
func FamiliarName(normalized string) string {
	s := strings.TrimPrefix(normalized, dockerHub+"/")
	if s == normalized {
		return s
	}
	return strings.TrimPrefix(s, "library/")
}

// splitRef parses ref into its normalized repository, tag and digest.
func splitRef(ref string) (repo, tag, dgst string, err error) {
	if ref == "" || strings.TrimSpace(ref) != ref {
		return "", "", "", fmt.Errorf("reference %q: %w", ref, ErrInvalidReference)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", "", "", fmt.Errorf("reference %q: %w: %v", ref, ErrInvalidReference, err)
	}
	ctx := r.Context()
	reg := ctx.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	repo = reg + "/" + ctx.RepositoryStr()
	switch v := r.(type) {
	case name.Digest:
		return repo, "", v.DigestStr(), nil
	case name.Tag:
		return repo, v.TagStr(), "", nil
	}
	return "", "", "", fmt.Errorf("reference %q: %w", ref, ErrInvalidReference)
}

// remoteRef is the go-containerregistry form of a normalized reference, with
// plain HTTP when the host is insecure.
func (s *Store) remoteRef(normalized string, insecure bool) (name.Reference, error) {
	r, err := name.ParseReference(normalized)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w: %v", normalized, ErrInvalidReference, err)
	}
	if insecure || s.insecureHost(r.Context().RegistryStr()) {
		return name.ParseReference(normalized, name.Insecure)
	}
	return r, nil
}

// insecureHost reports whether host is listed in Options.Insecure.
func (s *Store) insecureHost(host string) bool {
	for _, h := range s.opts.Insecure {
		if h == host || (host == name.DefaultRegistry && h == dockerHub) {
			return true
		}
	}
	return false
}

// fullID recognises "sha256:<64 hex>" and a bare 64-hex id.
func fullID(ref string) (string, bool) {
	hex := strings.TrimPrefix(ref, "sha256:")
	if len(hex) == 64 && isHex(hex) {
		return "sha256:" + hex, true
	}
	return "", false
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// minIDPrefix is the shortest id prefix Get accepts.
const minIDPrefix = 12

// Get resolves ref like Docker: a name ("busybox" is
// "docker.io/library/busybox:latest"), a name@digest, "sha256:<id>", a full
// id, or a unique id prefix of 12 or more hex digits.
func (s *Store) Get(ref string) (*Image, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.resolveLocked(ref)
	if err != nil {
		return nil, err
	}
	return r.public(), nil
}

// List returns every image, newest first.
func (s *Store) List() ([]*Image, error) {
	s.mu.RLock()
	out := make([]*Image, 0, len(s.images))
	for _, r := range s.images {
		out = append(out, r.public())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Image) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// resolveLocked finds the record for ref. The caller holds s.mu.
func (s *Store) resolveLocked(ref string) (*record, error) {
	if id, ok := fullID(ref); ok {
		if r := s.images[id]; r != nil {
			return r, nil
		}
		return nil, fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	if n, err := NormalizeRef(ref); err == nil {
		if strings.Contains(n, "@") {
			for _, r := range s.images {
				if slices.Contains(r.RepoDigests, n) {
					return r, nil
				}
			}
		} else if id := s.tags[n]; id != "" && s.images[id] != nil {
			return s.images[id], nil
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if len(prefix) >= minIDPrefix && isHex(prefix) {
		var found *record
		for id, r := range s.images {
			if strings.HasPrefix(id, "sha256:"+prefix) {
				if found != nil {
					return nil, fmt.Errorf("image %q: %w", ref, ErrAmbiguous)
				}
				found = r
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, fmt.Errorf("image %q: %w", ref, ErrNotFound)
}
