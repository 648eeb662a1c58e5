package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

const (
	// CAValidity is how long a new cluster CA is valid: long, because
	// replacing it means re-issuing every node certificate and token.
	CAValidity = 10 * 365 * 24 * time.Hour
	// clockSkew back-dates NotBefore of every certificate issued, so a peer
	// whose clock is a little behind the issuer's still accepts it.
	clockSkew = 5 * time.Minute
	// PEM block types written by this package.
	pemCert = "CERTIFICATE"
	pemKey  = "PRIVATE KEY"
	pemCSR  = "CERTIFICATE REQUEST"
)

// CA is the cluster certificate authority: a self-signed certificate and its
// ECDSA P-256 key. It issues node and user certificates. A CA is immutable
// and safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// NewCA makes the CA of a new cluster (kedge init): a fresh P-256 key and a
// self-signed certificate with CN "kedge cluster CA <clusterID>", valid for
// CAValidity from now, which may sign leaf certificates only (MaxPathLen 0).
func NewCA(clusterID string, now time.Time) (*CA, error) {
	if clusterID == "" {
		return nil, fmt.Errorf("new cluster CA: empty cluster id: %w", ErrInvalidIdentity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new cluster CA %q: generate key: %w", clusterID, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("new cluster CA %q: %w", clusterID, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kedge cluster CA " + clusterID, Organization: []string{"kedge"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("new cluster CA %q: create certificate: %w", clusterID, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new cluster CA %q: parse created certificate: %w", clusterID, err)
	}
	return &CA{cert: cert, key: key, certPEM: encodePEM(pemCert, der)}, nil
}

// ParseCA loads a CA from its certificate and key PEM (as written by CertPEM
// and KeyPEM). It checks that the certificate is a CA certificate and that
// the key belongs to it, so a mixed-up pair fails here and not at signing.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("load CA: certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	signer, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, ok := signer.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load CA: key is %T, want an ECDSA key", signer)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA: the key does not belong to certificate %q (CA sha256:%s)",
			cert.Subject.CommonName, SPKIHash(cert))
	}
	return &CA{cert: cert, key: key, certPEM: encodePEM(pemCert, cert.Raw)}, nil
}

// Cert returns the CA certificate. Callers must not modify it.
func (ca *CA) Cert() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate as PEM: what nodes and clients trust.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// KeyPEM returns the CA private key as PKCS#8 PEM. It is the cluster's most
// sensitive secret: store it 0600, back it up only with EncryptCA.
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("encode CA key: %w", err)
	}
	return encodePEM(pemKey, der), nil
}

// Hash returns the CA's SPKI hash (SPKIHash of its certificate): the value a
// join token pins.
func (ca *CA) Hash() string { return SPKIHash(ca.cert) }

// SPKIHash returns the lowercase hex SHA-256 of cert's DER
// SubjectPublicKeyInfo. Hashing the public key rather than the whole
// certificate keeps tokens valid when the CA certificate is re-issued with
// the same key (the kubeadm discovery hash does the same).
func SPKIHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// Serial returns cert's serial number as lowercase hex: how this package
// names certificates in errors, SignNode's result and the revocation hook.
func Serial(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

// ParseCertPEM parses the first CERTIFICATE block of data. It is the one
// certificate decoder of the package, so every caller gets the same errors.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	block, err := findPEM(data, pemCert)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// parseKeyPEM parses a PKCS#8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY")
// private key.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("parse private key: no PRIVATE KEY or EC PRIVATE KEY PEM block")
		}
		switch block.Type {
		case "EC PRIVATE KEY":
			key, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse private key: %w", err)
			}
			return key, nil
		case pemKey:
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse private key: %w", err)
			}
			signer, ok := key.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("parse private key: %T cannot sign", key)
			}
			return signer, nil
		}
	}
}

// checkPublicKey accepts the key types and sizes the CA certifies: ECDSA
// P-256/P-384, Ed25519 and RSA of at least 2048 bits.
func checkPublicKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("unsupported ECDSA curve %s (want P-256 or P-384)", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too small (want at least 2048)", k.N.BitLen())
		}
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}

// findPEM returns the first block of data with the given type.
func findPEM(data []byte, typ string) (*pem.Block, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("no %s PEM block", typ)
		}
		if block.Type == typ {
			return block, nil
		}
	}
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// newSerial returns a random positive 128-bit serial number (RFC 5280 allows
// up to 20 octets; randomness makes serials unguessable and unique).
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
