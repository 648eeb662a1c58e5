package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// defaultWait bounds Leave and UpdateMeta when their context has no deadline.
const defaultWait = 5 * time.Second

// Gossip is the local node's membership in the cluster. Its methods are safe
// for concurrent use. Create it with New; stop it with Shutdown (after Leave
// when the node goes away on purpose).
type Gossip struct {
	id      string
	log     *slog.Logger
	d       *delegate
	ml      *memberlist.Memberlist
	keyring *memberlist.Keyring

	metaMu sync.Mutex // serialises UpdateMeta and Leave; guards meta and left
	meta   Meta       // the local metadata
	left   bool       // Leave was called

	life   sync.RWMutex // read-held by operations on ml, write-held by Shutdown
	closed bool

	stop chan struct{}  // closed by Shutdown
	wg   sync.WaitGroup // the event dispatcher (logs events, calls OnEvent)
}

// New starts gossip on the configured address. The node is alone until Join.
func New(cfg Config) (*Gossip, error) {
	meta, err := cfg.check()
	if err != nil {
		return nil, fmt.Errorf("gossip: node %q: %w", cfg.NodeID, err)
	}
	metaBuf, err := encodeMeta(meta, false)
	if err != nil {
		return nil, fmt.Errorf("gossip: node %q: %w", cfg.NodeID, err)
	}
	kr, err := newKeyring(cfg.Key, cfg.SecondaryKeys)
	if err != nil {
		return nil, fmt.Errorf("gossip: node %q: %w", cfg.NodeID, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("subsystem", "gossip", "node", cfg.NodeID)
	retention := cfg.DeadRetention
	if retention == 0 {
		retention = DefaultDeadRetention
	}

	d := &delegate{
		self:      cfg.NodeID,
		log:       logger,
		now:       time.Now,
		retention: retention,
		meta:      metaBuf,
		members:   make(map[string]Member),
		intents:   make(map[string]time.Time),
		acked:     make(map[string]time.Time),
		timing:    cfg.Profile.Timing(),
	}
	d.broadcasts = &memberlist.TransmitLimitedQueue{NumNodes: d.numAlive, RetransmitMult: d.timing.RetransmitMult}
	g := &Gossip{id: cfg.NodeID, log: logger, d: d, keyring: kr, meta: meta, stop: make(chan struct{})}
	d.events = newEventQueue(logger)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		d.events.run(cfg.OnEvent, g.stop)
	}()

	ml, err := memberlist.Create(cfg.memberlistConfig(kr, d, newStdLogger(logger, func(id string) { d.suspect(id, true) })))
	if err != nil {
		close(g.stop)
		g.wg.Wait()
		return nil, fmt.Errorf("gossip: node %q: starting memberlist on %s port %d: %w",
			cfg.NodeID, cfg.BindAddr, cfg.BindPort, err)
	}
	g.ml = ml
	logger.Info("gossip started", "addr", g.LocalAddr(), "profile", cfg.Profile)
	return g, nil
}

// ID returns the local node ID.
func (g *Gossip) ID() string { return g.id }

// Join contacts the given peers ("host:port", or "host" for the local bind
// port) one after the other and merges their view of the cluster. It
// returns how many it reached; it fails (ErrJoin) only if it reached none.
// ctx is checked between peers; each attempt is bounded by the profile's
// TCPTimeout.
func (g *Gossip) Join(ctx context.Context, addrs []string) (int, error) {
	g.life.RLock()
	defer g.life.RUnlock()
	if g.closed {
		return 0, fmt.Errorf("gossip: node %q: join: %w", g.id, ErrClosed)
	}
	joined := 0
	var errs []error
	for _, a := range addrs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		n, err := g.ml.Join([]string{a})
		joined += n
		if err != nil {
			errs = append(errs, flatten(err))
		}
	}
	if joined == 0 {
		if len(addrs) == 0 {
			errs = append(errs, errors.New("no addresses given"))
		}
		return 0, fmt.Errorf("gossip: node %q: join %v: %w: %w", g.id, addrs, ErrJoin, errors.Join(errs...))
	}
	if len(errs) > 0 {
		g.log.Warn("some join addresses failed", "joined", joined, "err", errors.Join(errs...))
	}
	return joined, nil
}

// Members returns every known member, the local node included, sorted by ID:
// alive ones and those dead or left within Config.DeadRetention.
func (g *Gossip) Members() []Member { return g.d.list() }

// Member returns the member with the given node ID.
func (g *Gossip) Member(id string) (Member, bool) { return g.d.get(id) }

// NumMembers returns the number of live members, the local node included.
func (g *Gossip) NumMembers() int { return g.d.numAlive() }

// LocalAddr returns the address peers use to reach this node.
func (g *Gossip) LocalAddr() netip.AddrPort {
	m, _ := g.d.get(g.id)
	return m.Addr
}

