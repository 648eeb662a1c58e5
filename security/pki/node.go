package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

const (
	// DefaultCertTTL is the lifetime of a node or user certificate when the
	// caller passes ttl <= 0. Nodes renew from two thirds of it on.
	DefaultCertTTL = 365 * 24 * time.Hour
	// uriScheme is the scheme of the URI SANs carrying kedge identities.
	uriScheme = "kedge"
	uriNode   = "node"
	uriUser   = "user"
	// maxCommonName is the RFC 5280 upper bound of a commonName.
	maxCommonName = 64
)

// NodeIdentity is what a node certificate asserts: the node's stable id (in
// the URI SAN kedge://node/<ID>), its name (the CN) and the addresses peers
// may dial it at. The CA fills the certificate from the NodeIdentity the
// server decided on, never from the names in a CSR.
type NodeIdentity struct {
	ID       string
	Name     string
	IPs      []net.IP
	DNSNames []string
}

// NewKey makes a node's (or user's) private key: ECDSA P-256, returned with
// its PKCS#8 PEM encoding for storage. The key never leaves the machine; the
// CA only sees the CSR.
func NewKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return key, encodePEM(pemKey, der), nil
}

// CreateCSR makes a PEM certificate signing request for key naming id. The
// names are informational (the CA decides them); the CSR's real job is to
// carry the public key with proof of possession of the private key.
func CreateCSR(key crypto.Signer, id NodeIdentity) ([]byte, error) {
	tmpl := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: id.Name},
		IPAddresses: id.IPs,
		DNSNames:    id.DNSNames,
	}
	if id.ID != "" && validID(id.ID) {
		tmpl.URIs = []*url.URL{identityURI(uriNode, id.ID)}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR for node %q: %w", id.ID, err)
	}
	return encodePEM(pemCSR, der), nil
}

