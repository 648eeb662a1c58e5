// Package ui is the cluster's status page: a small HTML page, a vanilla
// JavaScript client and a stylesheet, embedded in the binary. The page reads
// the cluster API of package web (GET /v1/cluster/status, the
// server-sent-events stream GET /v1/cluster/watch) and signs in through
// POST /v1/auth/login. No framework, no build step, no CDN, no external fonts.
//
// Paths served by Handler: "/" (index.html) and "/assets/NAME" for the other
// embedded files.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// AssetsPrefix is the path under which the page's scripts and styles are served.
const AssetsPrefix = "/assets/"

// contentSecurityPolicy allows the page's own scripts, styles and API only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the embedded page.
type Handler struct {
	assets map[string]asset // by URL path
}

// New builds the handler from the embedded files.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]asset{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		name := strings.TrimPrefix(p, "static/")
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = http.DetectContentType(b)
		}
		sum := sha256.Sum256(b)
		a := asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if name == "index.html" {
			h.assets["/"] = a
		} else {
			h.assets[AssetsPrefix+name] = a
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("status page assets: %w", err)
	}
	if _, ok := h.assets["/"]; !ok {
		return nil, fmt.Errorf("status page assets: index.html is missing")
	}
	return h, nil
}

// ServeHTTP serves "/" and the assets; other paths get 404. Responses carry
// an ETag (conditional GETs get 304), no-cache, and a strict CSP.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
