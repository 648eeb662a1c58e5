package web

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/api"
)

const (
	adminToken = "kdg_admin_4f1b8c2e9d7a6b5c"
	badToken   = "kdg_wrong_0000000000000000"
)

// checkToken is a CheckToken as the lead's RBAC gives it: constant time.
func checkToken(token string) (string, string, bool) {
	if subtle.ConstantTimeCompare([]byte(token), []byte(adminToken)) == 1 {
		return "admin", "admin", true
	}
	return "", "", false
}

// lockedBuffer collects logs written by handler goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// whoami answers the request's principal.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := PrincipalFrom(r.Context())
	if !ok {
		writeJSON(w, http.StatusInternalServerError, api.Error{Message: "no principal"})
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// authMux is the auth-guarded API as the lead wires it, with a whoami
// endpoint and a public page.
func authMux(a *Auth) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/auth/login", a.Login)
	mux.HandleFunc("POST /v1/auth/logout", a.Logout)
	mux.HandleFunc("GET /v1/whoami", whoami)
	mux.HandleFunc("POST /v1/whoami", whoami)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	return a.Middleware(mux)
}

type result struct {
	code    int
	body    string
	header  http.Header
	cookies []*http.Cookie
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr map[string]string, cookies ...*http.Cookie) result {
	t.Helper()
	req := httptest.NewRequest(method, "https://node:7780"+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	return result{code: res.StatusCode, body: rec.Body.String(), header: res.Header, cookies: res.Cookies()}
}

func TestAuthBearer(t *testing.T) {
	logs := &lockedBuffer{}
	h := authMux(NewAuth(checkToken, nil, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))

	for _, tc := range []struct {
		name, auth string
	}{
		{"no credentials", ""},
		{"bad token", "Bearer " + badToken},
		{"basic scheme", "Basic YWRtaW46eA=="},
		{"empty bearer", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			r := do(t, h, "GET", "/v1/whoami", "", hdr)
			var e api.Error
			if r.code != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") || json.Unmarshal([]byte(r.body), &e) != nil || e.Message == "" {
				t.Fatalf("got %d %q %q, want 401 with WWW-Authenticate: Bearer and a JSON message", r.code, r.header.Get("WWW-Authenticate"), r.body)
			}
		})
	}

	r := do(t, h, "GET", "/v1/whoami", "", map[string]string{"Authorization": "bearer " + adminToken})
	var p Principal
	if r.code != 200 || json.Unmarshal([]byte(r.body), &p) != nil || p != (Principal{Subject: "admin", Role: "admin", Method: AuthBearer}) {
		t.Fatalf("good token: %d %s", r.code, r.body)
	}
	// A bad header is not rescued by a good cookie.
	good := &http.Cookie{Name: TokenCookie, Value: encodeCookie(adminToken)}
	if r := do(t, h, "GET", "/v1/whoami", "", map[string]string{"Authorization": "Bearer " + badToken}, good); r.code != 401 {
		t.Fatalf("bad header + good cookie: %d", r.code)
	}
	if out := logs.String(); strings.Contains(out, adminToken) || strings.Contains(out, badToken) || !strings.Contains(out, "unauthenticated") {
		t.Fatalf("logs must show refusals and no token:\n%s", out)
	}
}

func encodeCookie(token string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(token))
}

func TestAuthPublicPaths(t *testing.T) {
	for path, public := range map[string]bool{
		"/": true, "/assets/app.js": true, "/v1/auth/login": true, "/v1/auth/logout": true,
		"/v1": false, "/v1/": false, "/v1/cluster/status": false, "/v1/cluster/watch": false,
		"/v1/auth/loginx": false, "/v1x": true, "/v1/containers": false,
	} {
		if got := IsPublicPath(path); got != public {
			t.Errorf("IsPublicPath(%q) = %v, want %v", path, got, public)
		}
	}
	h := authMux(NewAuth(checkToken, nil, testLogger(t)))
	if r := do(t, h, "GET", "/", "", nil); r.code != 200 || r.body != "page" {
		t.Fatalf("page without credentials: %d %q", r.code, r.body)
	}
}

