package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
)

// Rejoin: a node whose certificate expired while it was offline joins
// again with a fresh join token and keeps its node id. The token admits
// it; keeping the id takes more, or any token holder could take over
// another node's id, records and allocations. So the node proves that it
// holds the key of its old certificate: it signs, with the old key, a
// statement binding its id to the join token's id and to the CSR of its
// new key (SignRejoin), and sends the old certificate along. The leader
// checks (VerifyRejoin) that the certificate was issued by the cluster CA
// (its expiry aside: that is the point), names the claimed id and verifies
// the signature; the caller also checks that it is the certificate the
// node's record holds and that it is not revoked. A captured proof is of
// no use to anyone else: it only gets the CSR's key certified, and only
// with the one token.

// rejoinStatement is what SignRejoin signs.
func rejoinStatement(nodeID, tokenID string, csrPEM []byte) []byte {
	sum := sha256.Sum256(csrPEM)
	return []byte("kedge-rejoin-v1\nnode " + nodeID + "\ntoken " + tokenID + "\ncsr sha256:" + hex.EncodeToString(sum[:]) + "\n")
}

// SignRejoin signs the rejoin statement for nodeID, tokenID and csrPEM
// with the old node key keyPEM (the key of the expired certificate).
func SignRejoin(keyPEM []byte, nodeID, tokenID string, csrPEM []byte) ([]byte, error) {
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("rejoin proof for node %s: %w", nodeID, err)
	}
	msg := rejoinStatement(nodeID, tokenID, csrPEM)
	var sig []byte
	switch key.Public().(type) {
	case ed25519.PublicKey:
		sig, err = key.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey, *rsa.PublicKey:
		sum := sha256.Sum256(msg)
		sig, err = key.Sign(rand.Reader, sum[:], crypto.SHA256)
	default:
		return nil, fmt.Errorf("rejoin proof for node %s: unsupported key type %T", nodeID, key.Public())
	}
	if err != nil {
		return nil, fmt.Errorf("rejoin proof for node %s: sign: %w", nodeID, err)
	}
	return sig, nil
}

// VerifyRejoin checks a rejoin claim: certPEM is a node certificate issued
// by one of the CA certificates in caPEM (checked as of the certificate's
// own last valid moment: an expired certificate is expected), for client
// auth, naming nodeID; sig is SignRejoin's signature by the certificate's
// key over nodeID, tokenID and csrPEM. It returns the certificate (the
// caller checks its serial against the node's record and the revocations).
// Errors wrap ErrUntrusted.
func VerifyRejoin(caPEM, certPEM, sig []byte, nodeID, tokenID string, csrPEM []byte) (*x509.Certificate, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("rejoin as node %s: old certificate: %v: %w", nodeID, err, ErrUntrusted)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("rejoin as node %s: no CA certificate to check against: %w", nodeID, ErrUntrusted)
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: cert.NotAfter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil, fmt.Errorf("rejoin as node %s: certificate %s is not a node certificate of this cluster's CA: %v: %w",
			nodeID, Serial(cert), err, ErrUntrusted)
	}
	got, err := NodeIDFromCert(cert)
	if err != nil {
		return nil, fmt.Errorf("rejoin as node %s: %v: %w", nodeID, err, ErrUntrusted)
	}
	if got != nodeID {
		return nil, fmt.Errorf("rejoin as node %s: certificate %s is node %s's: %w", nodeID, Serial(cert), got, ErrUntrusted)
	}
	var alg x509.SignatureAlgorithm
	switch cert.PublicKey.(type) {
	case ed25519.PublicKey:
		alg = x509.PureEd25519
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
	case *rsa.PublicKey:
		alg = x509.SHA256WithRSA
	default:
		return nil, fmt.Errorf("rejoin as node %s: unsupported key type %T: %w", nodeID, cert.PublicKey, ErrUntrusted)
	}
	if err := cert.CheckSignature(alg, rejoinStatement(nodeID, tokenID, csrPEM), sig); err != nil {
		return nil, fmt.Errorf("rejoin as node %s: the proof is not signed with the key of certificate %s: %v: %w",
			nodeID, Serial(cert), err, ErrUntrusted)
	}
	return cert, nil
}
