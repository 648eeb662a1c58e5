package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerServesPage(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for path, ctype := range map[string]string{
		"/":                 "text/html",
		"/assets/app.js":    "javascript",
		"/assets/style.css": "text/css",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		res := rec.Result()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), ctype) || rec.Body.Len() == 0 {
			t.Fatalf("GET %s: %d %q (%d bytes)", path, res.StatusCode, res.Header.Get("Content-Type"), rec.Body.Len())
		}
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: security headers missing: %v", path, res.Header)
		}
		etag := res.Header.Get("ETag")
		rec = httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("If-None-Match", etag)
		h.ServeHTTP(rec, req)
		if etag == "" || rec.Code != http.StatusNotModified {
			t.Fatalf("GET %s with If-None-Match %s: %d, want 304", path, etag, rec.Code)
		}
	}
	for _, path := range []string{"/index.html", "/assets/", "/assets/nope.js", "/static/app.js", "/v1/anything"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 404 {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
}

// The page must work on closed networks: nothing it loads comes from
// elsewhere, and the markup keeps its accessible structure.
func TestPageIsSelfContained(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|fonts\.googleapis`)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := static.ReadFile(p)
		for _, line := range strings.Split(string(b), "\n") {
			trim := strings.TrimSpace(line)
			if strings.HasPrefix(trim, "//") || strings.HasPrefix(trim, "/*") {
				continue // comments
			}
			if m := external.FindString(line); m != "" {
				t.Errorf("%s refers outside the node: %q in %q", p, m, trim)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	html, _ := static.ReadFile("static/index.html")
	for _, want := range []string{`<th scope="col">`, `aria-live="polite"`, `<label for="token">`, `lang="en"`, `id="live"`, `id="workloads"`, `<caption`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
}
