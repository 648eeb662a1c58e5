package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kedge/api"
	"kedge/security/pki"
)

// testNode is an in-process agent bound to its own loopback address, as a
// cluster node.
type testNode struct {
	t      *testing.T
	name   string
	ip     string
	cfg    *Config
	agent  *Agent
	client *api.Client
}

func startNode(t *testing.T, name, ip string, dataDir string) *testNode {
	t.Helper()
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), name)
	}
	n := &testNode{t: t, name: name, ip: ip, cfg: &Config{
		DataDir: dataDir, Socket: filepath.Join(filepath.Dir(dataDir), name+".sock"), NodeName: name,
		Cluster: ClusterConfig{Advertise: ip, BindAddr: ip, StabilizationTime: "300ms"},
		// Agents in one process share the host's interfaces: a subnet each,
		// rather than two picking the same free one at the same time.
		BridgeSubnet: "10.250." + ip[strings.LastIndex(ip, ".")+1:] + ".0/24",
		Version:      api.Version{Version: "test"},
	}}
	n.start()
	t.Cleanup(func() { n.stop() })
	// First (cleanups run last-in first-out): the pods the node runs, which
	// would outlive the agent.
	t.Cleanup(func() {
		if n.agent == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n.agent.cluster.Close() // its reconciler would make the pods again
		removeAllPods(ctx, n.agent.Engine(), n.cfg.DataDir)
	})
	return n
}

func (n *testNode) start() {
	n.t.Helper()
	a, err := Start(context.Background(), n.cfg)
	if err != nil {
		n.t.Fatalf("start %s: %v", n.name, err)
	}
	n.agent = a
	if n.client, err = api.NewClient(n.cfg.Socket); err != nil {
		n.t.Fatal(err)
	}
}

