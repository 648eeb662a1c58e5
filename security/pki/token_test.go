package pki

import (
	"errors"
	"strings"
	"testing"
)

const (
	testHash   = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testSecret = "s3cr3tvalue0123456789abcd"
)

func TestParseToken(t *testing.T) {
	good := "KEDGE1-" + testHash + "-abc123." + testSecret
	for _, tc := range []struct {
		name, in string
		want     Token
		errHas   string // "" means success
	}{
		{"valid", good, Token{testHash, "abc123", testSecret}, ""},
		{"surrounding space", "  " + good + "\n", Token{testHash, "abc123", testSecret}, ""},
		{"uppercase hash", "KEDGE1-" + strings.ToUpper(testHash) + "-abc123." + testSecret, Token{testHash, "abc123", testSecret}, ""},
		{"sha256 prefix", "KEDGE1-sha256:" + testHash + "-abc123." + testSecret, Token{testHash, "abc123", testSecret}, ""},
		{"empty", "", Token{}, "does not start with"},
		{"other system", "SWMTKN-1-" + testHash + "-abc123." + testSecret, Token{}, "not a kedge join token"},
		{"kubeadm", "abcdef.0123456789abcdef", Token{}, "does not start with"},
		{"lowercase prefix", "kedge1-" + testHash + "-abc123." + testSecret, Token{}, "does not start with"},
		{"future version", "KEDGE2-" + testHash + "-abc123." + testSecret, Token{}, "version KEDGE2 is not supported"},
		{"garbage version", "KEDGEx" + testSecret + "-" + testHash, Token{}, "malformed version"},
		{"no dash", "KEDGE1", Token{}, "no '-' after the version"},
		{"missing id", "KEDGE1-" + testHash, Token{}, "no '-' between the CA hash"},
		{"short hash", "KEDGE1-" + testHash[:63] + "-abc123." + testSecret, Token{}, "63 characters"},
		{"long hash", "KEDGE1-" + testHash + "0-abc123." + testSecret, Token{}, "65 characters"},
		{"hash not hex", "KEDGE1-" + strings.Repeat("g", 64) + "-abc123." + testSecret, Token{}, "not hexadecimal"},
		{"no dot", "KEDGE1-" + testHash + "-abc123" + testSecret, Token{}, "no '.' between"},
		{"empty id", "KEDGE1-" + testHash + "-." + testSecret, Token{}, "missing token id"},
		{"short id", "KEDGE1-" + testHash + "-abc." + testSecret, Token{}, "6 lowercase"},
		{"uppercase id", "KEDGE1-" + testHash + "-ABC123." + testSecret, Token{}, "6 lowercase"},
		{"empty secret", "KEDGE1-" + testHash + "-abc123.", Token{}, "missing token secret"},
		{"short secret", "KEDGE1-" + testHash + "-abc123.short", Token{}, "too short (5 characters"},
		{"long secret", "KEDGE1-" + testHash + "-abc123." + strings.Repeat("a", 129), Token{}, "too long"},
		{"secret charset", "KEDGE1-" + testHash + "-abc123." + testSecret + "-X", Token{}, "only lowercase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseToken(tc.in)
			if tc.errHas == "" {
				if err != nil || got != tc.want {
					t.Fatalf("ParseToken = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseToken accepted %q as %+v", tc.in, got)
			}
			if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %q: want ErrInvalidToken mentioning %q", err, tc.errHas)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error %q repeats the secret", err)
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	seen := map[string]bool{}
	for range 50 {
		tok, err := NewToken("sha256:" + ca.Hash())
		if err != nil {
			t.Fatal(err)
		}
		if tok.CAHash != ca.Hash() || len(tok.ID) != TokenIDLen || len(tok.Secret) < 16 {
			t.Fatalf("token %+v", tok)
		}
		back, err := ParseToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("round trip of %s: %+v, %v", tok.Redacted(), back, err)
		}
		if strings.Contains(tok.Redacted(), tok.Secret) || !strings.Contains(tok.Redacted(), tok.ID) {
			t.Fatalf("Redacted %q", tok.Redacted())
		}
		if seen[tok.Secret] {
			t.Fatal("repeated secret")
		}
		seen[tok.Secret] = true
	}
	if _, err := NewToken("abc"); err == nil {
		t.Fatal("NewToken accepted a bad hash")
	}
}

func TestSecretHashing(t *testing.T) {
	stored := HashSecret(testSecret)
	if strings.Contains(stored, testSecret) || !strings.HasPrefix(stored, "sha256:") {
		t.Fatalf("HashSecret = %q", stored)
	}
	if !SecretMatches(stored, testSecret) {
		t.Fatal("the right secret does not match")
	}
	for _, s := range []string{"", testSecret + "x", testSecret[1:], strings.ToUpper(testSecret)} {
		if SecretMatches(stored, s) {
			t.Fatalf("%q matches", s)
		}
	}
	// A stored value that is not a hash never matches (no plain-text fallback).
	if SecretMatches(testSecret, testSecret) || SecretMatches("", "") {
		t.Fatal("a non-hash stored value matches")
	}
	a, err := NewSecret("kedge_adm_")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret("kedge_adm_")
	rest, ok := strings.CutPrefix(a, "kedge_adm_")
	if !ok || len(rest) != 40 || !isLowerAlnum(rest) || a == b {
		t.Fatalf("NewSecret = %q, %q", a, b)
	}
	if !SecretMatches(HashSecret(a), a) {
		t.Fatal("bearer secret does not match its hash")
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add("KEDGE1-" + testHash + "-abc123." + testSecret)
	f.Add("KEDGE2-" + testHash + "-abc123." + testSecret)
	f.Add("KEDGE1-sha256:" + testHash + "-abc123.x")
	f.Add("KEDGE1--.")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %q does not wrap ErrInvalidToken", err)
			}
			// Never echo anything secret-shaped from the input.
			if _, secret, ok := strings.Cut(s, "."); ok {
				secret = strings.TrimSpace(secret)
				if len(secret) >= 16 && isLowerAlnum(secret) && strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q repeats the secret", err)
				}
			}
			return
		}
		if len(tok.CAHash) != 64 || len(tok.ID) != TokenIDLen || len(tok.Secret) < 16 ||
			!isLowerAlnum(tok.ID) || !isLowerAlnum(tok.Secret) || strings.ToLower(tok.CAHash) != tok.CAHash {
			t.Fatalf("accepted malformed token %+v", tok)
		}
		back, err := ParseToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	})
}
