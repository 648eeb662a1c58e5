package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kedge/api"
	"kedge/internal/testimage"
	"kedge/security/pki"
)

// runningPodContainer returns the id of the running container of the pod
// of allocation alloc on n's engine ("" if none).
func runningPodContainer(n *testNode, alloc string) string {
	for _, c := range n.agent.Engine().List(false) {
		if c.Config.Labels[labelAlloc] == alloc && c.Config.Labels[labelContainer] == "main" {
			return c.ID
		}
	}
	return ""
}

// A node whose certificate expired while it was stopped starts as a local
// engine (its pod keeps running) and says how to rejoin; a fresh token
// brings it back with its node id, its record and its pod. A join that
// claims its id without its old key gets a new id, and a forged proof is
// refused.
func TestExpiredCertificateRejoinKeepsNodeID(t *testing.T) {
	needRoot(t)
	n1, n2, n3 := startNode(t, "x1", "127.0.0.111", ""), startNode(t, "x2", "127.0.0.112", ""), startNode(t, "x3", "127.0.0.113", "")
	n1.restartWith(func(c *Config) { c.Cluster.CertTTL = "12s" }) // the leader signs with it
	n2.restartWith(func(c *Config) { c.Cluster.Labels = map[string]string{"role": "edge"} })
	testimage.BusyboxInto(t, n2.agent.Engine().Images(), "busybox:test", nil)
	formCluster(t, n1, n2)
	ctx := context.Background()
	ds := `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: edge-agent}
spec:
  selector: {matchLabels: {app: edge-agent}}
  template:
    metadata: {labels: {app: edge-agent}}
    spec:
      nodeSelector: {role: edge}
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox:test, command: ["sleep", "3600"]}
`
	if _, err := n1.client.ApplyManifests(ctx, []byte(ds), "ds.yaml"); err != nil {
		t.Fatal(err)
	}
	var alloc string
	waitUntil(t, "the pod on x2", 60*time.Second, func() bool {
		for _, p := range pods(t, n1) {
			if p.Status.NodeName == "x2" && p.Status.Phase == api.PodRunning {
				alloc = p.UID
			}
		}
		return alloc != "" && runningPodContainer(n2, alloc) != ""
	})
	container := runningPodContainer(n2, alloc)
	st, err := n2.client.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := st.NodeID

	// x2 stops until its certificate has expired.
	n2.stop()
	certPEM, err := os.ReadFile(filepath.Join(n2.cfg.DataDir, "cluster", "node.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "x2's certificate to expire", 30*time.Second, func() bool { return time.Now().After(cert.NotAfter) })

	n2.start()
	st, err = n2.client.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.NodeID != id || st.RaftState != "certificate expired" || len(st.Warnings) != 1 ||
		!strings.Contains(st.Warnings[0], "node certificate expired at "+cert.NotAfter.UTC().Format(time.RFC3339)) ||
		!strings.Contains(st.Warnings[0], "kedge join ADDR --token T") {
		t.Fatalf("status of the expired node: %+v", st)
	}
	if runningPodContainer(n2, alloc) != container {
		t.Fatal("the pod's container did not survive the restart of the expired node")
	}
	if _, err := n2.client.CreateToken(ctx, api.TokenCreateRequest{}); err == nil {
		t.Fatal("the expired node took a cluster write")
	}
	tok, err := n1.client.CreateToken(ctx, api.TokenCreateRequest{Description: "rejoin"})
	if err != nil {
		t.Fatal(err)
	}

	// A forged proof (x2's public certificate, signed with another key) is refused.
	code, msg := forgedRejoin(t, n1.ip, tok.Token, id, certPEM)
	if code != http.StatusUnauthorized || !strings.Contains(msg, "not signed with the key") {
		t.Fatalf("forged rejoin: %d %s", code, msg)
	}
	// A claim to x2's id without any proof (a stale previous_id) gets a new id.
	if err := os.WriteFile(filepath.Join(n3.cfg.DataDir, "cluster", "previous_id"), []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := n3.client.ClusterJoin(ctx, api.JoinRequest{Addr: n1.ip, Token: tok.Token})
	if err != nil {
		t.Fatalf("join of x3: %v", err)
	}
	if got.NodeID == id {
		t.Fatal("a join without the old key took x2's id")
	}

	// The expired node rejoins with a fresh token and keeps its id.
	got, err = n2.client.ClusterJoin(ctx, api.JoinRequest{Addr: n1.ip, Token: tok.Token})
	if err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	if got.NodeID != id {
		t.Fatalf("rejoined as %s, was %s", got.NodeID, id)
	}
	waitUntil(t, "x2 ready again, with its labels, in everyone's view", 30*time.Second, func() bool {
		for _, n := range []*testNode{n1, n2, n3} {
			list, err := n.client.ClusterNodes(ctx)
			if err != nil || len(list) != 3 {
				return false
			}
			for _, nd := range list {
				if nd.Name == "x2" && (nd.ID != id || nd.State != api.NodeReady || nd.Labels["role"] != "edge") {
					return false
				}
			}
		}
		st, err := n2.client.ClusterStatus(ctx)
		return err == nil && st.RaftState == "Follower"
	})
	// Its pod is the same allocation, the same container, reported running.
	waitUntil(t, "x2's pod reported running by the control plane", 30*time.Second, func() bool {
		for _, p := range pods(t, n1) {
			if p.UID == alloc && p.Status.NodeName == "x2" && p.Status.Phase == api.PodRunning {
				return true
			}
		}
		return false
	})
	if runningPodContainer(n2, alloc) != container {
		t.Fatal("the pod's container was replaced by the rejoin")
	}
	if _, err := n2.client.CreateToken(ctx, api.TokenCreateRequest{Description: "after the rejoin"}); err != nil {
		t.Fatalf("a write through the rejoined node: %v", err)
	}
}

// forgedRejoin posts a join request that claims node id with its (public)
// certificate but signs the proof with a key of its own, and returns the
// answer.
func forgedRejoin(t *testing.T, ip, token, id string, certPEM []byte) (int, string) {
	t.Helper()
	tok, err := pki.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	key, keyPEM, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CreateCSR(key, pki.NodeIdentity{ID: "joining", Name: "thief"})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := pki.SignRejoin(keyPEM, id, tok.ID, csr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"token_id": tok.ID, "secret": tok.Secret, "csr": string(csr), "name": "thief", "advertise": "127.0.0.119",
		"version": "test", "previous_id": id, "previous_cert": string(certPEM), "proof": sig,
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.PinnedClientTLS(tok.CAHash)}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+ip+":7780/v1/cluster/join", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}
