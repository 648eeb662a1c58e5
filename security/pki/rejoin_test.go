package pki

import (
	"errors"
	"testing"
	"time"
)

// An expired node certificate still proves its holder's identity for a
// rejoin; anything else about the claim that is off is refused.
func TestRejoinProof(t *testing.T) {
	ca := newTestCA(t, "c1", testNow.Add(-2*365*24*time.Hour))
	// Issued a year before, for a day: long expired at testNow.
	certPEM, keyPEM, serial := issueNode(t, ca, node1(), 24*time.Hour, testNow.Add(-365*24*time.Hour))
	newKey, _, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := CreateCSR(newKey, NodeIdentity{ID: "joining", Name: "node-one"})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := SignRejoin(keyPEM, "n1", "tok123", csr)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := VerifyRejoin(ca.CertPEM(), certPEM, sig, "n1", "tok123", csr)
	if err != nil {
		t.Fatalf("a valid proof with an expired certificate: %v", err)
	}
	if Serial(cert) != serial || !testNow.After(cert.NotAfter) {
		t.Fatalf("certificate %s valid to %v", Serial(cert), cert.NotAfter)
	}

	otherCA := newTestCA(t, "c2", testNow.Add(-2*365*24*time.Hour))
	foreignPEM, foreignKey, _ := issueNode(t, otherCA, node1(), 24*time.Hour, testNow.Add(-365*24*time.Hour))
	foreignSig, _ := SignRejoin(foreignKey, "n1", "tok123", csr)
	n2PEM, n2Key, _ := issueNode(t, ca, NodeIdentity{ID: "n2", Name: "two"}, 24*time.Hour, testNow)
	n2Sig, _ := SignRejoin(n2Key, "n1", "tok123", csr)
	_, strangerKey, _ := NewKey()
	strangerSig, _ := SignRejoin(strangerKey, "n1", "tok123", csr)
	otherCSR, _ := CreateCSR(newKey, NodeIdentity{ID: "joining", Name: "elsewhere"})
	for name, c := range map[string]struct {
		caPEM, certPEM, sig []byte
		id, token           string
		csr                 []byte
	}{
		"another cluster's CA":          {ca.CertPEM(), foreignPEM, foreignSig, "n1", "tok123", csr},
		"another node's certificate":    {ca.CertPEM(), n2PEM, n2Sig, "n1", "tok123", csr},
		"signed without the old key":    {ca.CertPEM(), certPEM, strangerSig, "n1", "tok123", csr},
		"proof made for another token":  {ca.CertPEM(), certPEM, sig, "n1", "tok999", csr},
		"proof made for another CSR":    {ca.CertPEM(), certPEM, sig, "n1", "tok123", otherCSR},
		"claims another id":             {ca.CertPEM(), certPEM, sig, "n2", "tok123", csr},
		"no signature":                  {ca.CertPEM(), certPEM, nil, "n1", "tok123", csr},
		"not a certificate":             {ca.CertPEM(), []byte("junk"), sig, "n1", "tok123", csr},
		"no CA to check against":        {nil, certPEM, sig, "n1", "tok123", csr},
		"a CA bundle without our CA":    {otherCA.CertPEM(), certPEM, sig, "n1", "tok123", csr},
		"the CA key signs as the node?": {ca.CertPEM(), certPEM, mustSign(t, ca, csr), "n1", "tok123", csr},
	} {
		if _, err := VerifyRejoin(c.caPEM, c.certPEM, c.sig, c.id, c.token, c.csr); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: %v, want ErrUntrusted", name, err)
		}
	}
	// During a CA rotation the cluster record holds a bundle: either CA works.
	bundle := append(otherCA.CertPEM(), ca.CertPEM()...)
	if _, err := VerifyRejoin(bundle, certPEM, sig, "n1", "tok123", csr); err != nil {
		t.Fatalf("with a CA bundle: %v", err)
	}
	if _, err := SignRejoin([]byte("junk"), "n1", "tok123", csr); err == nil {
		t.Fatal("signed with no key")
	}
}

func mustSign(t *testing.T, ca *CA, csr []byte) []byte {
	t.Helper()
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := SignRejoin(keyPEM, "n1", "tok123", csr)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
