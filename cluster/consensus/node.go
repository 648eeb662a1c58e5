package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Node is a running Raft server. Its methods are safe for concurrent use.
// Writes (Apply, membership changes, RestoreSnapshot) succeed only on the
// leader; elsewhere they return a *NotLeaderError naming the leader, for
// the caller to forward the request.
type Node struct {
	cfg    Config
	log    *slog.Logger
	raft   *raft.Raft
	store  *storage
	trans  *raft.NetworkTransport
	stream *tlsStream
	pilot  *autopilot.Autopilot
	peers  *peerHealth

	notifyCh chan bool             // raft → leadership loop
	obsCh    chan raft.Observation // raft → observer loop
	observer *raft.Observer
	leaderCh chan bool // leadership loop → LeaderCh (latest value wins)

	ctx    context.Context // cancelled by Shutdown; autopilot runs under it
	cancel context.CancelFunc
	stop   chan struct{}  // closed by Shutdown to end the loops
	loops  sync.WaitGroup // leadership and observer loops

	mu     sync.Mutex
	closed bool
	tasks  sync.WaitGroup // goroutines started by goTracked

	shutdownOnce sync.Once
	shutdownErr  error

	pilotMu    sync.Mutex
	pilotState *autopilot.State // latest autopilot view (leader only)

	metrics metrics
}

// Server is one member of the Raft configuration.
type Server struct {
	ID     string
	Addr   string
	Voter  bool
	Leader bool
}

// Stats is a point-in-time view of a node, for status pages and metrics.
type Stats struct {
	ID    string
	State string // Leader, Follower, Candidate or Shutdown
	// LeaderID and LeaderAddr name the leader this node knows; empty if none.
	LeaderID   string
	LeaderAddr string
	Term       uint64
	// LastIndex is the last entry in the local log, CommitIndex the last
	// known committed one, AppliedIndex the last applied to the local FSM.
	LastIndex         uint64
	CommitIndex       uint64
	AppliedIndex      uint64
	LastSnapshotIndex uint64
	// LastContact is the time since this node last heard from the leader:
	// 0 on the leader, -1 if never.
	LastContact time.Duration
	// Voters and Servers count the latest Raft configuration.
	Voters  int
	Servers int
	// Healthy (every server healthy) and FailureTolerance (voters that may
	// fail without losing the quorum) are autopilot's view; set on the
	// leader only.
	Healthy          bool
	FailureTolerance int
	Metrics          Metrics
}

// storage is the on-disk state of a node.
type storage struct {
	bolt  *raftboltdb.BoltStore // log store and stable store
	logs  raft.LogStore         // bolt behind a cache of recent entries
	snaps *raft.FileSnapshotStore
}

const (
	retainSnapshots = 2
	logCacheSize    = 512
	boltOpenTimeout = time.Second
	maxPoolConns    = 3
)

func openStorage(dataDir string, hl hclog.Logger) (*storage, error) {
	dir := filepath.Join(dataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft directory: %w", err)
	}
	path := filepath.Join(dir, "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout}})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("open raft log %s: locked by another process (is another agent running?): %w", path, err)
		}
		return nil, fmt.Errorf("open raft log %s: %w", path, err)
	}
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, retainSnapshots, hl)
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("open raft snapshot store in %s: %w", dir, err)
	}
	return &storage{bolt: bolt, logs: logs, snaps: snaps}, nil
}

func (s *storage) hasState() (bool, error) {
	ok, err := raft.HasExistingState(s.logs, s.bolt, s.snaps)
	if err != nil {
		return false, fmt.Errorf("check for raft state: %w", err)
	}
	return ok, nil
}

