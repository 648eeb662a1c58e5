package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Identity is a node's (or user's) current certificate and key plus the
// cluster CA, from which it makes TLS configurations for both ends of mutual
// TLS. The certificate can be replaced while connections are served (Update):
// the configurations read it per handshake, so a renewal takes effect for the
// next handshake without a restart. An Identity is safe for concurrent use.
type Identity struct {
	ca      *x509.Certificate
	roots   *x509.CertPool
	now     func() time.Time
	cur     atomic.Pointer[keyPair]
	revoked atomic.Pointer[func(serial string) bool]
}

// keyPair is one certificate generation: what TLS presents (leaf then CA)
// and the parsed leaf.
type keyPair struct {
	tls    *tls.Certificate
	leaf   *x509.Certificate
	nodeID string // "" for a user certificate
	who    string // what the certificate names: node/<id>, user/<name> or cn/<CN>
}

// IdentityOption configures NewIdentity.
type IdentityOption func(*Identity)

// WithClock makes the Identity judge certificate validity by now instead of
// time.Now, so expiry and renewal are testable without waiting.
func WithClock(now func() time.Time) IdentityOption {
	return func(id *Identity) { id.now = now }
}

// NewIdentity loads a certificate, its key and the cluster CA certificate
// (all PEM). The certificate must be signed by the CA; it may be expired
// (a node that was off for long still starts, and reports that it must
// re-join), but peers will refuse it.
func NewIdentity(certPEM, keyPEM, caPEM []byte, opts ...IdentityOption) (*Identity, error) {
	ca, err := ParseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("load identity: CA: %w", err)
	}
	if !ca.BasicConstraintsValid || !ca.IsCA {
		return nil, fmt.Errorf("load identity: %q is not a CA certificate", ca.Subject.CommonName)
	}
	id := &Identity{ca: ca, roots: x509.NewCertPool(), now: time.Now}
	id.roots.AddCert(ca)
	for _, o := range opts {
		o(id)
	}
	kp, err := id.loadPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	id.cur.Store(kp)
	return id, nil
}

// Update replaces the certificate and key (a renewal). The new certificate
// must be signed by the same CA and name the same node (or user) as the
// current one; on error the current pair stays in use.
func (id *Identity) Update(certPEM, keyPEM []byte) error {
	kp, err := id.loadPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("update identity: %w", err)
	}
	old := id.cur.Load()
	if kp.who != old.who {
		return fmt.Errorf("update identity: new certificate %s is %s, the current one is %s: %w",
			Serial(kp.leaf), kp.who, old.who, ErrInvalidIdentity)
	}
	id.cur.Store(kp)
	return nil
}

func (id *Identity) loadPair(certPEM, keyPEM []byte) (*keyPair, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate and key: %w", err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
	}
	if err := leaf.CheckSignatureFrom(id.ca); err != nil {
		return nil, fmt.Errorf("certificate %s (CN %q) is not signed by the cluster CA sha256:%s: %v: %w",
			Serial(leaf), leaf.Subject.CommonName, SPKIHash(id.ca), err, ErrUntrusted)
	}
	// Present leaf + CA: joiners pin the CA by hash and need to see it.
	pair.Certificate = [][]byte{leaf.Raw, id.ca.Raw}
	pair.Leaf = leaf
	kp := &keyPair{tls: &pair, leaf: leaf, who: "cn/" + leaf.Subject.CommonName}
	if nodeID, err := NodeIDFromCert(leaf); err == nil {
		kp.nodeID, kp.who = nodeID, "node/"+nodeID
	} else if user, err := UserFromCert(leaf); err == nil {
		kp.who = "user/" + user
	}
	return kp, nil
}

// Cert returns the current certificate. Callers must not modify it.
func (id *Identity) Cert() *x509.Certificate { return id.cur.Load().leaf }

// CACert returns the cluster CA certificate. Callers must not modify it.
func (id *Identity) CACert() *x509.Certificate { return id.ca }

// NodeID returns the node id of the current certificate, or "" if it is not
// a node certificate (a user's identity).
func (id *Identity) NodeID() string { return id.cur.Load().nodeID }