// SignNode issues a node certificate (server and client auth) for the public
// key of csrPEM. It checks the CSR's signature (proof that the requester
// holds the key) but takes subject and SANs only from id: CN id.Name, URI
// SAN kedge://node/<id.ID>, id.IPs and id.DNSNames. ttl <= 0 means
// DefaultCertTTL; the certificate never outlives the CA. It returns the
// certificate PEM and its serial (see Serial).
func (ca *CA) SignNode(csrPEM []byte, id NodeIdentity, ttl time.Duration, now time.Time) ([]byte, string, error) {
	if err := checkNodeIdentity(id); err != nil {
		return nil, "", fmt.Errorf("sign node %q: %w", id.ID, err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: id.Name},
		URIs:        []*url.URL{identityURI(uriNode, id.ID)},
		IPAddresses: id.IPs,
		DNSNames:    id.DNSNames,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	certPEM, serial, err := ca.sign(csrPEM, tmpl, ttl, now)
	if err != nil {
		return nil, "", fmt.Errorf("sign node %q: %w", id.ID, err)
	}
	return certPEM, serial, nil
}

// SignClient issues a client-auth-only certificate for a user (the admin or
// a CLI user): CN user, URI SAN kedge://user/<user>. Like SignNode it takes
// only the public key from the CSR.
func (ca *CA) SignClient(csrPEM []byte, user string, ttl time.Duration, now time.Time) ([]byte, string, error) {
	if !validID(user) {
		return nil, "", fmt.Errorf("sign user %q: bad user name (want 1-%d of [A-Za-z0-9._-]): %w",
			user, maxCommonName, ErrInvalidIdentity)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: user},
		URIs:        []*url.URL{identityURI(uriUser, user)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	certPEM, serial, err := ca.sign(csrPEM, tmpl, ttl, now)
	if err != nil {
		return nil, "", fmt.Errorf("sign user %q: %w", user, err)
	}
	return certPEM, serial, nil
}

// sign completes tmpl (serial, validity, key usage) and signs the CSR's key.
func (ca *CA) sign(csrPEM []byte, tmpl *x509.Certificate, ttl time.Duration, now time.Time) ([]byte, string, error) {
	block, err := findPEM(csrPEM, pemCSR)
	if err != nil {
		return nil, "", fmt.Errorf("parse CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("check CSR signature: %w", err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, "", fmt.Errorf("CSR key: %w", err)
	}
	if now.Before(ca.cert.NotBefore) || !now.Before(ca.cert.NotAfter) {
		return nil, "", fmt.Errorf("CA valid %s to %s, now is %s: %w",
			ca.cert.NotBefore.Format(time.RFC3339), ca.cert.NotAfter.Format(time.RFC3339), now.Format(time.RFC3339), ErrExpired)
	}
	if ttl <= 0 {
		ttl = DefaultCertTTL
	}
	serial, err := newSerial()
	if err != nil {
		return nil, "", err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	if tmpl.NotBefore.Before(ca.cert.NotBefore) {
		tmpl.NotBefore = ca.cert.NotBefore
	}
	tmpl.NotAfter = now.Add(ttl)
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, "", fmt.Errorf("create certificate: %w", err)
	}
	return encodePEM(pemCert, der), serial.Text(16), nil
}

// NodeIDFromCert returns the node id of a node certificate (its single
// kedge://node/<id> URI SAN). Peers identify each other by this id, not by
// the CN or DNS names.
func NodeIDFromCert(cert *x509.Certificate) (string, error) {
	return identityFromCert(cert, uriNode)
}

// UserFromCert returns the user name of a user certificate (its single
// kedge://user/<name> URI SAN), for the API's authorizer.
func UserFromCert(cert *x509.Certificate) (string, error) {
	return identityFromCert(cert, uriUser)
}

func identityFromCert(cert *x509.Certificate, kind string) (string, error) {
	var found []string
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme || u.Host != kind {
			continue
		}
		id, ok := strings.CutPrefix(u.Path, "/")
		if !ok || !validID(id) || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return "", fmt.Errorf("certificate %s: malformed %s URI %q: %w", Serial(cert), kind, u.String(), ErrNoIdentity)
		}
		found = append(found, id)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("certificate %s (CN %q): no kedge://%s/ URI: %w", Serial(cert), cert.Subject.CommonName, kind, ErrNoIdentity)
	default:
		return "", fmt.Errorf("certificate %s: %d kedge://%s/ URIs: %w", Serial(cert), len(found), kind, ErrNoIdentity)
	}
}

// NeedsRenewal reports whether cert should be renewed at now: from two
// thirds of its lifetime on (and so also once it has expired). Renewing early
// leaves a third of the lifetime to ride out an unavailable leader.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return !now.Before(cert.NotBefore.Add(life / 3 * 2))
}

func identityURI(kind, id string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: kind, Path: "/" + id}
}

// validID reports whether s can be a node id or user name: 1-64 of
// [A-Za-z0-9._-], so it fits a URI path segment and a CN without escaping.
func validID(s string) bool {
	if s == "" || len(s) > maxCommonName || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func checkNodeIdentity(id NodeIdentity) error {
	if !validID(id.ID) {
		return fmt.Errorf("bad node id (want 1-%d of [A-Za-z0-9._-]): %w", maxCommonName, ErrInvalidIdentity)
	}
	if id.Name == "" || len(id.Name) > maxCommonName {
		return fmt.Errorf("node name must be 1-%d bytes, got %d: %w", maxCommonName, len(id.Name), ErrInvalidIdentity)
	}
	for _, c := range []byte(id.Name) {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("node name %q has a control character: %w", id.Name, ErrInvalidIdentity)
		}
	}
	for _, ip := range id.IPs {
		if ip.To16() == nil {
			return fmt.Errorf("bad IP address %v: %w", []byte(ip), ErrInvalidIdentity)
		}
	}
	for _, d := range id.DNSNames {
		if !validDNSName(d) {
			return fmt.Errorf("bad DNS name %q: %w", d, ErrInvalidIdentity)
		}
	}
	return nil
}

// validDNSName accepts host names (letters, digits, '-', '.', '_' labels of
// up to 63 bytes) and a leading "*." wildcard.
func validDNSName(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
