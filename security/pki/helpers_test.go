package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// testNow is a fixed instant for certificate contents; TLS tests use
// time.Now because the TLS stack judges validity by the wall clock unless an
// Identity's clock says otherwise.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestCA(t *testing.T, clusterID string, now time.Time) *CA {
	t.Helper()
	ca, err := NewCA(clusterID, now)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// issueNode makes a key and a node certificate for id from ca.
func issueNode(t *testing.T, ca *CA, id NodeIdentity, ttl time.Duration, now time.Time) (certPEM, keyPEM []byte, serial string) {
	t.Helper()
	key, keyPEM, err := NewKey()
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	csr, err := CreateCSR(key, id)
	if err != nil {
		t.Fatalf("CreateCSR: %v", err)
	}
	certPEM, serial, err = ca.SignNode(csr, id, ttl, now)
	if err != nil {
		t.Fatalf("SignNode: %v", err)
	}
	return certPEM, keyPEM, serial
}

// node1 is the identity most tests use; its SANs match the loopback dial.
func node1() NodeIdentity {
	return NodeIdentity{ID: "n1", Name: "node-one", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"node1.test"}}
}

func newTestIdentity(t *testing.T, ca *CA, id NodeIdentity, ttl time.Duration, now time.Time) *Identity {
	t.Helper()
	certPEM, keyPEM, _ := issueNode(t, ca, id, ttl, now)
	ident, err := NewIdentity(certPEM, keyPEM, ca.CertPEM())
	if err != nil {
		t.Fatalf("NewIdentity: %v", err)
	}
	return ident
}

// result is what both ends of one loopback TLS exchange saw.
type result struct {
	serverErr, clientErr error
	server, client       tls.ConnectionState
	received             string // application data the server read
}

// exchange runs one TLS connection over loopback: the client handshakes,
// writes "ping" and reads the reply; the server handshakes, reads up to EOF
// and answers "pong". In TLS 1.3 the client's handshake finishes before the
// server has judged the client certificate, so a refusal by the server shows
// up as the client's read error.
func exchange(t *testing.T, serverCfg, clientCfg *tls.Config) result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { done <- r }()
		c, err := ln.Accept()
		if err != nil {
			r.serverErr = err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		sc := tls.Server(c, serverCfg)
		if r.serverErr = sc.HandshakeContext(ctx); r.serverErr != nil {
			return
		}
		r.server = sc.ConnectionState()
		buf := make([]byte, 4)
		n, err := io.ReadFull(sc, buf)
		r.received = string(buf[:n])
		if err != nil {
			r.serverErr = err
			return
		}
		_, r.serverErr = sc.Write([]byte("pong"))
	}()

	var r result
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	cc := tls.Client(c, clientCfg)
	r.clientErr = cc.HandshakeContext(ctx)
	if r.clientErr == nil {
		r.client = cc.ConnectionState()
		if _, r.clientErr = cc.Write([]byte("ping")); r.clientErr == nil {
			buf := make([]byte, 4)
			_, r.clientErr = io.ReadFull(cc, buf)
		}
	}
	c.Close()
	s := <-done
	s.clientErr, s.client = r.clientErr, r.client
	return s
}

func mustSucceed(t *testing.T, r result) {
	t.Helper()
	if r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("exchange failed: server: %v; client: %v", r.serverErr, r.clientErr)
	}
	if r.received != "ping" {
		t.Fatalf("server received %q, want ping", r.received)
	}
}

// mustRefuse checks that side ("server" or "client") refused the exchange,
// with an error matching want when want is not nil.
func mustRefuse(t *testing.T, r result, side string, want error) {
	t.Helper()
	err := r.serverErr
	if side == "client" {
		err = r.clientErr
	}
	if err == nil {
		t.Fatalf("%s accepted the connection (server err %v, client err %v)", side, r.serverErr, r.clientErr)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("%s error %q does not wrap %q", side, err, want)
	}
	if side == "server" && r.received != "" {
		t.Fatalf("server received application data %q from a refused client", r.received)
	}
	t.Logf("%s refused: %v", side, err)
}

func bigOne() *big.Int { return big.NewInt(1) }

func indexOf(haystack, needle []byte) int { return bytes.Index(haystack, needle) }
