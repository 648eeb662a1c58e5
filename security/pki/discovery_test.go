package pki

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// seen is what a test server observed on one connection.
type seen struct {
	handshakeErr error
	data         string // application data received
}

// startServer serves cfg on loopback and reports every connection.
func startServer(t *testing.T, cfg *tls.Config) (addr string, conns <-chan seen) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan seen, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, cfg)
				if err := tc.Handshake(); err != nil {
					ch <- seen{handshakeErr: err}
					return
				}
				data, _ := io.ReadAll(tc)
				ch <- seen{data: string(data)}
			}()
		}
	}()
	return ln.Addr().String(), ch
}

func next(t *testing.T, conns <-chan seen) seen {
	t.Helper()
	select {
	case s := <-conns:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("server saw no connection")
		return seen{}
	}
}

// join is the joiner's side of kedge join: send the secret over
// PinnedClientTLS, and only if the handshake proved the pinned CA.
func join(addr, caHash, secret string) error {
	conn, err := tls.Dial("tcp", addr, PinnedClientTLS(caHash))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(secret))
	return err
}

func TestFetchCA(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "c1", now)
	server := newTestIdentity(t, ca, node1(), 0, now)
	addr, conns := startServer(t, server.ServerTLS(tls.VerifyClientCertIfGiven))
	ctx := context.Background()

	t.Run("right hash", func(t *testing.T) {
		got, err := FetchCA(ctx, addr, ca.Hash())
		if err != nil {
			t.Fatalf("FetchCA: %v", err)
		}
		if SPKIHash(got) != ca.Hash() || !got.Equal(ca.Cert()) {
			t.Fatal("FetchCA returned another certificate")
		}
		if s := next(t, conns); s.data != "" {
			t.Fatalf("FetchCA sent %q", s.data)
		}
		if _, err := FetchCA(ctx, addr, "sha256:"+strings.ToUpper(ca.Hash())); err != nil {
			t.Fatalf("FetchCA with a prefixed uppercase hash: %v", err)
		}
		next(t, conns)
		if err := join(addr, ca.Hash(), testSecret); err != nil {
			t.Fatalf("join: %v", err)
		}
		if s := next(t, conns); s.data != testSecret {
			t.Fatalf("server received %q, want the secret", s.data)
		}
	})

	t.Run("wrong hash", func(t *testing.T) {
		other := newTestCA(t, "c1", now)
		_, err := FetchCA(ctx, addr, other.Hash())
		if !errors.Is(err, ErrCAMismatch) {
			t.Fatalf("FetchCA: %v", err)
		}
		want := "the server's CA sha256:" + ca.Hash() + " does not match the token's sha256:" + other.Hash() + ": wrong token or a man in the middle"
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q\nwant it to contain %q", err, want)
		}
		if s := next(t, conns); s.handshakeErr == nil || s.data != "" {
			t.Fatalf("server: handshake err %v, data %q", s.handshakeErr, s.data)
		}
		if err := join(addr, other.Hash(), testSecret); !errors.Is(err, ErrCAMismatch) {
			t.Fatalf("join: %v", err)
		}
		if s := next(t, conns); s.data != "" {
			t.Fatalf("the secret reached a server of the wrong CA: %q", s.data)
		}
	})

	t.Run("bad hash", func(t *testing.T) {
		if _, err := FetchCA(ctx, addr, "abc"); err == nil || !strings.Contains(err.Error(), "3 characters") {
			t.Fatalf("FetchCA: %v", err)
		}
		if err := join(addr, "abc", testSecret); err == nil {
			t.Fatal("join with a bad hash succeeded")
		}
		if s := next(t, conns); s.data != "" {
			t.Fatalf("server received %q", s.data)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := FetchCA(ctx, ln.Addr().String(), ca.Hash()); err == nil {
			t.Fatal("FetchCA succeeded against a silent server")
		}
	})
}

// TestPinRefusesImpostors: servers that know the CA certificate (it is
// public) but hold no certificate from it.
func TestPinRefusesImpostors(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "c1", now)
	evil := newTestCA(t, "c1", now)
	evilCert, evilKey, _ := issueNode(t, evil, node1(), 0, now)
	evilPair, err := tls.X509KeyPair(evilCert, evilKey)
	if err != nil {
		t.Fatal(err)
	}
	past := now.Add(-2 * 365 * 24 * time.Hour)
	oldCA := newTestCA(t, "c1", past)
	expired := newTestIdentity(t, oldCA, node1(), time.Hour, past)
	userKey, userKeyPEM, _ := NewKey()
	csr, _ := CreateCSR(userKey, NodeIdentity{})
	userCert, _, _ := ca.SignClient(csr, "admin", 0, now)
	userPair, _ := tls.X509KeyPair(userCert, userKeyPEM)

	for _, tc := range []struct {
		name   string
		chain  tls.Certificate
		hash   string
		want   error
		errHas string
	}{
		{"foreign leaf with the real CA appended", withChain(evilPair, ca.Cert().Raw), ca.Hash(), ErrCAMismatch, "was not issued by the token's CA"},
		{"no CA in the chain", leafOnly(evilPair), ca.Hash(), ErrCAMismatch, "sent no CA certificate"},
		{"expired server certificate", *expired.cur.Load().tls, oldCA.Hash(), ErrExpired, "this machine's clock"},
		{"client-only certificate", withChain(userPair, ca.Cert().Raw), ca.Hash(), ErrUntrusted, "not valid for a server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{Certificates: []tls.Certificate{tc.chain}, MinVersion: tls.VersionTLS13}
			addr, conns := startServer(t, cfg)
			_, err := FetchCA(context.Background(), addr, tc.hash)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("FetchCA: %v; want %v mentioning %q", err, tc.want, tc.errHas)
			}
			t.Log(err)
			next(t, conns)
			if err := join(addr, tc.hash, testSecret); err == nil {
				t.Fatal("join succeeded")
			}
			if s := next(t, conns); s.data != "" {
				t.Fatalf("the secret reached an impostor: %q", s.data)
			}
		})
	}
}

func withChain(pair tls.Certificate, extra ...[]byte) tls.Certificate {
	pair.Certificate = append([][]byte{pair.Certificate[0]}, extra...)
	return pair
}

func leafOnly(pair tls.Certificate) tls.Certificate { return withChain(pair) }
