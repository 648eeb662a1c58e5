package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	c := ca.Cert()
	if got, want := c.Subject.CommonName, "kedge cluster CA c1"; got != want {
		t.Errorf("CN = %q, want %q", got, want)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("IsCA %v, BasicConstraintsValid %v, MaxPathLen %d, MaxPathLenZero %v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if got := c.NotAfter.Sub(testNow); got != CAValidity {
		t.Errorf("valid for %v after now, want %v", got, CAValidity)
	}
	if c.NotBefore.After(testNow) {
		t.Errorf("NotBefore %v after now", c.NotBefore)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("KeyUsage %b lacks CertSign", c.KeyUsage)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if h := ca.Hash(); len(h) != 64 || strings.ToLower(h) != h || h != SPKIHash(c) {
		t.Errorf("Hash() = %q", h)
	}
	if _, err := NewCA("", testNow); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("NewCA with empty id: %v", err)
	}
}

func TestCARoundTrip(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatalf("ParseCA: %v", err)
	}
	if back.Hash() != ca.Hash() || !bytes.Equal(back.CertPEM(), ca.CertPEM()) {
		t.Fatal("round trip changed the CA")
	}
	// The reloaded CA signs, and its certificates verify against the original.
	certPEM, _, _ := issueNode(t, back, node1(), 0, testNow)
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(ca.Cert()); err != nil {
		t.Fatalf("certificate of reloaded CA: %v", err)
	}
	// Cert and key in one file also parse.
	if _, err := ParseCA(append(ca.CertPEM(), keyPEM...), append(ca.CertPEM(), keyPEM...)); err != nil {
		t.Fatalf("ParseCA of a combined PEM: %v", err)
	}
	// CertPEM hands out a copy.
	p := ca.CertPEM()
	p[0] = 'X'
	if ca.CertPEM()[0] == 'X' {
		t.Fatal("CertPEM exposes internal state")
	}
}

func TestParseCARefuses(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	other := newTestCA(t, "c2", testNow)
	otherKey, _ := other.KeyPEM()
	if _, err := ParseCA(ca.CertPEM(), otherKey); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("mismatched key: %v", err)
	}
	leafPEM, leafKey, _ := issueNode(t, ca, node1(), 0, testNow)
	if _, err := ParseCA(leafPEM, leafKey); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("leaf as CA: %v", err)
	}
	if _, err := ParseCA([]byte("junk"), otherKey); err == nil {
		t.Error("junk certificate accepted")
	}
	if _, err := ParseCA(ca.CertPEM(), []byte("junk")); err == nil {
		t.Error("junk key accepted")
	}
}

func TestCertificatesNeverOutliveCA(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	late := testNow.Add(CAValidity - 24*time.Hour)
	certPEM, _, _ := issueNode(t, ca, node1(), 0, late)
	cert, _ := ParseCertPEM(certPEM)
	if !cert.NotAfter.Equal(ca.Cert().NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", cert.NotAfter, ca.Cert().NotAfter)
	}
	key, _, _ := NewKey()
	csr, _ := CreateCSR(key, node1())
	if _, _, err := ca.SignNode(csr, node1(), 0, testNow.Add(CAValidity+time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("signing with an expired CA: %v", err)
	}
}