// stop stops the agent without leaving: to the others it is a crashed node.
func (n *testNode) stop() {
	if n.agent != nil {
		n.agent.Stop()
		n.agent = nil
		n.client.Close()
	}
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// formCluster inits on the first node and joins the others; it waits until
// every node sees every node ready and the voters the size calls for.
func formCluster(t *testing.T, nodes ...*testNode) *api.InitResponse {
	t.Helper()
	ctx := context.Background()
	init, err := nodes[0].client.ClusterInit(ctx, api.InitRequest{})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	for _, n := range nodes[1:] {
		if _, err := n.client.ClusterJoin(ctx, api.JoinRequest{Addr: nodes[0].ip, Token: init.Token}); err != nil {
			t.Fatalf("join %s: %v", n.name, err)
		}
	}
	voters := 1
	if len(nodes) >= 3 {
		voters = 3
	}
	for _, n := range nodes {
		waitUntil(t, n.name+" to see the whole cluster", 20*time.Second, func() bool {
			st, err := n.client.ClusterStatus(ctx)
			if err != nil || st.Voters != voters || st.LeaderID == "" {
				return false
			}
			list, err := n.client.ClusterNodes(ctx)
			if err != nil || len(list) != len(nodes) {
				return false
			}
			for _, nd := range list {
				if nd.State != api.NodeReady {
					return false
				}
			}
			return true
		})
	}
	return init
}

func leaderOf(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	for _, n := range nodes {
		if n.agent == nil {
			continue
		}
		if st, err := n.client.ClusterStatus(context.Background()); err == nil && st.RaftState == "Leader" {
			return n
		}
	}
	t.Fatal("no leader")
	return nil
}

// Three nodes form a cluster with three voters; losing the leader elects
// another that accepts writes, with nothing acknowledged lost; the old
// leader restarts and rejoins by itself.
func TestClusterFormsAndSurvivesLeaderLoss(t *testing.T) {
	needRoot(t)
	nodes := []*testNode{startNode(t, "n1", "127.0.0.21", ""), startNode(t, "n2", "127.0.0.22", ""), startNode(t, "n3", "127.0.0.23", "")}
	formCluster(t, nodes...)
	ctx := context.Background()
	// Writes from any node, followers included, are forwarded to the leader.
	var made []string
	for _, n := range nodes {
		tok, err := n.client.CreateToken(ctx, api.TokenCreateRequest{Description: "from " + n.name})
		if err != nil {
			t.Fatalf("token create on %s: %v", n.name, err)
		}
		made = append(made, tok.ID)
	}
	// A consistent read on a follower sees a write just made elsewhere.
	lead := leaderOf(t, nodes)
	for _, n := range nodes {
		if n == lead {
			continue
		}
		tok, err := lead.client.CreateToken(ctx, api.TokenCreateRequest{Description: "read-your-writes"})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, tok.ID)
		cl, _ := api.NewClient(n.cfg.Socket)
		cl.SetConsistent(true)
		list, err := cl.Tokens(ctx)
		cl.Close()
		if err != nil {
			t.Fatalf("consistent read on %s: %v", n.name, err)
		}
		found := false
		for _, tk := range list {
			found = found || tk.ID == tok.ID
		}
		if !found {
			t.Fatalf("a consistent read on %s missed the write just acknowledged", n.name)
		}
	}
	old := leaderOf(t, nodes)
	old.stop()
	var other *testNode
	for _, n := range nodes {
		if n != old {
			other = n
			break
		}
	}
	took := waitUntil(t, "a write after the leader's loss", 15*time.Second, func() bool {
		_, err := other.client.CreateToken(ctx, api.TokenCreateRequest{Description: "after failover"})
		return err == nil
	})
	t.Logf("leader stopped until the next write was accepted: %v", took)
	toks, err := other.client.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, tk := range toks {
		have[tk.ID] = true
	}
	for _, id := range made {
		if !have[id] {
			t.Fatalf("token %s, acknowledged before the failover, is gone", id)
		}
	}
	waitUntil(t, "the stopped node to be seen down", 10*time.Second, func() bool {
		list, _ := other.client.ClusterNodes(ctx)
		for _, nd := range list {
			if nd.Name == old.name {
				return nd.State == api.NodeDown
			}
		}
		return false
	})
	old.start()
	waitUntil(t, "the restarted node to rejoin and catch up", 20*time.Second, func() bool {
		list, err := old.client.ClusterNodes(ctx)
		if err != nil || len(list) != 3 {
			return false
		}
		for _, nd := range list {
			if nd.State != api.NodeReady {
				return false
			}
		}
		toks, err := old.client.Tokens(ctx)
		return err == nil && len(toks) == len(made)+2
	})
}

