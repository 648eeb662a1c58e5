package cluster

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A forwarded command is sent again only when it never reached the leader:
// a refused connection is retried; a leader that took the request and gave
// no answer may have applied it, so it is not.
func TestNeverSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	client := &http.Client{Timeout: 200 * time.Millisecond}
	_, err = client.Post("http://"+closed+pathApply, "application/octet-stream", nil)
	if err == nil || !neverSent(err) {
		t.Fatalf("a refused connection: %v; want an error that says nothing was sent", err)
	}

	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // the leader has the command and does not answer in time
	}))
	defer srv.Close()
	defer close(release)
	_, err = client.Post(srv.URL+pathApply, "application/octet-stream", nil)
	if err == nil || neverSent(err) {
		t.Fatalf("a request taken and not answered: %v; want an error that does not say nothing was sent", err)
	}
}