// Open starts the Raft server described by cfg. With existing state in
// cfg.DataDir (HasState) it rejoins its cluster by itself; otherwise it
// waits to be bootstrapped (Bootstrap) or added by a leader (AddNonvoter).
func Open(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("node", cfg.ID)
	quiet := newHclog(log, "raft", slog.LevelDebug)

	store, err := openStorage(cfg.DataDir, quiet.Named("snapshot"))
	if err != nil {
		return nil, fmt.Errorf("open raft node %s: %w", cfg.ID, err)
	}
	stream, err := newTLSStream(cfg.BindAddr, cfg.AdvertiseAddr, cfg.ServerTLS, cfg.ClientTLS, cfg.Timing.RPCTimeout, log)
	if err != nil {
		_ = store.bolt.Close()
		return nil, fmt.Errorf("open raft node %s: %w", cfg.ID, err)
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: maxPoolConns,
		Timeout: cfg.Timing.RPCTimeout,
		Logger:  quiet.Named("transport"),
	})

	n := &Node{
		cfg:      cfg,
		log:      log,
		store:    store,
		trans:    trans,
		stream:   stream,
		peers:    newPeerHealth(cfg.Timing),
		notifyCh: make(chan bool, 8),
		obsCh:    make(chan raft.Observation, 256),
		leaderCh: make(chan bool, 1),
		stop:     make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())

	rc := cfg.Timing.raftConfig(cfg.ID)
	rc.Logger = quiet
	rc.NotifyCh = n.notifyCh
	r, err := raft.NewRaft(rc, cfg.FSM, store.logs, store.bolt, store.snaps, trans)
	if err != nil {
		n.cancel()
		_ = trans.Close()
		_ = store.bolt.Close()
		return nil, fmt.Errorf("open raft node %s: start raft: %w", cfg.ID, err)
	}
	n.raft = r
	n.pilot = autopilot.New(r, &delegate{n: n},
		autopilot.WithLogger(newHclog(log, "", slog.LevelInfo)),
		autopilot.WithPromoter(newPromoter(cfg.MaxVoters)),
		autopilot.WithUpdateInterval(cfg.Timing.AutopilotUpdate),
		autopilot.WithReconcileInterval(cfg.Timing.AutopilotReconcile),
	)
	n.observer = raft.NewObserver(n.obsCh, false, nil)
	r.RegisterObserver(n.observer)
	n.loops.Add(2)
	go n.leadershipLoop()
	go n.observeLoop()
	log.Info("raft node started", "addr", n.Addr(), "listen", stream.listenAddr().String())
	return n, nil
}

// ID returns the node's server id.
func (n *Node) ID() string { return n.cfg.ID }

// Addr returns the address other servers reach this node at.
func (n *Node) Addr() string { return string(n.trans.LocalAddr()) }

// HasState reports whether the data directory holds Raft state (a log,
// term or snapshot): then the node belongs to a cluster and must not be
// bootstrapped again.
func (n *Node) HasState() bool {
	ok, err := n.store.hasState()
	if err != nil {
		n.log.Warn("check raft state", "error", err)
	}
	return ok
}

// Bootstrap makes this node a new cluster with itself as the only voter.
// It returns ErrHasState if the node already has Raft state.
func (n *Node) Bootstrap() error {
	if n.HasState() {
		return fmt.Errorf("bootstrap raft cluster on %s: %w", n.cfg.ID, ErrHasState)
	}
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(n.cfg.ID), Address: n.trans.LocalAddr(),
	}}}).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap raft cluster on %s: %w", n.cfg.ID, ErrHasState)
	}
	if err != nil {
		return n.wrapErr("bootstrap raft cluster", err)
	}
	return nil
}

// Apply replicates cmd through the log and applies it to every FSM. It
// returns what the leader's FSM.Apply returned and the entry's index; an
// error value returned by the FSM is returned as err. Off the leader it
// returns a *NotLeaderError, and nothing was written. If leadership is lost
// while the command commits (the error wraps raft.ErrLeadershipLost), or if
// ctx ends first (ctx's error), the command may or may not be applied: a
// retry must be idempotent.
func (n *Node) Apply(ctx context.Context, cmd []byte) (result any, index uint64, err error) {
	start := time.Now()
	result, index, err = n.apply(ctx, cmd)
	d := time.Since(start)
	n.metrics.observeApply(d, err)
	if n.cfg.OnApply != nil {
		n.cfg.OnApply(d, err)
	}
	return result, index, err
}

func (n *Node) apply(ctx context.Context, cmd []byte) (any, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("raft apply: %w", err)
	}
	f := n.raft.Apply(cmd, enqueueTimeout(ctx))
	if err := n.await(ctx, f); err != nil {
		return nil, 0, n.wrapErr("raft apply", err)
	}
	if e, ok := f.Response().(error); ok {
		return nil, f.Index(), fmt.Errorf("raft apply at index %d: %w", f.Index(), e)
	}
	return f.Response(), f.Index(), nil
}

// Barrier returns once every entry committed before the call is applied to
// the local FSM. On the leader it writes a no-op entry, so it also proves
// that the node still leads: reading the FSM after Barrier is a
// linearizable read.
func (n *Node) Barrier(ctx context.Context) error {
	return n.wrapErr("raft barrier", n.await(ctx, n.raft.Barrier(enqueueTimeout(ctx))))
}

// VerifyLeader confirms with a quorum, without writing to the log, that
// this node is still the leader. It is cheaper than Barrier, but reads after
// it are only linearizable once the FSM has applied the node's commit index.
func (n *Node) VerifyLeader(ctx context.Context) error {
	return n.wrapErr("verify raft leadership", n.await(ctx, n.raft.VerifyLeader()))
}