// Bad tokens are refused with clear messages and change nothing; the HTTPS
// API refuses calls without a token; leave refuses to lose the quorum; a
// node that left is a standalone engine and a dead one can be removed.
func TestJoinRefusalsAuthAndLeave(t *testing.T) {
	needRoot(t)
	n1, n2, n3 := startNode(t, "m1", "127.0.0.31", ""), startNode(t, "m2", "127.0.0.32", ""), startNode(t, "m3", "127.0.0.33", "")
	ctx := context.Background()
	init := formCluster(t, n1, n2)
	tok := init.Token
	cut := strings.LastIndex(tok, ".")
	cases := map[string]struct {
		token string
		want  string
	}{
		"wrong secret":   {tok[:cut+1] + strings.Repeat("x", len(tok)-cut-1), "secret does not match"},
		"unknown token":  {tok[:cut-6] + "zzzzzz" + tok[cut:], "unknown join token"},
		"another CA":     {"KEDGE1-" + strings.Repeat("0", 64) + tok[strings.LastIndex(tok, "-"):], "does not match the token's"},
		"not a token":    {"hello", "join token"},
		"revoked token":  {"", "revoked"},
		"used-up token":  {"", "used up"},
		"expired token":  {"", "expired"},
		"no such server": {tok, "connect"},
	}
	revoked, err := n1.client.CreateToken(ctx, api.TokenCreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.client.RevokeToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	cases["revoked token"] = struct{ token, want string }{revoked.Token, "revoked"}
	once, err := n1.client.CreateToken(ctx, api.TokenCreateRequest{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	cases["used-up token"] = struct{ token, want string }{once.Token, "used up"}
	short, err := n1.client.CreateToken(ctx, api.TokenCreateRequest{TTL: "1ms"})
	if err != nil {
		t.Fatal(err)
	}
	cases["expired token"] = struct{ token, want string }{short.Token, "expired"}
	// Use the one-use token up with a real join, then leave again.
	if _, err := n3.client.ClusterJoin(ctx, api.JoinRequest{Addr: n1.ip, Token: once.Token}); err != nil {
		t.Fatalf("join with a one-use token: %v", err)
	}
	if err := n3.client.ClusterLeave(ctx, false); err != nil {
		t.Fatalf("leave: %v", err)
	}
	for name, c := range cases {
		addr := n1.ip
		if name == "no such server" {
			addr = "127.0.0.39"
		}
		_, err := n3.client.ClusterJoin(ctx, api.JoinRequest{Addr: addr, Token: c.token})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: join error %v, want one mentioning %q", name, err, c.want)
		}
		if strings.Contains(fmt.Sprint(err), c.token[max(0, len(c.token)-20):]) && c.token != "" && name != "not a token" {
			t.Errorf("%s: the error shows the token's secret: %v", name, err)
		}
	}
	if st, _ := n3.client.ClusterStatus(ctx); st.Member {
		t.Fatal("a refused join left the node a member")
	}

	// The HTTPS API: nothing without a token, everything with the admin one.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(init.CACert))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "node.kedge.internal"}}
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, "https://"+n2.ip+":7780/v1/containers", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("https: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", code)
	}
	if code := get("kedge-admin-wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if code := get(init.AdminToken); code != http.StatusOK {
		t.Fatalf("admin token: %d, want 200", code)
	}
	// Prometheus metrics, with a token only.
	mreq, _ := http.NewRequest(http.MethodGet, "https://"+n2.ip+":7780/metrics", nil)
	if resp, err := (&http.Client{Transport: tr}).Do(mreq); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %v %v, want 401", resp, err)
	}
	mreq.Header.Set("Authorization", "Bearer "+init.AdminToken)
	resp, err := (&http.Client{Transport: tr}).Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"kedge_raft_applied_index ", "kedge_gossip_members{state=\"alive\"} 2", "kedge_api_requests_total{", "kedge_containers{state=\"running\"}"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Node-only endpoints refuse people, even admins.
	req, _ := http.NewRequest(http.MethodPost, "https://"+n2.ip+":7780/v1/cluster/internal/apply", bytes.NewReader([]byte("{}")))
	req.Header.Set("Authorization", "Bearer "+init.AdminToken)
	if resp, err := (&http.Client{Transport: tr}).Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("internal endpoint with an admin token: %v %v, want 403", resp, err)
	}

	// Two nodes, one voter: leaving from the voter would end the cluster.
	voter := leaderOf(t, []*testNode{n1, n2})
	if err := voter.client.ClusterLeave(ctx, false); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("the only voter leaving: %v, want a refusal", err)
	}
	other := n1
	if voter == n1 {
		other = n2
	}
	other.stop()
	if err := voter.client.RemoveNode(ctx, other.name); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("node rm of a node still seen alive: %v, want a refusal", err)
	}
	waitUntil(t, "the stopped node to be seen down", 10*time.Second, func() bool {
		list, _ := voter.client.ClusterNodes(ctx)
		for _, nd := range list {
			if nd.Name == other.name {
				return nd.State == api.NodeDown
			}
		}
		return false
	})
	// On its way down the leader recorded it suspect (its probe failed),
	// then down.
	evs, err := voter.client.ClusterEvents(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, e := range evs {
		if strings.HasPrefix(e.Message, "node "+other.name+": ") {
			path = append(path, strings.TrimPrefix(e.Message, "node "+other.name+": "))
		}
	}
	if !slices.Contains(path, "ready -> suspect") || !slices.Contains(path, "suspect -> down") {
		t.Errorf("state changes of the stopped node: %q, want ready -> suspect -> down", path)
	}
	if err := voter.client.RemoveNode(ctx, other.name); err != nil {
		t.Fatalf("node rm of a stopped node: %v", err)
	}
	list, err := voter.client.ClusterNodes(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("nodes after node rm: %v %v", list, err)
	}
}

