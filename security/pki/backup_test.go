package pki

import (
	"bytes"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestBackup(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	pass := []byte("correct horse battery staple")
	blob, err := EncryptCA(ca, pass)
	if err != nil {
		t.Fatalf("EncryptCA: %v", err)
	}
	keyPEM, _ := ca.KeyPEM()
	if bytes.Contains(blob, ca.CertPEM()[30:80]) || bytes.Contains(blob, keyPEM[30:80]) {
		t.Fatal("backup holds plain text")
	}
	if !strings.HasPrefix(string(blob), "-----BEGIN KEDGE ENCRYPTED CA-----") {
		t.Fatalf("backup does not start with its PEM header: %.40q", blob)
	}

	t.Run("round trip", func(t *testing.T) {
		back, err := DecryptCA(blob, pass)
		if err != nil {
			t.Fatalf("DecryptCA: %v", err)
		}
		backKey, _ := back.KeyPEM()
		if back.Hash() != ca.Hash() || !bytes.Equal(back.CertPEM(), ca.CertPEM()) || !bytes.Equal(backKey, keyPEM) {
			t.Fatal("round trip changed the CA")
		}
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		_, err := DecryptCA(blob, []byte("correct horse battery stapler"))
		if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "wrong passphrase") {
			t.Fatalf("DecryptCA: %v", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		block, _ := pem.Decode(blob)
		for _, i := range []int{len(block.Bytes) - 1, 12 /* salt */} {
			b := bytes.Clone(block.Bytes)
			b[i] ^= 1
			if _, err := DecryptCA(pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: b}), pass); !errors.Is(err, ErrWrongPassphrase) {
				t.Errorf("byte %d flipped: %v", i, err)
			}
		}
		// Lowering the iteration count is refused before any work.
		b := bytes.Clone(block.Bytes)
		b[6], b[7], b[8], b[9] = 0, 0, 0, 1
		if _, err := DecryptCA(pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: b}), pass); err == nil || !strings.Contains(err.Error(), "iteration count 1") {
			t.Errorf("1 iteration: %v", err)
		}
		b = bytes.Clone(block.Bytes)
		b[4] = 9
		if _, err := DecryptCA(pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: b}), pass); err == nil || !strings.Contains(err.Error(), "version 9 is not supported") {
			t.Errorf("version 9: %v", err)
		}
	})
	t.Run("not a backup", func(t *testing.T) {
		if _, err := DecryptCA(ca.CertPEM(), pass); err == nil || !strings.Contains(err.Error(), "not a kedge CA backup") {
			t.Errorf("DecryptCA of a certificate: %v", err)
		}
		if _, err := DecryptCA(pem.EncodeToMemory(&pem.Block{Type: "KEDGE ENCRYPTED CA", Bytes: []byte("KCAB")}), pass); err == nil {
			t.Error("short backup accepted")
		}
	})
	if _, err := EncryptCA(ca, nil); err == nil {
		t.Error("empty passphrase accepted")
	}
}
