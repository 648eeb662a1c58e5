package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// FetchCA connects to a cluster member at addr (host:port) and returns the
// cluster CA certificate it presents, accepted only if its SPKI hash equals
// caHash (64 hex digits, "sha256:" prefix allowed) and it signed the
// server's certificate. This is the joiner's first step: nothing secret is
// sent, the connection is closed right after the handshake. A mismatch
// wraps ErrCAMismatch.
func FetchCA(ctx context.Context, addr string, caHash string) (*x509.Certificate, error) {
	want, err := parseCAHash(caHash)
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", addr, err)
	}
	d := tls.Dialer{Config: PinnedClientTLS(want)}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", addr, err)
	}
	defer conn.Close()
	// The handshake ran the same check; repeat it to get the CA out.
	ca, err := pinnedCA(conn.(*tls.Conn).ConnectionState().PeerCertificates, want, time.Now())
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", addr, err)
	}
	return ca, nil
}

// PinnedClientTLS returns a TLS 1.3 client configuration that trusts a
// server only if the chain it presents holds a CA certificate whose SPKI
// hash is caHash and that CA issued the server's (current, server-auth)
// certificate. The joiner uses it for the join request, so the token secret
// goes only to a server proven to hold a certificate of the pinned CA. The
// usual name and root checks are replaced by that pin (no ServerName is
// needed).
func PinnedClientTLS(caHash string) *tls.Config {
	want, hashErr := parseCAHash(caHash)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Replaced by the pin check in VerifyConnection, which runs before
		// the client sends anything beyond its handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if hashErr != nil {
				return fmt.Errorf("pinned CA: %w", hashErr)
			}
			_, err := pinnedCA(cs.PeerCertificates, want, time.Now())
			return err
		},
	}
}

// pinnedCA finds the certificate of chain whose SPKI hash is want, and checks
// that it is a CA that issued chain[0] for server auth, valid at now.
func pinnedCA(chain []*x509.Certificate, want string, now time.Time) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("the server presented no certificate: %w", ErrCAMismatch)
	}
	leaf := chain[0]
	var ca *x509.Certificate
	for _, c := range chain {
		if SPKIHash(c) == want {
			ca = c
			break
		}
	}
	if ca == nil {
		for i := len(chain) - 1; i >= 0; i-- {
			if chain[i].BasicConstraintsValid && chain[i].IsCA {
				return nil, fmt.Errorf("the server's CA sha256:%s does not match the token's sha256:%s: wrong token or a man in the middle: %w",
					SPKIHash(chain[i]), want, ErrCAMismatch)
			}
		}
		return nil, fmt.Errorf("the server sent no CA certificate (certificate %s, issuer %q), so it cannot be checked against the token's sha256:%s: not a kedge server, or a man in the middle: %w",
			Serial(leaf), leaf.Issuer.CommonName, want, ErrCAMismatch)
	}
	if !ca.BasicConstraintsValid || !ca.IsCA {
		return nil, fmt.Errorf("the server's certificate sha256:%s matches the token but is not a CA certificate: %w", want, ErrCAMismatch)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("the server's certificate %s is valid from %s to %s, but this machine's clock says %s: %w",
			Serial(leaf), leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339), now.Format(time.RFC3339), ErrExpired)
	}
	if leaf != ca {
		if err := leaf.CheckSignatureFrom(ca); err != nil {
			return nil, fmt.Errorf("the server's certificate %s was not issued by the token's CA sha256:%s (%v): a man in the middle: %w",
				Serial(leaf), want, err, ErrCAMismatch)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		return nil, fmt.Errorf("the server's certificate %s (CN %q) is from the token's CA but not valid for a server: %v: %w",
			Serial(leaf), leaf.Subject.CommonName, err, ErrUntrusted)
	}
	return ca, nil
}
