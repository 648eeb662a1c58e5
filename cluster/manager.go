package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"

	"kedge/api"
	"kedge/cluster/consensus"
	"kedge/cluster/gossip"
	"kedge/cluster/state"
	"kedge/security/pki"
)

// nodeServerName is a DNS name every node certificate carries, so that
// node-to-node TLS verifies certificates without tying them to addresses
// (a node keeps its certificate when its IP changes).
const nodeServerName = "node.kedge.internal"

// Manager is this agent's view of and part in the cluster.
type Manager struct {
	cfg Config
	log *slog.Logger

	// mu guards the member fields below, which are set while a member.
	mu       sync.Mutex
	ms       *membership
	identity *pki.Identity
	fsm      *state.FSM
	raft     *consensus.Node
	gossip   *gossip.Gossip
	ca       *pki.CA // voters only
	// expired is set while the node's certificate has expired: it runs as
	// a local engine until it joins again (rejoin.go).
	expired *expiredMember
	// movedUntil: the node restarted at a new address; until then it
	// rejoins gossip repeatedly, as the others accept the new address only
	// once they see the old one dead.
	movedUntil time.Time
	// runCtx is the running member's context (its loops end with it);
	// podRuntime builds the engine side of the pod reconciler (RunPods).
	runCtx     context.Context
	podRuntime PodRuntimeFactory
	// nodePods is the running pod reconciler's view of this node's pods.
	nodePods *nodePods
	client   *http.Client
	// proxy is the HTTP/1.1 transport to other nodes (NodeTransport), made
	// for the identity proxyFor.
	proxy    *http.Transport
	proxyFor *pki.Identity
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// failMu guards lastFailure: the last scheduling failure reported per
	// workload (the leader records an event when it changes).
	failMu      sync.Mutex
	lastFailure map[string]string

	// changed is closed and replaced at each gossip change (the state has
	// its own watch), so the status page wakes without polling.
	chMu    sync.Mutex
	changed chan struct{}
}

// New returns a Manager over cfg; Start makes it rejoin its cluster when it
// is a member already.
func New(cfg Config) (*Manager, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("cluster: DataDir is required")
	}
	cfg.withDefaults()
	if _, err := cfg.taints(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	return &Manager{cfg: cfg, log: cfg.Logger.With("subsystem", "cluster"), changed: make(chan struct{}), lastFailure: map[string]string{}}, nil
}

// Start resumes membership after a restart; a standalone agent stays so.
func (m *Manager) Start(ctx context.Context) error {
	ms, err := m.loadMembership()
	if err != nil || ms == nil {
		return err
	}
	if m.cfg.Advertise != "" && m.cfg.Advertise != ms.Advertise {
		ip, err := advertiseIP(m.cfg.Advertise)
		if err != nil {
			return err
		}
		if ip.String() != ms.Advertise {
			m.log.Info("this node moved to a new address", "old", ms.Advertise, "new", ip)
			ms.Advertise = ip.String()
			if err := m.saveMembership(ms); err != nil {
				return err
			}
			m.mu.Lock()
			m.movedUntil = time.Now().Add(time.Minute)
			m.mu.Unlock()
		}
	}
	if m.enterExpired(ms) {
		return nil
	}
	if err := m.startMember(ctx, ms, false); err != nil {
		return fmt.Errorf("rejoin cluster %s: %w", ms.ClusterID, err)
	}
	m.log.Info("rejoined the cluster", "cluster", ms.ClusterID, "node", ms.NodeID)
	return nil
}

// Member reports whether this agent is in a cluster.
func (m *Manager) Member() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.raft != nil
}

// member returns the running parts, or api.ErrConflict for a standalone agent.
func (m *Manager) member() (*membership, *consensus.Node, *state.FSM, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raft == nil {
		return nil, nil, nil, fmt.Errorf("this node is not in a cluster (kedge init or kedge join first): %w", api.ErrConflict)
	}
	return m.ms, m.raft, m.fsm, nil
}

