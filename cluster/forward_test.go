package cluster

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A forwarded command is sent again only when it never reached the leader
// whole: a refused connection, or one whose TLS handshake hangs (a leader
// cut off mid-connect), is retried; a leader that took the request and
// gave no answer may have applied it, so it is not.
func TestDoTracedSaysWhetherTheRequestLeft(t *testing.T) {
	client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	post := func(url string) (bool, error) {
		req, err := http.NewRequest(http.MethodPost, url+pathApply, strings.NewReader("cmd"))
		if err != nil {
			t.Fatal(err)
		}
		resp, sent, err := doTraced(client, req)
		if resp != nil {
			resp.Body.Close()
		}
		return sent, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if sent, err := post("https://" + closed); err == nil || sent {
		t.Fatalf("a refused connection: sent %v, err %v; want an error and nothing sent", sent, err)
	}

	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() { // accepts and never speaks TLS; ends when mute closes
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	if sent, err := post("https://" + mute.Addr().String()); err == nil || sent {
		t.Fatalf("a hung TLS handshake: sent %v, err %v; want an error and nothing sent", sent, err)
	}

	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // the leader has the command and does not answer in time
	}))
	defer srv.Close()
	defer close(release)
	if sent, err := post(srv.URL); err == nil || !sent {
		t.Fatalf("a request taken and not answered: sent %v, err %v; want an error and the request sent", sent, err)
	}
}
