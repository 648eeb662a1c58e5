//go:build linux

package image

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is an in-memory registry on a loopback address that counts
// the blob downloads it serves.
type testRegistry struct {
	host      string
	blobGets  atomic.Int64
	manifests atomic.Int64
}

// startRegistry serves go-containerregistry's in-memory registry on addr
// ("127.0.0.1:0"; 127.0.0.2 is one go-containerregistry does not assume to
// be plain HTTP). wrap, when set, wraps the handler (auth).
func startRegistry(t testing.TB, addr string, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials from the machine
	tr := &testRegistry{}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	inner := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			tr.blobGets.Add(1)
		}
		if strings.Contains(r.URL.Path, "/manifests/") {
			tr.manifests.Add(1)
		}
		inner.ServeHTTP(w, r)
	})
	if wrap != nil {
		h = wrap(h)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	tr.host = l.Addr().String()
	return tr
}

// pushRemote uploads img to the registry with go-containerregistry itself.
func pushRemote(t testing.TB, ref string, img v1.Image, opts ...name.Option) {
	t.Helper()
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func TestPullAndRepullSkipsBlobs(t *testing.T) {
	reg := startRegistry(t, "127.0.0.1:0", nil)
	src := randomImage(t, 10, 3, "")
	pushRemote(t, reg.host+"/team/app:1", src)
	pushRemote(t, reg.host+"/team/app:2", src)
	s := newStore(t, Options{})
	ctx := context.Background()
	var mu sync.Mutex
	done := map[string]bool{}
	img, err := s.Pull(ctx, reg.host+"/team/app:1", PullOptions{Progress: func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Done {
			done[p.Layer] = p.Current == p.Total
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := src.Digest()
	if img.ID != configName(t, src) || !slices.Equal(img.RepoTags, []string{reg.host + "/team/app:1"}) ||
		!slices.Equal(img.RepoDigests, []string{reg.host + "/team/app@" + md.String()}) {
		t.Fatalf("pulled %+v", img)
	}
	if len(done) != 3 {
		t.Errorf("progress reported %d finished layers, want 3: %v", len(done), done)
	}
	if n := reg.blobGets.Load(); n != 4 {
		t.Errorf("%d blob downloads, want 4 (config and 3 layers)", n)
	}
	assertRandomFiles(t, s, img, 3)
	// Same image under another tag: nothing downloaded again.
	img2, err := s.Pull(ctx, reg.host+"/team/app:2", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.blobGets.Load(); n != 4 {
		t.Errorf("re-pull downloaded blobs again: %d downloads", n)
	}
	if img2.ID != img.ID || len(img2.RepoTags) != 2 {
		t.Errorf("re-pulled %+v", img2)
	}
	// By digest: found locally by that digest afterwards.
	byDigest := reg.host + "/team/app@" + md.String()
	if _, err := s.Pull(ctx, byDigest, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(byDigest); err != nil || got.ID != img.ID {
		t.Errorf("get by digest: %v %v", got, err)
	}
}

func multiArchIndex(t testing.TB) (v1.ImageIndex, map[string]string) {
	ids := map[string]string{}
	var adds []mutate.IndexAddendum
	for i, p := range []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "windows/amd64"} {
		img := randomImage(t, int64(20+i), 1, p)
		plat, _ := v1.ParsePlatform(p)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
		ids[p] = configName(t, img)
	}
	return mutate.AppendManifests(empty.Index, adds...), ids
}

func TestPullMultiArchPicksPlatform(t *testing.T) {
	reg := startRegistry(t, "127.0.0.1:0", nil)
	idx, ids := multiArchIndex(t)
	r, _ := name.ParseReference(reg.host + "/multi:1")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Options{})
	ctx := context.Background()
	for platform, want := range map[string]string{
		"linux/amd64":  ids["linux/amd64"],
		"linux/arm64":  ids["linux/arm64/v8"],
		"linux/arm/v7": ids["linux/arm/v7"],
		"linux/arm":    ids["linux/arm/v7"],
		"linux/arm/v6": ids["linux/arm/v6"],
	} {
		img, err := s.Pull(ctx, reg.host+"/multi:1", PullOptions{Platform: platform})
		if err != nil {
			t.Fatalf("pull for %s: %v", platform, err)
		}
		if img.ID != want {
			t.Errorf("pull for %s got %s, want %s", platform, img.ID, want)
		}
	}
	_, err := s.Pull(ctx, reg.host+"/multi:1", PullOptions{Platform: "linux/s390x"})
	if !errors.Is(err, ErrNoPlatform) || !strings.Contains(err.Error(), "linux/arm64/v8") ||
		!strings.HasPrefix(err.Error(), "pull "+reg.host+"/multi:1: ") {
		t.Errorf("no platform: %v", err)
	}
	t.Log(err)
	// A single-platform image is refused for another explicit platform.
	pushRemote(t, reg.host+"/single:1", randomImage(t, 29, 1, "linux/amd64"))
	if _, err := s.Pull(ctx, reg.host+"/single:1", PullOptions{Platform: "linux/arm64"}); !errors.Is(err, ErrNoPlatform) {
		t.Errorf("single platform mismatch: %v", err)
	}
	if _, err := s.Pull(ctx, reg.host+"/single:1", PullOptions{Platform: "linux/amd64"}); err != nil {
		t.Errorf("single platform match: %v", err)
	}
}

func TestPullUnknownImage(t *testing.T) {
	reg := startRegistry(t, "127.0.0.1:0", nil)
	pushRemote(t, reg.host+"/there:1", randomImage(t, 30, 1, ""))
	s := newStore(t, Options{})
	_, err := s.Pull(context.Background(), reg.host+"/there:nope", PullOptions{})
	if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "pull "+reg.host+"/there:nope: ") ||
		!strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Fatalf("unknown tag: %v", err)
	}
	_, err = s.Pull(context.Background(), reg.host+"/missing", PullOptions{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), reg.host+"/missing:latest") {
		t.Fatalf("unknown repository: %v", err)
	}
	t.Log(err)
}

func TestPullBasicAuth(t *testing.T) {
	reg := startRegistry(t, "127.0.0.1:0", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"auth required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	s := newStore(t, Options{})
	ctx := context.Background()
	local := create(t, s, reg.host+"/private:1", newTar(t).file("secret", "s").bytes())
	creds := PullOptions{Username: "alice", Password: "s3cret"}
	if err := s.Push(ctx, reg.host+"/private:1", PullOptions{}); err == nil {
		t.Fatal("push without credentials succeeded")
	}
	if err := s.Push(ctx, reg.host+"/private:1", creds); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	other := newStore(t, Options{})
	if _, err := other.Pull(ctx, reg.host+"/private:1", PullOptions{}); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("pull without credentials: %v", err)
	}
	img, err := other.Pull(ctx, reg.host+"/private:1", creds)
	if err != nil || img.ID != local.ID {
		t.Fatalf("pull with credentials: %v %v", img, err)
	}
}

func TestPushThenPullElsewhere(t *testing.T) {
	reg := startRegistry(t, "127.0.0.1:0", nil)
	s := newStore(t, Options{})
	ctx := context.Background()
	local := create(t, s, "app:1", newTar(t).file("a", "1").bytes(), newTar(t).file("b", "2").bytes())
	if err := s.Tag(ctx, "app:1", reg.host+"/app:1"); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	if err := s.Push(ctx, reg.host+"/app:1", PullOptions{Progress: func(Progress) { calls.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() == 0 {
		t.Error("no push progress")
	}
	r, _ := name.ParseReference(reg.host + "/app:1")
	remoteImg, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if configName(t, remoteImg) != local.ID {
		t.Fatalf("registry has config %s, want %s", configName(t, remoteImg), local.ID)
	}
	other := newStore(t, Options{})
	img, err := other.Pull(ctx, reg.host+"/app:1", PullOptions{})
	if err != nil || img.ID != local.ID {
		t.Fatalf("pull pushed image: %+v %v", img, err)
	}
	if err := s.Push(ctx, reg.host+"/nothere:1", PullOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("push of a missing image: %v", err)
	}
}

func TestPullInsecureHost(t *testing.T) {
	// 127.0.0.2 is not a host go-containerregistry assumes to speak plain HTTP.
	reg := startRegistry(t, "127.0.0.2:0", nil)
	src := randomImage(t, 40, 1, "")
	pushRemote(t, reg.host+"/plain:1", src, name.Insecure)
	ctx := context.Background()
	s := newStore(t, Options{})
	if _, err := s.Pull(ctx, reg.host+"/plain:1", PullOptions{}); err == nil {
		t.Fatal("pull over HTTPS from a plain HTTP registry succeeded")
	}
	if img, err := s.Pull(ctx, reg.host+"/plain:1", PullOptions{Insecure: true}); err != nil || img.ID != configName(t, src) {
		t.Fatalf("PullOptions.Insecure: %v %v", img, err)
	}
	s2 := newStore(t, Options{Insecure: []string{reg.host}})
	if img, err := s2.Pull(ctx, reg.host+"/plain:1", PullOptions{}); err != nil || img.ID != configName(t, src) {
		t.Fatalf("Options.Insecure: %v %v", img, err)
	}
}

func TestPullMirrorFirst(t *testing.T) {
	mirror := startRegistry(t, "127.0.0.1:0", nil)
	origin := startRegistry(t, "127.0.0.1:0", nil)
	src := randomImage(t, 50, 1, "")
	pushRemote(t, mirror.host+"/library/busybox:latest", src)
	pushRemote(t, origin.host+"/only/origin:1", src)
	ctx := context.Background()
	s := newStore(t, Options{Mirrors: map[string][]string{
		"docker.io": {mirror.host},
		origin.host: {"127.0.0.1:1", mirror.host}, // a dead mirror first
	}})
	// Docker Hub names go to the mirror (the test has no network).
	img, err := s.Pull(ctx, "busybox", PullOptions{})
	if err != nil || img.ID != configName(t, src) || !slices.Equal(img.RepoTags, []string{"docker.io/library/busybox:latest"}) {
		t.Fatalf("pull through mirror: %+v %v", img, err)
	}
	// A mirror without the image falls back to the origin.
	before := origin.manifests.Load()
	if _, err := s.Pull(ctx, origin.host+"/only/origin:1", PullOptions{}); err != nil {
		t.Fatalf("fallback to origin: %v", err)
	}
	if origin.manifests.Load() == before {
		t.Error("origin was not asked")
	}
}

func TestPullTokenAuth(t *testing.T) {
	const token = "tok-123"
	var realm string
	reg := startRegistry(t, "127.0.0.1:0", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "pw" {
					http.Error(w, "bad credentials", http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"token":"`+token+`"}`)
				return
			}
			if r.Header.Get("Authorization") != "Bearer "+token {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	realm = "http://" + reg.host + "/token"
	s := newStore(t, Options{})
	ctx := context.Background()
	local := create(t, s, reg.host+"/tok:1", newTar(t).file("t", "t").bytes())
	creds := PullOptions{Username: "bob", Password: "pw"}
	if err := s.Push(ctx, reg.host+"/tok:1", creds); err != nil {
		t.Fatalf("push with token auth: %v", err)
	}
	other := newStore(t, Options{})
	if _, err := other.Pull(ctx, reg.host+"/tok:1", PullOptions{Username: "bob", Password: "wrong"}); err == nil {
		t.Fatal("pull with wrong credentials succeeded")
	}
	img, err := other.Pull(ctx, reg.host+"/tok:1", creds)
	if err != nil || img.ID != local.ID {
		t.Fatalf("pull with token auth: %v %v", img, err)
	}
}