func TestAuthCookieFlow(t *testing.T) {
	logs := &lockedBuffer{}
	h := authMux(NewAuth(checkToken, nil, slog.New(slog.NewTextHandler(logs, nil))))
	jsonCT := map[string]string{"Content-Type": "application/json"}

	if r := do(t, h, "POST", "/v1/auth/login", `{"token":"`+badToken+`"}`, jsonCT); r.code != 401 || len(r.cookies) != 0 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("login with a bad token: %d %v", r.code, r.cookies)
	}
	if r := do(t, h, "POST", "/v1/auth/login", `{"token":"`+adminToken+`"}`, map[string]string{"Content-Type": "text/plain"}); r.code != http.StatusUnsupportedMediaType || len(r.cookies) != 0 {
		t.Fatalf("login as a form would post it: %d %v", r.code, r.cookies)
	}
	if r := do(t, h, "POST", "/v1/auth/login", `{"token":""}`, jsonCT); r.code != 400 {
		t.Fatalf("login with an empty token: %d", r.code)
	}

	r := do(t, h, "POST", "/v1/auth/login", `{"token":"`+adminToken+`"}`, jsonCT)
	if r.code != 200 || len(r.cookies) != 1 {
		t.Fatalf("login: %d %s %v", r.code, r.body, r.cookies)
	}
	c := r.cookies[0]
	if c.Name != TokenCookie || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Value == "" {
		t.Fatalf("cookie: %+v", c)
	}
	var p Principal
	if r := do(t, h, "GET", "/v1/whoami", "", nil, c); r.code != 200 || json.Unmarshal([]byte(r.body), &p) != nil || p.Method != AuthCookie || p.Subject != "admin" {
		t.Fatalf("request with the cookie: %d %s", r.code, r.body)
	}
	// State-changing requests with the cookie must be same-origin.
	if r := do(t, h, "POST", "/v1/whoami", "", map[string]string{"Origin": "https://node:8080"}, c); r.code != 403 {
		t.Fatalf("cross-origin POST with the cookie: %d", r.code)
	}
	if r := do(t, h, "POST", "/v1/whoami", "", map[string]string{"Origin": "https://node:7780"}, c); r.code != 200 {
		t.Fatalf("same-origin POST with the cookie: %d %s", r.code, r.body)
	}
	if r := do(t, h, "GET", "/v1/whoami", "", nil, &http.Cookie{Name: TokenCookie, Value: "!!notbase64"}); r.code != 401 {
		t.Fatalf("malformed cookie: %d", r.code)
	}
	if r := do(t, h, "GET", "/v1/whoami", "", nil, &http.Cookie{Name: TokenCookie, Value: encodeCookie(badToken)}); r.code != 401 {
		t.Fatalf("cookie with a bad token: %d", r.code)
	}

	r = do(t, h, "POST", "/v1/auth/logout", "", nil, c)
	if r.code != 204 || len(r.cookies) != 1 || r.cookies[0].MaxAge >= 0 || r.cookies[0].Value != "" || !r.cookies[0].HttpOnly {
		t.Fatalf("logout: %d %+v", r.code, r.cookies)
	}
	if out := logs.String(); strings.Contains(out, adminToken) || strings.Contains(out, badToken) || strings.Contains(out, c.Value) {
		t.Fatalf("logs leak a token:\n%s", out)
	}
}

// testPKI is a CA with a node certificate and a foreign one.
type testPKI struct {
	pool              *x509.CertPool
	node, user, rogue tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kedge test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(cn string, ou string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) tls.Certificate {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if parent == nil {
			parent, parentKey = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.node = leaf("node-7", "node", ca, caKey)
	p.user = leaf("alice", "user", ca, caKey)
	p.rogue = leaf("node-9", "node", nil, nil) // self-signed: not the CA's
	return p
}

// nodeFromCert is a NodeFromCert as the PKI gives it: OU "node", CN the id.
func nodeFromCert(c *x509.Certificate) (string, bool) {
	if len(c.Subject.OrganizationalUnit) == 1 && c.Subject.OrganizationalUnit[0] == "node" {
		return c.Subject.CommonName, true
	}
	return "", false
}

func TestAuthNodeCertificate(t *testing.T) {
	pki := newTestPKI(t)
	srv := httptest.NewUnstartedServer(authMux(NewAuth(checkToken, nodeFromCert, testLogger(t))))
	srv.TLS = &tls.Config{ClientCAs: pki.pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	get := func(cert *tls.Certificate, bearer string) (int, Principal) {
		t.Helper()
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/whoami", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			// A certificate the CA did not sign fails the handshake.
			return -1, Principal{}
		}
		defer resp.Body.Close()
		var p Principal
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p
	}

	if code, p := get(&pki.node, ""); code != 200 || p != (Principal{Subject: "node-7", Role: RoleNode, Method: AuthNodeCert}) {
		t.Fatalf("node certificate: %d %+v", code, p)
	}
	if code, _ := get(&pki.user, ""); code != 401 {
		t.Fatalf("a CA-signed certificate that is not a node's: %d, want 401", code)
	}
	if code, _ := get(&pki.rogue, ""); code == 200 {
		t.Fatalf("a certificate outside the CA was accepted")
	}
	if code, _ := get(nil, ""); code != 401 {
		t.Fatalf("no certificate: %d, want 401", code)
	}
	// A token on a connection with a node certificate: the token decides.
	if code, p := get(&pki.node, adminToken); code != 200 || p.Method != AuthBearer {
		t.Fatalf("node certificate + token: %d %+v", code, p)
	}
}

// An unverified peer certificate (a TLS config that requests but does not
// verify client certificates) is never taken for a node.
func TestAuthIgnoresUnverifiedCertificates(t *testing.T) {
	pki := newTestPKI(t)
	cert, _ := x509.ParseCertificate(pki.rogue.Certificate[0])
	req := httptest.NewRequest("GET", "https://node:7780/v1/whoami", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	if _, err := NewAuth(checkToken, nodeFromCert, testLogger(t)).Authenticate(req); err == nil {
		t.Fatal("an unverified certificate authenticated")
	}
}
