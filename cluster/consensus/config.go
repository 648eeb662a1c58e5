package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// Config describes one Raft server. ID, DataDir, BindAddr, ServerTLS,
// ClientTLS and FSM are required; everything else has a default.
type Config struct {
	// ID identifies the server for its whole life (the node id); it must
	// not change across restarts.
	ID string
	// DataDir is the node's data directory; Raft keeps its files under
	// DataDir/raft.
	DataDir string
	// BindAddr is the host:port the transport listens on. Port 0 picks a
	// free port (see Node.Addr).
	BindAddr string
	// AdvertiseAddr is the host:port other servers dial to reach this one.
	// Empty means the listener's address, which must then not be a wildcard.
	AdvertiseAddr string

	// ServerTLS secures accepted connections. It must present this node's
	// certificate and require and verify client certificates against the
	// cluster CA (ClientAuth == tls.RequireAndVerifyClientCert, ClientCAs
	// set). Restrict which certificates of that CA may speak Raft (server
	// certificates, not user ones) with VerifyConnection if the CA issues
	// both.
	ServerTLS *tls.Config
	// ClientTLS secures dialled connections: this node's certificate as the
	// client certificate and RootCAs holding the cluster CA. With ServerName
	// empty the peer's certificate must be valid for the host of its address
	// (an IP SAN); set ServerName to a fixed name to decouple certificates
	// from addresses.
	ClientTLS *tls.Config

	// FSM is the replicated state machine.
	FSM raft.FSM

	// Timing holds the timeouts; the zero value means LAN().
	Timing Timing
	// MaxVoters caps the voter count: 1, 3 or 5 (default 5).
	MaxVoters int
	// StabilizationTime is how long a non-voter must be healthy before it
	// is promoted, and how long a failed voter keeps its seat before a
	// healthy non-voter takes it (default 10 s).
	StabilizationTime time.Duration

	// Logger receives the node's logs, raft's and autopilot's included
	// (default slog.Default()).
	Logger *slog.Logger

	// KnownServers returns the servers the application knows of and their
	// status (alive, failed, left), keyed by Raft server id; in the agent it
	// is fed by gossip. Called on the leader every Timing.AutopilotUpdate.
	// The default reports every server of the Raft configuration as alive,
	// so failed servers are never removed, only demoted.
	KnownServers func() map[raft.ServerID]*autopilot.Server
	// FetchStats returns Raft statistics of the given servers. Servers
	// missing from the result keep their previous statistics. The default is
	// DefaultFetchStats's view from the leader.
	FetchStats func(ctx context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats
	// RemoveFailedServer is called on the leader for a server KnownServers
	// reports failed or left that autopilot decided to remove (the agent
	// force-leaves it from gossip and removes it from Raft). It must return
	// promptly. The default removes the server from the Raft configuration.
	RemoveFailedServer func(*autopilot.Server)

	// OnStateChange, if set, is called when this node's Raft state or the
	// leader it knows changes. It runs on the node's observer goroutine and
	// must not block.
	OnStateChange func(StateChange)
	// OnVotersChange, if set, is called with the sorted ids of the voters
	// whenever they change (and once the first time they are read), on
	// every node. It runs on the node's observer goroutine and must not
	// block.
	OnVotersChange func(voters []string)
	// OnApply, if set, is called after every Apply with its latency (from
	// the call until the leader's FSM applied the command) and error, for
	// metrics.
	OnApply func(latency time.Duration, err error)
}

// StateChange describes a change of a node's Raft state or of the leader it
// knows. LeaderID and LeaderAddr are empty while no leader is known.
type StateChange struct {
	State      raft.RaftState
	LeaderID   string
	LeaderAddr string
}

const (
	defaultMaxVoters         = 5
	defaultStabilizationTime = 10 * time.Second
)

// withDefaults returns cfg with defaults filled in. It does not validate.
func (cfg Config) withDefaults() Config {
	cfg.Timing = cfg.Timing.withDefaults()
	if cfg.MaxVoters == 0 {
		cfg.MaxVoters = defaultMaxVoters
	}
	if cfg.StabilizationTime == 0 {
		cfg.StabilizationTime = defaultStabilizationTime
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// checkStorage validates what opening the on-disk state needs.
func (cfg *Config) checkStorage() error {
	var errs []error
	if cfg.ID == "" {
		errs = append(errs, errors.New("ID is empty"))
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("DataDir is empty"))
	}
	if cfg.FSM == nil {
		errs = append(errs, errors.New("FSM is nil"))
	}
	if err := cfg.Timing.check(); err != nil {
		errs = append(errs, err)
	}
	if err := raft.ValidateConfig(cfg.Timing.raftConfig(cfg.ID)); err != nil && cfg.ID != "" {
		errs = append(errs, fmt.Errorf("timing: %w", err))
	}
	return errors.Join(errs...)
}

// check validates everything Open needs.
func (cfg *Config) check() error {
	errs := []error{cfg.checkStorage()}
	if cfg.BindAddr == "" {
		errs = append(errs, errors.New("BindAddr is empty"))
	}
	if cfg.AdvertiseAddr != "" {
		if err := checkHostPort(cfg.AdvertiseAddr); err != nil {
			errs = append(errs, fmt.Errorf("AdvertiseAddr: %w", err))
		}
	}
	switch cfg.MaxVoters {
	case 1, 3, 5:
	default:
		errs = append(errs, fmt.Errorf("MaxVoters is %d, want 1, 3 or 5", cfg.MaxVoters))
	}
	if cfg.StabilizationTime < 0 {
		errs = append(errs, errors.New("StabilizationTime is negative"))
	}
	switch {
	case cfg.ServerTLS == nil:
		errs = append(errs, errors.New("ServerTLS is nil"))
	case cfg.ServerTLS.ClientAuth != tls.RequireAndVerifyClientCert:
		errs = append(errs, errors.New("ServerTLS.ClientAuth must be tls.RequireAndVerifyClientCert"))
	case cfg.ServerTLS.ClientCAs == nil:
		errs = append(errs, errors.New("ServerTLS.ClientCAs is nil (the cluster CA)"))
	case len(cfg.ServerTLS.Certificates) == 0 && cfg.ServerTLS.GetCertificate == nil && cfg.ServerTLS.GetConfigForClient == nil:
		errs = append(errs, errors.New("ServerTLS has no certificate"))
	}
	switch {
	case cfg.ClientTLS == nil:
		errs = append(errs, errors.New("ClientTLS is nil"))
	case cfg.ClientTLS.RootCAs == nil:
		errs = append(errs, errors.New("ClientTLS.RootCAs is nil (the cluster CA)"))
	case cfg.ClientTLS.InsecureSkipVerify:
		errs = append(errs, errors.New("ClientTLS.InsecureSkipVerify is set"))
	case len(cfg.ClientTLS.Certificates) == 0 && cfg.ClientTLS.GetClientCertificate == nil:
		errs = append(errs, errors.New("ClientTLS has no client certificate"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("consensus config: %w", err)
	}
	return nil
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" || port == "" || port == "0" {
		return fmt.Errorf("%q needs a host and a port", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%q is a wildcard address", addr)
	}
	return nil
}
