package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestSignNodeIgnoresCSRNames(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	key, _, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	// The requester asks for names it must not get.
	asked := NodeIdentity{ID: "leader", Name: "kedge-admin", IPs: []net.IP{net.IPv4(10, 9, 9, 9)}, DNSNames: []string{"api.example.com"}}
	csr, err := CreateCSR(key, asked)
	if err != nil {
		t.Fatal(err)
	}
	decided := NodeIdentity{ID: "n7", Name: "worker-7", IPs: []net.IP{net.IPv4(192, 168, 1, 7)}, DNSNames: []string{"worker-7.local"}}
	certPEM, serial, err := ca.SignNode(csr, decided, 0, testNow)
	if err != nil {
		t.Fatalf("SignNode: %v", err)
	}
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "worker-7" || len(cert.Subject.Organization) != 0 {
		t.Errorf("subject %v", cert.Subject)
	}
	if !slices.Equal(cert.DNSNames, []string{"worker-7.local"}) {
		t.Errorf("DNS names %v", cert.DNSNames)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.IPv4(192, 168, 1, 7)) {
		t.Errorf("IPs %v", cert.IPAddresses)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != "kedge://node/n7" {
		t.Errorf("URIs %v", cert.URIs)
	}
	if id, err := NodeIDFromCert(cert); err != nil || id != "n7" {
		t.Errorf("NodeIDFromCert = %q, %v", id, err)
	}
	if serial != Serial(cert) {
		t.Errorf("serial %q, certificate has %q", serial, Serial(cert))
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("certificate is not for the CSR's key")
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage %v", cert.ExtKeyUsage)
	}
	if cert.IsCA {
		t.Error("node certificate is a CA")
	}
	if got := cert.NotAfter.Sub(testNow); got != DefaultCertTTL {
		t.Errorf("default lifetime %v, want %v", got, DefaultCertTTL)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: poolOf(ca.Cert()), CurrentTime: testNow, DNSName: "worker-7.local"}); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestSignNodeRefuses(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	key, _, _ := NewKey()
	csr, _ := CreateCSR(key, node1())

	// A CSR whose signature does not verify (the public key swapped).
	block, _ := pem.Decode(csr)
	req, _ := x509.ParseCertificateRequest(block.Bytes)
	other, _, _ := NewKey()
	otherCSR, _ := CreateCSR(other, node1())
	ob, _ := pem.Decode(otherCSR)
	oreq, _ := x509.ParseCertificateRequest(ob.Bytes)
	tampered := slices.Clone(block.Bytes)
	i := indexOf(tampered, req.RawSubjectPublicKeyInfo)
	if i < 0 || len(oreq.RawSubjectPublicKeyInfo) != len(req.RawSubjectPublicKeyInfo) {
		t.Fatal("cannot locate the CSR's key")
	}
	copy(tampered[i:], oreq.RawSubjectPublicKeyInfo)
	if _, _, err := ca.SignNode(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), node1(), 0, testNow); err == nil {
		t.Error("CSR with a bad signature signed")
	}

	for name, id := range map[string]NodeIdentity{
		"empty id":     {Name: "x"},
		"slash in id":  {ID: "a/b", Name: "x"},
		"dot-dot id":   {ID: "..", Name: "x"},
		"empty name":   {ID: "n1"},
		"control name": {ID: "n1", Name: "a\nb"},
		"bad dns":      {ID: "n1", Name: "x", DNSNames: []string{"a..b"}},
		"bad ip":       {ID: "n1", Name: "x", IPs: []net.IP{{1, 2, 3}}},
	} {
		if _, _, err := ca.SignNode(csr, id, 0, testNow); !errors.Is(err, ErrInvalidIdentity) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := ca.SignNode([]byte("junk"), node1(), 0, testNow); err == nil {
		t.Error("junk CSR signed")
	}
}

func TestSignClient(t *testing.T) {
	ca := newTestCA(t, "c1", testNow)
	key, _, _ := NewKey()
	csr, _ := CreateCSR(key, NodeIdentity{Name: "root", ID: "n1"})
	certPEM, _, err := ca.SignClient(csr, "admin", time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ParseCertPEM(certPEM)
	if u, err := UserFromCert(cert); err != nil || u != "admin" {
		t.Errorf("UserFromCert = %q, %v", u, err)
	}
	if _, err := NodeIDFromCert(cert); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("a user certificate has a node id: %v", err)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage %v", cert.ExtKeyUsage)
	}
	if cert.NotAfter.Sub(testNow) != time.Hour {
		t.Errorf("NotAfter %v", cert.NotAfter)
	}
	if _, _, err := ca.SignClient(csr, "a b", 0, testNow); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("bad user name: %v", err)
	}
}

func TestNodeIDFromCertRefuses(t *testing.T) {
	mk := func(uris ...string) *x509.Certificate {
		c := &x509.Certificate{SerialNumber: bigOne()}
		for _, s := range uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = append(c.URIs, u)
		}
		return c
	}
	for _, uris := range [][]string{
		nil,
		{"spiffe://node/n1"},
		{"kedge://user/n1"},
		{"kedge://node/"},
		{"kedge://node/a/b"},
		{"kedge://node/n1?x=1"},
		{"kedge://node/n1", "kedge://node/n2"},
	} {
		if id, err := NodeIDFromCert(mk(uris...)); !errors.Is(err, ErrNoIdentity) {
			t.Errorf("%v: id %q, err %v", uris, id, err)
		}
	}
	if id, err := NodeIDFromCert(mk("spiffe://x/y", "kedge://node/n-1.a_b")); err != nil || id != "n-1.a_b" {
		t.Errorf("got %q, %v", id, err)
	}
}

func TestNeedsRenewal(t *testing.T) {
	start := testNow
	cert := &x509.Certificate{NotBefore: start, NotAfter: start.Add(300 * time.Hour)}
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{
		{-time.Hour, false},
		{0, false},
		{199 * time.Hour, false},
		{200 * time.Hour, true},
		{299 * time.Hour, true},
		{400 * time.Hour, true},
	} {
		if got := NeedsRenewal(cert, start.Add(tc.at)); got != tc.want {
			t.Errorf("at +%v: %v, want %v", tc.at, got, tc.want)
		}
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
