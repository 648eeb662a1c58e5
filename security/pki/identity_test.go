package pki

import (
	"crypto/tls"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Certificates in the TLS tests are issued around the wall clock, which the
// TLS stack uses.

func TestMutualTLS(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "c1", now)
	server := newTestIdentity(t, ca, node1(), 0, now)
	client := newTestIdentity(t, ca, NodeIdentity{ID: "n2", Name: "node-two"}, 0, now)

	for _, cfg := range []struct {
		name string
		tls  *tls.Config
	}{
		{"by name", client.ClientTLS("node1.test")},
		{"by IP", client.ClientTLS("127.0.0.1")},
		{"by CA only", client.ClientTLS("")},
		{"by node id", client.ClientTLSForNode("n1")},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			r := exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), cfg.tls)
			mustSucceed(t, r)
			if r.client.Version != tls.VersionTLS13 {
				t.Errorf("version %x", r.client.Version)
			}
			if got, _ := NodeIDFromCert(r.server.PeerCertificates[0]); got != "n2" {
				t.Errorf("server sees client node %q", got)
			}
			// The server presents its CA after its own certificate.
			if pc := r.client.PeerCertificates; len(pc) != 2 || SPKIHash(pc[1]) != ca.Hash() {
				t.Errorf("server chain has %d certificates", len(pc))
			}
		})
	}
	if server.NodeID() != "n1" || server.Cert().Subject.CommonName != "node-one" || SPKIHash(server.CACert()) != ca.Hash() {
		t.Errorf("accessors: %q %q", server.NodeID(), server.Cert().Subject.CommonName)
	}

	t.Run("wrong name", func(t *testing.T) {
		mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), client.ClientTLS("other.test")), "client", nil)
	})
	t.Run("wrong node id", func(t *testing.T) {
		mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), client.ClientTLSForNode("n9")), "client", ErrUntrusted)
	})
	t.Run("no client certificate", func(t *testing.T) {
		anon := &tls.Config{RootCAs: poolOf(ca.Cert()), ServerName: "node1.test", MinVersion: tls.VersionTLS13}
		mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), anon), "server", nil)
		mustSucceed(t, exchange(t, server.ServerTLS(tls.VerifyClientCertIfGiven), anon))
	})
	t.Run("user certificate is not a server", func(t *testing.T) {
		key, keyPEM, _ := NewKey()
		csr, _ := CreateCSR(key, NodeIdentity{})
		certPEM, _, err := ca.SignClient(csr, "admin", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		user, err := NewIdentity(certPEM, keyPEM, ca.CertPEM())
		if err != nil {
			t.Fatal(err)
		}
		if user.NodeID() != "" {
			t.Errorf("user NodeID %q", user.NodeID())
		}
		mustSucceed(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), user.ClientTLS("node1.test")))
		mustRefuse(t, exchange(t, user.ServerTLS(tls.NoClientCert), client.ClientTLS("")), "client", ErrUntrusted)
	})
}

func TestForeignCARefused(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "c1", now)
	evil := newTestCA(t, "c1", now) // same name, different key
	server := newTestIdentity(t, ca, node1(), 0, now)
	client := newTestIdentity(t, ca, NodeIdentity{ID: "n2", Name: "node-two"}, 0, now)
	evilServer := newTestIdentity(t, evil, node1(), 0, now)

	t.Run("client refuses a server of another CA", func(t *testing.T) {
		mustRefuse(t, exchange(t, evilServer.ServerTLS(tls.NoClientCert), client.ClientTLS("node1.test")), "client", nil)
		mustRefuse(t, exchange(t, evilServer.ServerTLS(tls.NoClientCert), client.ClientTLS("")), "client", ErrUntrusted)
		mustRefuse(t, exchange(t, evilServer.ServerTLS(tls.NoClientCert), client.ClientTLSForNode("n1")), "client", ErrUntrusted)
	})
	t.Run("server refuses a client of another CA", func(t *testing.T) {
		evilCert, evilKey, _ := issueNode(t, evil, NodeIdentity{ID: "n2", Name: "node-two"}, 0, now)
		pair, err := tls.X509KeyPair(evilCert, evilKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: poolOf(ca.Cert()), ServerName: "node1.test"}
		mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), cfg), "server", nil)
		// Modes where Go does not verify: the Identity still does.
		mustRefuse(t, exchange(t, server.ServerTLS(tls.RequestClientCert), cfg), "server", ErrUntrusted)
		mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAnyClientCert), cfg), "server", ErrUntrusted)
	})
	t.Run("identity refuses a certificate of another CA", func(t *testing.T) {
		evilCert, evilKey, _ := issueNode(t, evil, node1(), 0, now)
		if _, err := NewIdentity(evilCert, evilKey, ca.CertPEM()); !errors.Is(err, ErrUntrusted) {
			t.Errorf("NewIdentity: %v", err)
		}
		if err := server.Update(evilCert, evilKey); !errors.Is(err, ErrUntrusted) {
			t.Errorf("Update: %v", err)
		}
	})
}