// UpdateMeta replaces the local metadata (an empty m.ID means the node ID)
// and broadcasts it; peers report EventUpdate. It waits until the broadcast
// went out, bounded by ctx's deadline (5 s without one); on timeout the new
// metadata still spreads, the error only says it was not confirmed.
func (g *Gossip) UpdateMeta(ctx context.Context, m Meta) error {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	g.life.RLock()
	defer g.life.RUnlock()
	if g.closed {
		return fmt.Errorf("gossip: node %q: update metadata: %w", g.id, ErrClosed)
	}
	if g.left {
		return fmt.Errorf("gossip: node %q: update metadata: %w", g.id, ErrLeft)
	}
	m = m.clone()
	if m.ID == "" {
		m.ID = g.id
	}
	if m.ID != g.id {
		return fmt.Errorf("gossip: node %q: update metadata: id %q is not the node id: %w", g.id, m.ID, ErrInvalidMeta)
	}
	buf, err := encodeMeta(m, false)
	if err != nil {
		return fmt.Errorf("gossip: node %q: update metadata: %w", g.id, err)
	}
	wait, err := waitFor(ctx)
	if err != nil {
		return fmt.Errorf("gossip: node %q: update metadata: %w", g.id, err)
	}
	g.meta = m
	g.d.setMeta(buf, false)
	if err := g.ml.UpdateNode(wait); err != nil {
		return fmt.Errorf("gossip: node %q: broadcasting metadata: %w", g.id, err)
	}
	return nil
}

// Leave announces that this node leaves the cluster, so peers report it Left
// rather than Dead, and waits until the announcement went out, bounded by
// ctx's deadline (5 s without one). It takes two broadcasts: the metadata
// with a leaving flag, then memberlist's leave (see delegate.NotifyAlive).
// Gossip keeps running until Shutdown; calling Leave again does nothing.
func (g *Gossip) Leave(ctx context.Context) error {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	g.life.RLock()
	defer g.life.RUnlock()
	if g.closed {
		return fmt.Errorf("gossip: node %q: leave: %w", g.id, ErrClosed)
	}
	if g.left {
		return nil
	}
	buf, err := encodeMeta(g.meta, true)
	if err != nil { // cannot happen: g.meta was encoded before
		return fmt.Errorf("gossip: node %q: leave: %w", g.id, err)
	}
	wait, err := waitFor(ctx)
	if err != nil {
		return fmt.Errorf("gossip: node %q: leave: %w", g.id, err)
	}
	g.left = true
	g.d.setMeta(buf, true)
	start := time.Now()
	if err := g.ml.UpdateNode(wait); err != nil {
		// Leave anyway; peers that miss the flag will report Dead.
		g.log.Warn("leave announcement not confirmed", "err", err)
	}
	if err := g.ml.Leave(max(wait-time.Since(start), time.Millisecond)); err != nil {
		return fmt.Errorf("gossip: node %q: leave: %w", g.id, err)
	}
	g.log.Info("left the cluster")
	return nil
}

// Shutdown stops gossip without a goodbye: peers will find this node Dead
// (call Leave first to be seen Left). It stops every goroutine of the
// Gossip, waiting for in-flight Join, Leave and UpdateMeta calls. Calling it
// again does nothing.
func (g *Gossip) Shutdown() error {
	g.life.Lock()
	if g.closed {
		g.life.Unlock()
		return nil
	}
	g.closed = true
	err := g.ml.Shutdown()
	g.life.Unlock()
	close(g.stop)
	g.wg.Wait()
	if err != nil {
		return fmt.Errorf("gossip: node %q: shutdown: %w", g.id, err)
	}
	g.log.Info("gossip stopped")
	return nil
}

// InstallKey adds key to the local keyring: it is accepted for incoming
// messages, but not used to send until UseKey.
func (g *Gossip) InstallKey(key []byte) error {
	if err := memberlist.ValidateKey(key); err != nil {
		return fmt.Errorf("gossip: node %q: install key: %v: %w", g.id, err, ErrInvalidKey)
	}
	if err := g.keyring.AddKey(key); err != nil {
		return fmt.Errorf("gossip: node %q: install key: %w", g.id, err)
	}
	return nil
}

// UseKey makes an installed key the primary one, used to send.
func (g *Gossip) UseKey(key []byte) error {
	if err := g.keyring.UseKey(key); err != nil {
		return fmt.Errorf("gossip: node %q: use key: %v: %w", g.id, err, ErrInvalidKey)
	}
	return nil
}

// RemoveKey removes a key that is not the primary one. Caveat (memberlist
// v0.7.0): removing a key that is not the last one installed shifts the
// keyring's slice in place while receivers may be reading it; remove old keys
// right after UseKey of the new one (the old key is then last) to avoid it.
func (g *Gossip) RemoveKey(key []byte) error {
	if err := g.keyring.RemoveKey(key); err != nil {
		return fmt.Errorf("gossip: node %q: remove key: %v: %w", g.id, err, ErrInvalidKey)
	}
	return nil
}

// Keys returns copies of the primary key and of all installed keys.
func (g *Gossip) Keys() (primary []byte, all [][]byte) {
	// GetKeys returns the keyring's own slice: copy, never write into it.
	for _, k := range g.keyring.GetKeys() {
		all = append(all, slices.Clone(k))
	}
	return slices.Clone(g.keyring.GetPrimaryKey()), all
}

// flatten turns memberlist's multi-line multierror into its parts, so that
// logs stay on one line.
func flatten(err error) error {
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) {
		return errors.Join(multi.WrappedErrors()...)
	}
	return err
}

// waitFor turns ctx's deadline into memberlist's timeout.
func waitFor(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return defaultWait, nil
	}
	wait := time.Until(dl)
	if wait <= 0 {
		return 0, context.DeadlineExceeded
	}
	return wait, nil
}