// Leader returns the id and address of the leader this node knows, or
// empty strings if none.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// LeaderCh delivers true when this node becomes the leader and false when
// it stops being it. It holds only the latest value: a slow reader may miss
// a flip but always sees the current state last. There is one channel per
// node, for one consumer.
func (n *Node) LeaderCh() <-chan bool { return n.leaderCh }

// WaitLeader returns once this node knows a leader (possibly itself).
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := n.Leader(); id != "" {
			return nil
		}
		if n.raft.State() == raft.Shutdown {
			return fmt.Errorf("wait for raft leader: %w", ErrShutdown)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for raft leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Stats returns a view of the node's Raft state.
func (n *Node) Stats() Stats {
	id, addr := n.Leader()
	rs := n.raft.Stats()
	st := Stats{
		ID:           n.cfg.ID,
		State:        n.raft.State().String(),
		LeaderID:     id,
		LeaderAddr:   addr,
		Term:         n.raft.CurrentTerm(),
		LastIndex:    n.raft.LastIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		LastContact:  -1,
		Metrics:      n.metrics.snapshot(),
	}
	_, _ = fmt.Sscan(rs["last_snapshot_index"], &st.LastSnapshotIndex)
	switch last := n.raft.LastContact(); {
	case n.IsLeader():
		st.LastContact = 0
	case !last.IsZero():
		st.LastContact = time.Since(last)
	}
	if servers, err := n.Servers(); err == nil {
		st.Servers = len(servers)
		for _, s := range servers {
			if s.Voter {
				st.Voters++
			}
		}
	}
	if n.IsLeader() {
		n.pilotMu.Lock()
		if ps := n.pilotState; ps != nil {
			st.Healthy, st.FailureTolerance = ps.Healthy, ps.FailureTolerance
		}
		n.pilotMu.Unlock()
	}
	return st
}

// Servers returns the members of the latest Raft configuration, sorted by
// id.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.wrapErr("read raft configuration", err)
	}
	leader, _ := n.Leader()
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{
			ID:     string(s.ID),
			Addr:   string(s.Address),
			Voter:  s.Suffrage == raft.Voter,
			Leader: string(s.ID) == leader,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Shutdown stops the node: autopilot, Raft, the transport and every
// goroutine of the node, then closes the log. It does not hand leadership
// over first (call TransferLeadership for a planned stop): to the rest of
// the cluster it looks like a crash. It is safe to call more than once.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		n.cancel()

		var errs []error
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shut down raft: %w", err))
		}
		n.trans.CloseStreams()
		close(n.stop)
		n.loops.Wait()
		n.raft.DeregisterObserver(n.observer)
		<-n.pilot.Stop()
		n.tasks.Wait()
		if err := n.store.bolt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft log: %w", err))
		}
		n.shutdownErr = errors.Join(errs...)
		n.log.Info("raft node stopped")
	})
	return n.shutdownErr
}

// goTracked runs fn on a goroutine that Shutdown waits for. It returns
// false, without running fn, once Shutdown has begun.
func (n *Node) goTracked(fn func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.tasks.Add(1)
	go func() {
		defer n.tasks.Done()
		fn()
	}()
	return true
}

// await waits for a raft future, or for ctx. Raft futures cannot be
// cancelled: when ctx ends first the operation goes on, and its waiter
// (tracked) ends when raft answers, at the latest when it shuts down.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	return n.call(ctx, f.Error)
}

// call runs fn, which must end when raft shuts down, and waits for it or
// for ctx.
func (n *Node) call(ctx context.Context, fn func() error) error {
	if ctx.Done() == nil {
		return fn()
	}
	done := make(chan error, 1)
	if !n.goTracked(func() { done <- fn() }) {
		return ErrShutdown
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w (the operation may still complete)", ctx.Err())
	}
}

// enqueueTimeout turns ctx's deadline into raft's enqueue timeout (0: none).
func enqueueTimeout(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(dl), time.Millisecond)
}

// wrapErr wraps a raft error with what was being done, turning
// raft.ErrNotLeader into a *NotLeaderError and raft.ErrRaftShutdown into
// ErrShutdown. It returns nil for nil.
func (n *Node) wrapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		id, addr := n.Leader()
		return fmt.Errorf("%s on %s: %w", op, n.cfg.ID, &NotLeaderError{LeaderID: id, LeaderAddr: addr})
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%s on %s: %w", op, n.cfg.ID, ErrShutdown)
	default:
		return fmt.Errorf("%s on %s: %w", op, n.cfg.ID, err)
	}
}