// A snapshot saved from one node restores the state on the leader; the CA
// backup decrypts to the cluster's CA with the passphrase only.
func TestSnapshotSaveRestoreAndCABackup(t *testing.T) {
	needRoot(t)
	n1 := startNode(t, "s1", "127.0.0.41", "")
	init := formCluster(t, n1)
	ctx := context.Background()
	if _, err := n1.client.BackupCA(ctx, "short"); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("a short passphrase: %v, want ErrInvalid", err)
	}
	blob, err := n1.client.BackupCA(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.DecryptCA(blob, []byte("wrong passphrase!!")); err == nil {
		t.Fatal("the CA backup opened with a wrong passphrase")
	}
	ca, err := pki.DecryptCA(blob, []byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := pki.ParseToken(init.Token); ca.Hash() != tok.CAHash {
		t.Fatalf("the backup holds CA %s, the cluster's is %s", ca.Hash(), tok.CAHash)
	}
	if _, err := n1.client.CreateToken(ctx, api.TokenCreateRequest{Description: "kept"}); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := n1.client.SaveSnapshot(ctx, &snap); err != nil || snap.Len() == 0 {
		t.Fatalf("save: %v (%d bytes)", err, snap.Len())
	}
	if _, err := n1.client.CreateToken(ctx, api.TokenCreateRequest{Description: "after the snapshot"}); err != nil {
		t.Fatal(err)
	}
	if err := n1.client.RestoreSnapshot(ctx, bytes.NewReader([]byte("not a snapshot"))); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("restoring garbage: %v, want ErrInvalid", err)
	}
	if err := n1.client.RestoreSnapshot(ctx, &snap); err != nil {
		t.Fatalf("restore: %v", err)
	}
	toks, _ := n1.client.Tokens(ctx)
	var descs []string
	for _, tk := range toks {
		descs = append(descs, tk.Description)
	}
	if strings.Contains(strings.Join(descs, ","), "after the snapshot") || !strings.Contains(strings.Join(descs, ","), "kept") {
		t.Fatalf("tokens after the restore: %v", descs)
	}
}

// Node certificates renew themselves: with a short life, a member gets a
// new certificate (a new serial) and keeps working with it.
func TestCertificatesRenewThemselves(t *testing.T) {
	needRoot(t)
	n1, n2 := startNode(t, "r1", "127.0.0.61", ""), startNode(t, "r2", "127.0.0.62", "")
	for _, n := range []*testNode{n1, n2} {
		n.stop()
		n.cfg.Cluster.CertTTL = "30s"
		n.start()
	}
	formCluster(t, n1, n2)
	certPath := filepath.Join(n2.cfg.DataDir, "cluster", "node.crt")
	serialOf := func() string {
		b, err := os.ReadFile(certPath)
		if err != nil {
			return ""
		}
		c, err := pki.ParseCertPEM(b)
		if err != nil {
			return ""
		}
		return pki.Serial(c)
	}
	first := serialOf()
	waitUntil(t, "the follower's certificate to be renewed", 20*time.Second, func() bool {
		s := serialOf()
		return s != "" && s != first
	})
	// Writes through the follower travel to the leader with the new certificate.
	if _, err := n2.client.CreateToken(context.Background(), api.TokenCreateRequest{Description: "after renewal"}); err != nil {
		t.Fatalf("a forwarded write after the renewal: %v", err)
	}
}