func TestRevokedRefused(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "c1", now)
	server := newTestIdentity(t, ca, node1(), 0, now)
	client := newTestIdentity(t, ca, NodeIdentity{ID: "n2", Name: "node-two"}, 0, now)
	var asked atomic.Int32
	revoke := func(serial string) func(string) bool {
		return func(s string) bool { asked.Add(1); return s == serial }
	}

	server.SetRevoked(revoke(Serial(client.Cert())))
	for _, mode := range []tls.ClientAuthType{tls.RequireAndVerifyClientCert, tls.VerifyClientCertIfGiven, tls.RequestClientCert} {
		mustRefuse(t, exchange(t, server.ServerTLS(mode), client.ClientTLS("node1.test")), "server", ErrRevoked)
	}
	server.SetRevoked(nil)
	mustSucceed(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), client.ClientTLS("node1.test")))

	client.SetRevoked(revoke(Serial(server.Cert())))
	mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), client.ClientTLS("node1.test")), "client", ErrRevoked)
	mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), client.ClientTLS("")), "client", ErrRevoked)
	// A revocation set after the configuration was made still applies.
	cfg := client.ClientTLS("node1.test")
	client.SetRevoked(revoke("0"))
	mustSucceed(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), cfg))
	client.SetRevoked(revoke(Serial(server.Cert())))
	mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), cfg), "client", ErrRevoked)
	if asked.Load() == 0 {
		t.Fatal("revocation hook never consulted")
	}
}

func TestExpiredRefused(t *testing.T) {
	now := time.Now()
	past := now.Add(-2 * 365 * 24 * time.Hour)
	ca := newTestCA(t, "c1", past)
	server := newTestIdentity(t, ca, node1(), 0, now)
	client := newTestIdentity(t, ca, NodeIdentity{ID: "n2", Name: "node-two"}, 0, now)
	// Issued two years ago for an hour: long expired, but still loadable.
	expiredServer := newTestIdentity(t, ca, node1(), time.Hour, past)
	expiredClient := newTestIdentity(t, ca, NodeIdentity{ID: "n2", Name: "node-two"}, time.Hour, past)

	mustRefuse(t, exchange(t, expiredServer.ServerTLS(tls.NoClientCert), client.ClientTLS("node1.test")), "client", nil)
	mustRefuse(t, exchange(t, expiredServer.ServerTLS(tls.NoClientCert), client.ClientTLS("")), "client", ErrExpired)
	mustRefuse(t, exchange(t, server.ServerTLS(tls.RequireAndVerifyClientCert), expiredClient.ClientTLS("node1.test")), "server", nil)
	mustRefuse(t, exchange(t, server.ServerTLS(tls.RequestClientCert), expiredClient.ClientTLS("node1.test")), "server", ErrExpired)

	// The Identity's clock decides: a year and a half on, the default one-year
	// certificates have expired too.
	later := func() time.Time { return now.Add(18 * 30 * 24 * time.Hour) }
	certPEM, keyPEM, _ := issueNode(t, ca, NodeIdentity{ID: "n2", Name: "node-two"}, 0, now)
	skewed, err := NewIdentity(certPEM, keyPEM, ca.CertPEM(), WithClock(later))
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, exchange(t, server.ServerTLS(tls.NoClientCert), skewed.ClientTLS("")), "client", ErrExpired)
	if !NeedsRenewal(skewed.Cert(), later()) || NeedsRenewal(skewed.Cert(), now) {
		t.Error("NeedsRenewal disagrees")
	}
}

func TestIdentityUpdate(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "c1", now)
	server := newTestIdentity(t, ca, node1(), 0, now)
	client := newTestIdentity(t, ca, NodeIdentity{ID: "n2", Name: "node-two"}, 0, now)
	serverCfg := server.ServerTLS(tls.RequireAndVerifyClientCert) // made once, like a listener's
	clientCfg := client.ClientTLS("node1.test")

	r := exchange(t, serverCfg, clientCfg)
	mustSucceed(t, r)
	first := Serial(r.client.PeerCertificates[0])

	newCert, newKey, newSerial := issueNode(t, ca, node1(), 0, now)
	if err := server.Update(newCert, newKey); err != nil {
		t.Fatalf("Update: %v", err)
	}
	newClientCert, newClientKey, newClientSerial := issueNode(t, ca, NodeIdentity{ID: "n2", Name: "node-two"}, 0, now)
	if err := client.Update(newClientCert, newClientKey); err != nil {
		t.Fatalf("Update: %v", err)
	}
	r = exchange(t, serverCfg, clientCfg)
	mustSucceed(t, r)
	if got := Serial(r.client.PeerCertificates[0]); got != newSerial || got == first {
		t.Errorf("server presented %s after renewal, want %s (was %s)", got, newSerial, first)
	}
	if got := Serial(r.server.PeerCertificates[0]); got != newClientSerial {
		t.Errorf("client presented %s after renewal, want %s", got, newClientSerial)
	}
	if Serial(server.Cert()) != newSerial {
		t.Error("Cert() not updated")
	}

	// Refused updates keep the current pair.
	otherCert, otherKey, _ := issueNode(t, ca, NodeIdentity{ID: "n3", Name: "node-three"}, 0, now)
	if err := server.Update(otherCert, otherKey); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("Update to another node: %v", err)
	}
	if err := server.Update(newCert, otherKey); err == nil || !strings.Contains(err.Error(), "certificate and key") {
		t.Errorf("Update with a mismatched key: %v", err)
	}
	if Serial(server.Cert()) != newSerial || server.NodeID() != "n1" {
		t.Error("a refused update changed the identity")
	}
}