// startMember opens the identity, state, Raft and gossip of a member whose
// files are in place, and starts its loops. bootstrap founds a new cluster.
func (m *Manager) startMember(ctx context.Context, ms *membership, bootstrap bool) (err error) {
	certPEM, err1 := os.ReadFile(m.path(nodeCertFile))
	keyPEM, err2 := os.ReadFile(m.path(nodeKeyFile))
	caPEM, err3 := os.ReadFile(m.path(caCertFile))
	gossipKey, err4 := os.ReadFile(m.path(gossipKeyFile))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("read the node's keys: %w", err)
	}
	id, err := pki.NewIdentity(certPEM, keyPEM, caPEM)
	if err != nil {
		return fmt.Errorf("node identity: %w", err)
	}
	var ca *pki.CA
	if key, err := os.ReadFile(m.path(caKeyFile)); err == nil {
		if ca, err = pki.ParseCA(caPEM, key); err != nil {
			return fmt.Errorf("cluster CA: %w", err)
		}
	}
	fsm := state.NewAtLevel(m.cfg.protocolLevel())
	id.SetRevoked(func(serial string) bool { return fsm.State().Revoked(serial) })
	adv := ms.Advertise
	runCtx, cancel := context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	serverTLS := id.ServerTLS(tls.RequireAndVerifyClientCert)
	clientTLS := id.ClientTLS(nodeServerName)
	rn, err := consensus.Open(consensus.Config{
		ID: ms.NodeID, DataDir: m.cfg.DataDir,
		BindAddr: hostPort(m.cfg.BindAddr, m.cfg.RaftPort), AdvertiseAddr: hostPort(adv, m.cfg.RaftPort),
		ServerTLS: serverTLS, ClientTLS: clientTLS, FSM: fsm, Timing: m.cfg.raftTiming(),
		StabilizationTime: m.cfg.StabilizationTime, Logger: m.log.With("part", "raft"),
		KnownServers:   m.knownServers,
		OnVotersChange: func(voters []string) { m.onVotersChange(runCtx, voters) },
		OnStateChange:  func(consensus.StateChange) { m.notify() },
	})
	if err != nil {
		return err
	}
	if bootstrap {
		if err := rn.Bootstrap(); err != nil {
			rn.Shutdown()
			return err
		}
	}
	g, err := gossip.New(gossip.Config{
		NodeID: ms.NodeID, NodeName: ms.NodeName, BindAddr: m.cfg.BindAddr, BindPort: m.cfg.GossipPort,
		AdvertiseAddr: adv, AdvertisePort: m.cfg.GossipPort, Key: gossipKey, Profile: m.cfg.gossipProfile(),
		Meta:    m.gossipMeta(ms),
		Logger:  m.log.With("part", "gossip"),
		OnEvent: func(gossip.Event) { m.notify() },
	})
	if err != nil {
		rn.Shutdown()
		return err
	}
	m.mu.Lock()
	m.ms, m.identity, m.fsm, m.raft, m.gossip, m.ca, m.cancel, m.runCtx = ms, id, fsm, rn, g, ca, cancel, runCtx
	m.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: id.ClientTLS(nodeServerName), ForceAttemptHTTP2: true, IdleConnTimeout: time.Minute,
	}}
	m.mu.Unlock()
	if len(ms.Peers) > 0 {
		jctx, jcancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := g.Join(jctx, ms.Peers); err != nil {
			m.log.Warn("gossip: no peer answered yet; retrying in the background", "peers", ms.Peers, "err", err)
		}
		jcancel()
	}
	m.goLoop(runCtx, m.leaderLoop)
	m.goLoop(runCtx, m.controllerLoop)
	m.startPods()
	m.goLoop(runCtx, m.memberLoop)
	return nil
}

func (m *Manager) goLoop(ctx context.Context, fn func(context.Context)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn(ctx)
	}()
}

// gossipMeta is what this node gossips about itself.
func (m *Manager) gossipMeta(ms *membership) gossip.Meta {
	return gossip.Meta{
		ID: ms.NodeID, Name: ms.NodeName, Version: m.cfg.Version, Labels: ms.Labels,
		APIAddr:  hostPort(ms.Advertise, m.cfg.APIPort),
		RaftAddr: hostPort(ms.Advertise, m.cfg.RaftPort),
		Capacity: gossip.Capacity{MilliCPU: m.cfg.Capacity.CPUMillis, MemoryBytes: m.cfg.Capacity.MemoryBytes},
		Protocol: m.cfg.protocolLevel(),
	}
}

// knownServers feeds autopilot from gossip: every member that advertises a
// Raft address, with its liveness.
func (m *Manager) knownServers() map[raft.ServerID]*autopilot.Server {
	m.mu.Lock()
	g := m.gossip
	m.mu.Unlock()
	out := map[raft.ServerID]*autopilot.Server{}
	if g == nil {
		return out
	}
	for _, mem := range g.Members() {
		if mem.Meta.RaftAddr == "" {
			continue
		}
		status := autopilot.NodeAlive
		switch mem.State {
		case gossip.StateDead:
			status = autopilot.NodeFailed
		case gossip.StateLeft:
			status = autopilot.NodeLeft
		}
		out[raft.ServerID(mem.ID)] = &autopilot.Server{
			ID: raft.ServerID(mem.ID), Name: mem.Meta.Name, Address: raft.ServerAddress(mem.Meta.RaftAddr),
			NodeStatus: status, Version: mem.Meta.Version, RaftVersion: raft.ProtocolVersionMax,
		}
	}
	// A server just added by a join is in Raft before gossip has heard of
	// it: count it alive until gossip says otherwise, or autopilot would
	// remove it at once.
	m.mu.Lock()
	rn := m.raft
	m.mu.Unlock()
	if rn != nil {
		if servers, err := rn.Servers(); err == nil {
			for _, s := range servers {
				if _, ok := out[raft.ServerID(s.ID)]; !ok {
					out[raft.ServerID(s.ID)] = &autopilot.Server{
						ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Addr), NodeStatus: autopilot.NodeAlive, RaftVersion: raft.ProtocolVersionMax,
					}
				}
			}
		}
	}
	return out
}

// notify wakes the watchers of Changed.
func (m *Manager) notify() {
	m.chMu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.chMu.Unlock()
}

// Close stops the member's loops, gossip and Raft (without leaving: a
// restarted agent rejoins).
func (m *Manager) Close() error {
	m.mu.Lock()
	cancel, rn, g := m.cancel, m.raft, m.gossip
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.wg.Wait()
	var errs []error
	if g != nil {
		errs = append(errs, g.Shutdown())
	}
	if rn != nil {
		errs = append(errs, rn.Shutdown())
	}
	m.mu.Lock()
	m.raft, m.gossip, m.cancel = nil, nil, nil
	m.mu.Unlock()
	return errors.Join(errs...)
}

// TLSConfig is the server TLS of the API listener: the node's certificate,
// and client certificates verified when given (people use bearer tokens).
// It is nil for a standalone agent.
func (m *Manager) TLSConfig() *tls.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.identity == nil {
		return nil
	}
	return m.identity.ServerTLS(tls.VerifyClientCertIfGiven)
}
