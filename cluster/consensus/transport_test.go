package consensus

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestTransportRefusesForeignCertificates checks both directions of the
// mutual TLS: a client whose certificate comes from another CA (or that has
// none) is refused, and the node refuses to talk to a server whose
// certificate comes from another CA. The node keeps working throughout.
func TestTransportRefusesForeignCertificates(t *testing.T) {
	h := newHarness(t)
	n1 := h.start("n1")
	if err := n1.node.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 to lead", n1.node.IsLeader)

	rogue := newTestCA(t, "rogue CA")
	rogueCert := rogue.issue(t, "intruder")
	goodCert := h.ca.issue(t, "friend")

	dial := func(certs []tls.Certificate, wait time.Duration) error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n1.addr, &tls.Config{
			// Present the certificate even if it is not from a CA the
			// server asks for (Go's client would otherwise send none).
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if len(certs) == 0 {
					return &tls.Certificate{}, nil
				}
				return &certs[0], nil
			},
			RootCAs:    h.ca.pool, // the client trusts the node: only the node may refuse
			ServerName: testServerName,
			MinVersion: tls.VersionTLS13,
		})
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close() }()
		_ = conn.SetDeadline(time.Now().Add(wait))
		// In TLS 1.3 the server checks the client certificate after the
		// client's side of the handshake is done: the refusal arrives on
		// the first read.
		if _, err := conn.Write([]byte{0}); err != nil {
			return err
		}
		_, err = conn.Read(make([]byte, 1))
		return err
	}
	for name, certs := range map[string][]tls.Certificate{
		"certificate from another CA": {rogueCert},
		"no certificate":              nil,
	} {
		err := dial(certs, 5*time.Second)
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("%s: connection not refused (err %v)", name, err)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
	// A client with a cluster certificate is accepted: the connection stays
	// open, raft waiting for the rest of the command.
	err := dial([]tls.Certificate{goodCert}, 300*time.Millisecond)
	if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("good certificate: got %v, want the read to time out on an open connection", err)
	}

	// The node refuses a server whose certificate is from another CA.
	rogueServer, _ := rogue.tlsConfigs(t, "intruder")
	ln, err := tls.Listen("tcp", "127.0.0.200:0", rogueServer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	if _, err := n1.node.stream.Dial(raft.ServerAddress(ln.Addr().String()), 5*time.Second); err == nil {
		t.Error("dial to a server with a foreign certificate succeeded")
	} else {
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("dial to a foreign server: got %v, want a certificate verification error", err)
		}
	}

	ctx := ctxTimeout(t, 10*time.Second)
	if _, _, err := n1.node.Apply(ctx, []byte("still-alive")); err != nil {
		t.Fatalf("apply after refused connections: %v", err)
	}
}
