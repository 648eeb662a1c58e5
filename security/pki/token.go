package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	// tokenPrefix and tokenVersion start every join token: "KEDGE1-".
	tokenPrefix  = "KEDGE"
	tokenVersion = "1"
	// TokenIDLen is the length of a token id: lowercase letters and digits.
	TokenIDLen = 6
	// tokenSecretLen is the length of secrets NewToken makes (~165 bits);
	// ParseToken accepts minTokenSecret to maxTokenSecret.
	tokenSecretLen = 32
	minTokenSecret = 16
	maxTokenSecret = 128
	// bearerSecretLen is the random part of NewSecret (~206 bits).
	bearerSecretLen = 40
	// caHashLen is the length of a hex SHA-256.
	caHashLen = 2 * sha256.Size
	// secretHashPrefix versions the stored form of secrets.
	secretHashPrefix = "sha256:"
	lowerAlnum       = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// Token is a join token: KEDGE1-<CAHash>-<ID>.<Secret>. CAHash pins the
// cluster CA (the joiner checks it before sending anything secret), ID names
// the token (safe to log and list), Secret authenticates the joiner.
// String returns the full token, secret included; log Redacted instead.
type Token struct {
	CAHash string
	ID     string
	Secret string
}

// NewToken makes a join token for the CA with SPKI hash caHash (CA.Hash):
// a random 6-character id and a 32-character secret from crypto/rand.
// Store only HashSecret(tok.Secret).
func NewToken(caHash string) (Token, error) {
	hash, err := parseCAHash(caHash)
	if err != nil {
		return Token{}, fmt.Errorf("new join token: %w", err)
	}
	id, err := randomString(TokenIDLen)
	if err != nil {
		return Token{}, fmt.Errorf("new join token: %w", err)
	}
	secret, err := randomString(tokenSecretLen)
	if err != nil {
		return Token{}, fmt.Errorf("new join token: %w", err)
	}
	return Token{CAHash: hash, ID: id, Secret: secret}, nil
}

// String returns the token as users pass it to kedge join.
func (t Token) String() string {
	return tokenPrefix + tokenVersion + "-" + t.CAHash + "-" + t.ID + "." + t.Secret
}

// Redacted returns the token with its secret elided, for logs and listings.
func (t Token) Redacted() string {
	return tokenPrefix + tokenVersion + "-" + t.CAHash + "-" + t.ID + ".<redacted>"
}

// ParseToken parses a join token (surrounding white space is ignored, as
// pasted tokens often carry some). Errors say what is wrong and wrap
// ErrInvalidToken; they never repeat the input, which holds the secret.
func ParseToken(s string) (Token, error) {
	const form = "want KEDGE1-<64 hex CA hash>-<6-character id>.<secret>"
	bad := func(format string, args ...any) (Token, error) {
		return Token{}, fmt.Errorf("parse join token: %s (%s): %w", fmt.Sprintf(format, args...), form, ErrInvalidToken)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), tokenPrefix)
	if !ok {
		return bad("it does not start with %q: not a kedge join token", tokenPrefix+tokenVersion+"-")
	}
	version, rest, ok := strings.Cut(rest, "-")
	if !ok {
		return bad("no '-' after the version")
	}
	if version != tokenVersion {
		if version != "" && len(version) <= 3 && strings.Trim(version, "0123456789") == "" {
			return bad("version %s%s is not supported, this kedge reads %s%s", tokenPrefix, version, tokenPrefix, tokenVersion)
		}
		return bad("malformed version after %q", tokenPrefix)
	}
	hashPart, rest, ok := strings.Cut(rest, "-")
	if !ok {
		return bad("no '-' between the CA hash and the token id")
	}
	hash, err := parseCAHash(hashPart)
	if err != nil {
		return bad("%v", err)
	}
	id, secret, ok := strings.Cut(rest, ".")
	switch {
	case !ok:
		return bad("no '.' between the token id and the secret")
	case id == "":
		return bad("missing token id")
	case len(id) != TokenIDLen || !isLowerAlnum(id):
		return bad("the token id must be %d lowercase letters or digits", TokenIDLen)
	case secret == "":
		return bad("missing token secret")
	case len(secret) < minTokenSecret:
		return bad("the token secret is too short (%d characters, want at least %d)", len(secret), minTokenSecret)
	case len(secret) > maxTokenSecret:
		return bad("the token secret is too long (%d characters, want at most %d)", len(secret), maxTokenSecret)
	case !isLowerAlnum(secret):
		return bad("the token secret may hold only lowercase letters and digits")
	}
	return Token{CAHash: hash, ID: id, Secret: secret}, nil
}

// parseCAHash normalises a CA hash: 64 hex digits, optionally prefixed with
// "sha256:", returned lowercase without the prefix.
func parseCAHash(s string) (string, error) {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) != caHashLen {
		return "", fmt.Errorf("the CA hash has %d characters, want %d hex digits (sha256)", len(s), caHashLen)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("the CA hash is not hexadecimal")
	}
	return strings.ToLower(s), nil
}

// HashSecret returns the stored form of a token secret or bearer token:
// "sha256:<hex>". Secrets are long random strings, so a fast hash suffices
// (no dictionary to slow down); a leaked store does not leak usable secrets.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + hex.EncodeToString(sum[:])
}

// SecretMatches reports whether secret hashes to storedHash (as made by
// HashSecret), comparing in constant time.
func SecretMatches(storedHash, secret string) bool {
	if !strings.HasPrefix(storedHash, secretHashPrefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(storedHash), []byte(HashSecret(secret))) == 1
}

// NewSecret makes a bearer token (e.g. the admin token): prefix followed by
// 40 random lowercase letters and digits (~206 bits). The prefix makes the
// token recognisable (to people and secret scanners); store HashSecret of it.
func NewSecret(prefix string) (string, error) {
	r, err := randomString(bearerSecretLen)
	if err != nil {
		return "", fmt.Errorf("new secret: %w", err)
	}
	return prefix + r, nil
}

// randomString returns n characters of lowerAlnum from crypto/rand, without
// modulo bias (bytes >= 252 are redrawn).
func randomString(n int) (string, error) {
	const limit = 256 - 256%len(lowerAlnum)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, lowerAlnum[int(b)%len(lowerAlnum)])
			}
		}
	}
	return string(out), nil
}

func isLowerAlnum(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
