//go:build linux

package image

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// FuzzNormalizeRef: reference parsing never panics and is idempotent.
func FuzzNormalizeRef(f *testing.F) {
	for _, s := range []string{"busybox", "host:5000/a/b:c", "x@sha256:" + hex64, "UPPER", "a:b:c", "", "::", "localhost"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		n, err := NormalizeRef(ref)
		if err != nil {
			return
		}
		again, err := NormalizeRef(n)
		if err != nil || again != n {
			t.Fatalf("NormalizeRef(%q) = %q, but NormalizeRef(%q) = %q, %v", ref, n, n, again, err)
		}
		_ = FamiliarName(n)
		_, _ = parsePlatform(ref)
	})
}

// FuzzParseManifests: the archive metadata parsers never panic.
func FuzzParseManifests(f *testing.F) {
	f.Add([]byte(`[{"Config":"c.json","RepoTags":["busybox:latest"],"Layers":["l/layer.tar"]}]`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:` + hex64 + `","annotations":{"org.opencontainers.image.ref.name":"x:1"}}]}`))
	f.Add([]byte(`[{}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if entries, err := parseDockerManifest(b); err == nil {
			for _, e := range entries {
				_, _ = normalizeTags(e.RepoTags)
				for _, l := range e.Layers {
					if c := cleanArchiveName(l); strings.HasPrefix(c, "/") || strings.HasPrefix(c, "..") {
						t.Fatalf("cleanArchiveName(%q) = %q", l, c)
					}
				}
			}
		}
	})
}

// FuzzImport: arbitrary archive bytes are refused or imported, never panic,
// and leave the store consistent.
func FuzzImport(f *testing.F) {
	requireRoot(f)
	for _, seed := range importSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newStore(t, Options{MaxLayerSize: 1 << 20, MaxLayerEntries: 1000})
		_, _ = s.Import(context.Background(), bytes.NewReader(b))
	})
}
