package pki

import "errors"

// Sentinel errors of this package. Callers match them with errors.Is; the
// wrapping error says what was being done and names the serial, id or hash
// involved (never a token secret).
var (
	// ErrInvalidToken: a join token that does not have the form
	// KEDGE1-<64 hex>-<6 lowercase alnum>.<secret>.
	ErrInvalidToken = errors.New("invalid join token")
	// ErrCAMismatch: the server's CA does not hash to the pinned CA hash:
	// a wrong token, or a man in the middle.
	ErrCAMismatch = errors.New("CA hash mismatch")
	// ErrUntrusted: a peer certificate that was not issued by the cluster CA
	// (or is not valid for the purpose it is presented for).
	ErrUntrusted = errors.New("certificate not trusted")
	// ErrRevoked: a peer certificate whose serial the revocation hook reports revoked.
	ErrRevoked = errors.New("certificate revoked")
	// ErrExpired: a certificate outside its validity period.
	ErrExpired = errors.New("certificate expired or not yet valid")
	// ErrNoIdentity: a certificate without (exactly one) kedge node or user URI SAN.
	ErrNoIdentity = errors.New("certificate carries no kedge identity")
	// ErrInvalidIdentity: a node or user identity the CA refuses to certify
	// (empty or malformed id, name, DNS name).
	ErrInvalidIdentity = errors.New("invalid identity")
	// ErrWrongPassphrase: a CA backup that does not decrypt with the given
	// passphrase (or was altered).
	ErrWrongPassphrase = errors.New("wrong passphrase or corrupted CA backup")
)
