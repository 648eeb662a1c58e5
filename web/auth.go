package web

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"kedge/api"
)

// Authentication of the TLS API. Three credentials are accepted:
//
//   - a bearer token in "Authorization: Bearer TOKEN" (the CLI);
//   - a node client certificate, already verified against the cluster CA by
//     the TLS layer (other nodes);
//   - the kedge_token cookie that POST /v1/auth/login sets (the status page:
//     EventSource cannot send headers).
//
// The page's assets (everything outside /v1/) and /v1/auth/login|logout are
// public; every other /v1/ path needs a principal. Tokens are never logged.
// The unix socket is not behind this middleware: its file mode guards it.

// TokenCookie is the name of the cookie that carries the status page's token.
const TokenCookie = "kedge_token"

// How a principal proved who it is.
const (
	AuthBearer   = "bearer"
	AuthCookie   = "cookie"
	AuthNodeCert = "node-cert"
)

// RoleNode is the role of a principal authenticated by a node certificate.
const RoleNode = "node"

// ErrUnauthenticated is returned by an Authenticator for a request without
// valid credentials; the middleware answers it with 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// Principal is who made a request.
type Principal struct {
	// Subject is the token's subject, or the node id for a node certificate.
	Subject string `json:"subject"`
	// Role is the token's role (for RBAC), or RoleNode.
	Role string `json:"role"`
	// Method is how it authenticated: AuthBearer, AuthCookie or AuthNodeCert.
	Method string `json:"method"`
}

// Authenticator finds the principal of a request. It returns an error
// wrapping ErrUnauthenticated when the request has no valid credentials.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// TokenChecker checks a bearer token and returns its subject and role. The
// implementation compares secrets in constant time (crypto/subtle or by
// comparing hashes) and must not log the token.
type TokenChecker func(token string) (subject, role string, ok bool)

// NodeCertChecker maps a client certificate that the TLS layer has already
// verified against the cluster CA to a node id; ok is false for a
// certificate that is not a node's.
type NodeCertChecker func(cert *x509.Certificate) (nodeID string, ok bool)

type principalKey struct{}

// ContextWithPrincipal returns ctx carrying p, for PrincipalFrom.
func ContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal the auth middleware put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Auth is the default Authenticator (tokens and node certificates) and serves
// the sign-in endpoints of the status page.
type Auth struct {
	checkToken   TokenChecker
	nodeFromCert NodeCertChecker
	log          *slog.Logger
}

var _ Authenticator = (*Auth)(nil)

// NewAuth builds the authenticator. checkToken is required; nodeFromCert may
// be nil, and then client certificates are not accepted as credentials.
func NewAuth(checkToken TokenChecker, nodeFromCert NodeCertChecker, log *slog.Logger) *Auth {
	return &Auth{checkToken: checkToken, nodeFromCert: nodeFromCert, log: log.With("subsystem", "auth")}
}

// Authenticate implements Authenticator. An Authorization header decides
// alone when present (a bad one is not rescued by a cookie); else a node
// certificate; else the cookie.
func (a *Auth) Authenticate(r *http.Request) (Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return Principal{}, fmt.Errorf("authorization header: want Bearer TOKEN: %w", ErrUnauthenticated)
		}
		return a.token(token, AuthBearer)
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && a.nodeFromCert != nil {
		// Only a chain the TLS layer verified counts: with
		// tls.RequestClientCert or VerifyClientCertIfGiven unset, peer
		// certificates could be unverified.
		if len(r.TLS.VerifiedChains) > 0 {
			if id, ok := a.nodeFromCert(r.TLS.PeerCertificates[0]); ok {
				return Principal{Subject: id, Role: RoleNode, Method: AuthNodeCert}, nil
			}
		}
	}
	if c, err := r.Cookie(TokenCookie); err == nil && c.Value != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err != nil {
			return Principal{}, fmt.Errorf("cookie %s: malformed: %w", TokenCookie, ErrUnauthenticated)
		}
		return a.token(string(raw), AuthCookie)
	}
	return Principal{}, fmt.Errorf("no credentials: %w", ErrUnauthenticated)
}

func (a *Auth) token(token, method string) (Principal, error) {
	subject, role, ok := a.checkToken(token)
	if !ok {
		return Principal{}, fmt.Errorf("token (%s): invalid or expired: %w", method, ErrUnauthenticated)
	}
	return Principal{Subject: subject, Role: role, Method: method}, nil
}

// Middleware is RequireAuth with this authenticator.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return RequireAuth(a, a.log, next)
}

// IsPublicPath reports whether a path is served without credentials: the
// status page's assets and the sign-in endpoints.
func IsPublicPath(path string) bool {
	if path == MetricsPath {
		return false
	}
	p := api.APIPrefix
	if path != p && !strings.HasPrefix(path, p+"/") {
		return true
	}
	return path == p+"/auth/login" || path == p+"/auth/logout"
}

// RequireAuth authenticates every request to a non-public path (see
// IsPublicPath) and puts its Principal in the request context; a request
// without valid credentials gets 401 with a JSON api.Error and
// "WWW-Authenticate: Bearer". A state-changing request authenticated by the
// cookie must come from the page's own origin when it names one (the
// SameSite cookie does not tell ports apart).
func RequireAuth(authn Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsPublicPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := authn.Authenticate(r)
		if err != nil {
			log.Info("unauthenticated request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			unauthorized(w, "authentication required: sign in or send Authorization: Bearer TOKEN")
			return
		}
		if p.Method == AuthCookie && !safeMethod(r.Method) && !sameOrigin(r) {
			log.Warn("cross-origin request with the session cookie", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
			writeJSON(w, http.StatusForbidden, api.Error{Message: "cross-origin request refused"})
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithPrincipal(r.Context(), p)))
	})
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="kedge"`)
	writeJSON(w, http.StatusUnauthorized, api.Error{Message: msg})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether the request's Origin (when sent) is its Host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// LoginRequest is the body of POST /v1/auth/login.
type LoginRequest struct {
	Token string `json:"token"`
}

// Login serves POST /v1/auth/login {"token": "..."}: it checks the token and
// sets the kedge_token cookie (HttpOnly, Secure, SameSite=Strict, for the
// browser session), answering the Principal. A bad token gets 401. The body
// must be application/json, which a cross-site form cannot send.
func (a *Auth) Login(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, api.Error{Message: "login: want Content-Type: application/json"})
		return
	}
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		writeError(w, fmt.Errorf("login: %w", err))
		return
	}
	if req.Token == "" {
		writeError(w, fmt.Errorf("login: token is empty: %w", api.ErrInvalid))
		return
	}
	p, err := a.token(req.Token, AuthCookie)
	if err != nil {
		a.log.Info("sign-in refused", "remote", r.RemoteAddr, "err", err)
		unauthorized(w, "invalid token")
		return
	}
	http.SetCookie(w, tokenCookie(base64.RawURLEncoding.EncodeToString([]byte(req.Token)), 0))
	w.Header().Set("Cache-Control", "no-store")
	a.log.Info("signed in", "subject", p.Subject, "role", p.Role, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, p)
}

// Logout serves POST /v1/auth/logout: it clears the cookie (204).
func (a *Auth) Logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, tokenCookie("", -1))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// tokenCookie is the session cookie; maxAge -1 deletes it, 0 makes it last
// the browser session.
func tokenCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     TokenCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	}
}
