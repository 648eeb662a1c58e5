package consensus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testServerName is the DNS name in every test certificate; clients verify
// it instead of the peer's IP, so addresses can change (Recover).
const testServerName = "server.kedge.test"

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a node certificate usable as server and client certificate.
func (ca *testCA) issue(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{testServerName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsConfigs returns the server and client configurations of a node.
func (ca *testCA) tlsConfigs(t testing.TB, cn string) (server, client *tls.Config) {
	cert := ca.issue(t, cn)
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool,
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca.pool,
		ServerName:   testServerName,
		MinVersion:   tls.VersionTLS13,
	}
	return server, client
}

// testFSM records the commands applied to it. "fail" is rejected with an
// error result.
type testFSM struct {
	mu   sync.Mutex
	cmds []string
}

var _ raft.FSM = (*testFSM)(nil)

func (f *testFSM) Apply(l *raft.Log) any {
	if string(l.Data) == "fail" {
		return errors.New("command rejected")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data))
	return len(f.cmds)
}

func (f *testFSM) Snapshot() (raft.FSMSnapshot, error) {
	return fsmSnapshot(f.commands()), nil
}

func (f *testFSM) Restore(rc io.ReadCloser) error {
	defer func() { _ = rc.Close() }()
	var cmds []string
	if err := json.NewDecoder(rc).Decode(&cmds); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = cmds
	return nil
}

func (f *testFSM) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

type fsmSnapshot []string

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode([]string(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}

// testLogger routes logs to t.Log while the test runs and drops them after
// (raft's connection goroutines may outlive a test by a moment). Set
// KEDGE_TEST_LOG=debug for raft's chatter.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	level := slog.LevelInfo
	if os.Getenv("KEDGE_TEST_LOG") == "debug" {
		level = slog.LevelDebug - 4
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

// testTiming is LAN() with a fast autopilot, so promotions take a fraction
// of a second; the Raft timeouts stay those of production.
func testTiming() Timing {
	t := LAN()
	t.AutopilotUpdate = 100 * time.Millisecond
	t.AutopilotReconcile = 200 * time.Millisecond
	t.VoterWatch = 100 * time.Millisecond
	return t
}

// harness runs Kedge Raft nodes on loopback addresses 127.0.0.x.
type harness struct {
	t     testing.TB
	ca    *testCA
	log   *slog.Logger
	mu    sync.Mutex
	nodes map[string]*testNode
	next  int // last octet of the next node's address
}

type testNode struct {
	id     string
	dir    string
	addr   string // advertised address, fixed on first start
	fsm    *testFSM
	node   *Node
	voters func() []string // latest OnVotersChange report
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, ca: newTestCA(t, "kedge test CA"), log: testLogger(t), nodes: map[string]*testNode{}, next: 11}
	t.Cleanup(func() {
		for _, tn := range h.nodes {
			if tn.node != nil {
				if err := tn.node.Shutdown(); err != nil {
					t.Errorf("shutdown %s: %v", tn.id, err)
				}
			}
		}
	})
	return h
}

// config returns the Config of tn; a first start listens on a free port.
func (h *harness) config(tn *testNode) Config {
	server, client := h.ca.tlsConfigs(h.t, tn.id)
	bind := tn.addr
	if bind == "" {
		h.mu.Lock()
		bind = net.JoinHostPort("127.0.0."+strconv.Itoa(h.next), "0")
		h.next++
		h.mu.Unlock()
	}
	var mu sync.Mutex
	var last []string
	tn.voters = func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(last)
	}
	return Config{
		ID:                tn.id,
		DataDir:           tn.dir,
		BindAddr:          bind,
		ServerTLS:         server,
		ClientTLS:         client,
		FSM:               tn.fsm,
		Timing:            testTiming(),
		StabilizationTime: 300 * time.Millisecond,
		Logger:            h.log,
		OnVotersChange: func(v []string) {
			mu.Lock()
			defer mu.Unlock()
			last = v
		},
	}
}

// start opens a new node, or reopens a stopped one from its data directory
// with a fresh FSM (as after a process restart).
func (h *harness) start(id string) *testNode {
	h.t.Helper()
	tn := h.nodes[id]
	if tn == nil {
		tn = &testNode{id: id, dir: filepath.Join(h.t.TempDir(), id)}
		h.nodes[id] = tn
	}
	tn.fsm = &testFSM{}
	n, err := Open(h.config(tn))
	if err != nil {
		h.t.Fatalf("open %s: %v", id, err)
	}
	tn.node, tn.addr = n, n.Addr()
	return tn
}

// stop shuts a node down, as kill -9 would look to the others.
func (h *harness) stop(id string) {
	h.t.Helper()
	tn := h.nodes[id]
	if err := tn.node.Shutdown(); err != nil {
		h.t.Errorf("shutdown %s: %v", id, err)
	}
	tn.node = nil
}

// leader returns the running node that is the leader, or nil.
func (h *harness) leader() *testNode {
	for _, tn := range h.nodes {
		if tn.node != nil && tn.node.IsLeader() {
			return tn
		}
	}
	return nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// voterIDs returns the sorted ids of the voters in n's configuration.
func voterIDs(t testing.TB, n *Node) []string {
	t.Helper()
	servers, err := n.Servers()
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	var ids []string
	for _, s := range servers {
		if s.Voter {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