// SetRevoked installs the revocation hook: every handshake, on both the
// server and client side, asks it about the peer certificate's serial (see
// Serial) and refuses the peer if it returns true. The hook must be fast and
// safe for concurrent use (it typically reads the replicated cluster state).
// nil removes the hook.
func (id *Identity) SetRevoked(revoked func(serial string) bool) {
	if revoked == nil {
		id.revoked.Store(nil)
		return
	}
	id.revoked.Store(&revoked)
}

// ServerTLS returns a TLS 1.3 server configuration presenting the current
// certificate (and the CA after it). clientAuth is the caller's choice (e.g.
// tls.RequireAndVerifyClientCert for node-to-node traffic,
// tls.VerifyClientCertIfGiven for the API, which also takes bearer tokens);
// whatever it is, a client certificate that is presented must chain to the
// cluster CA, be valid for client auth, current and not revoked.
func (id *Identity) ServerTLS(clientAuth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return id.cur.Load().tls, nil
		},
		ClientAuth: clientAuth,
		ClientCAs:  id.roots,
		Time:       id.now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil // ClientAuth decides whether that is allowed.
			}
			if err := id.verifyPeer(cs.PeerCertificates[0], x509.ExtKeyUsageClientAuth); err != nil {
				return fmt.Errorf("client: %w", err)
			}
			return nil
		},
	}
}

// ClientTLS returns a TLS 1.3 client configuration that presents the current
// certificate and trusts only the cluster CA; the server's certificate must
// also be current and not revoked. A non-empty serverName is checked against
// the server certificate's DNS/IP SANs. An empty serverName accepts any
// certificate of the cluster CA valid for server auth (nodes are dialled by
// address; check the peer's id with NodeIDFromCert, or use ClientTLSForNode).
func (id *Identity) ClientTLS(serverName string) *tls.Config {
	return id.clientTLS(serverName, "")
}

// ClientTLSForNode is ClientTLS for dialling a known node: the server's
// certificate must name nodeID in its kedge://node/ URI, whatever address
// was dialled.
func (id *Identity) ClientTLSForNode(nodeID string) *tls.Config {
	return id.clientTLS("", nodeID)
}

func (id *Identity) clientTLS(serverName, nodeID string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    id.roots,
		ServerName: serverName,
		// With no name to check, Go's verification cannot run; verifyPeer
		// below does the full chain check instead.
		InsecureSkipVerify: serverName == "",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return id.cur.Load().tls, nil
		},
		Time: id.now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("server: no certificate: %w", ErrUntrusted)
			}
			leaf := cs.PeerCertificates[0]
			if err := id.verifyPeer(leaf, x509.ExtKeyUsageServerAuth); err != nil {
				return fmt.Errorf("server: %w", err)
			}
			if nodeID == "" {
				return nil
			}
			got, err := NodeIDFromCert(leaf)
			if err != nil {
				return fmt.Errorf("server: %w", err)
			}
			if got != nodeID {
				return fmt.Errorf("server: certificate %s is node %q, want node %q: %w", Serial(leaf), got, nodeID, ErrUntrusted)
			}
			return nil
		},
	}
}

// verifyPeer checks a peer's leaf certificate: in its validity period, issued
// by the cluster CA for usage, not revoked. Go's own verification covers most
// of it when it runs; this runs always, so every ClientAuth mode and the
// name-less client get the same checks, with errors that say which failed.
func (id *Identity) verifyPeer(leaf *x509.Certificate, usage x509.ExtKeyUsage) error {
	now := id.now()
	serial := Serial(leaf)
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("certificate %s (CN %q) is valid from %s to %s, now is %s: %w",
			serial, leaf.Subject.CommonName, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339),
			now.Format(time.RFC3339), ErrExpired)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: id.roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return fmt.Errorf("certificate %s (CN %q, issuer %q) is not from the cluster CA sha256:%s: %w",
				serial, leaf.Subject.CommonName, leaf.Issuer.CommonName, SPKIHash(id.ca), ErrUntrusted)
		}
		return fmt.Errorf("certificate %s (CN %q): %v: %w", serial, leaf.Subject.CommonName, err, ErrUntrusted)
	}
	if f := id.revoked.Load(); f != nil && (*f)(serial) {
		return fmt.Errorf("certificate %s (CN %q): %w", serial, leaf.Subject.CommonName, ErrRevoked)
	}
	return nil
}
