package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"kedge/api"
	"kedge/cluster"
	"kedge/security/pki"
	"kedge/web"
)

// nodeListener is the cluster member's HTTPS API, started when the agent is
// (or becomes) a member and stopped when it leaves.
type nodeListener struct {
	mu     sync.Mutex
	server *http.Server
	done   chan struct{}
}

// newClusterManager builds the cluster manager from the configuration.
func newClusterManager(cfg *Config) (*cluster.Manager, error) {
	cc := cfg.Cluster
	capacity, err := parseResources(cc.Capacity)
	if err != nil {
		return nil, fmt.Errorf("--capacity: %w", err)
	}
	if capacity.CPUMillis == 0 {
		capacity.CPUMillis = int64(goruntime.NumCPU()) * 1000
	}
	if capacity.MemoryBytes == 0 {
		capacity.MemoryBytes = hostMemory()
	}
	reserve, err := parseResources(cc.Reserve)
	if err != nil {
		return nil, fmt.Errorf("--reserve: %w", err)
	}
	var stab, certTTL time.Duration
	if cc.StabilizationTime != "" {
		if stab, err = time.ParseDuration(cc.StabilizationTime); err != nil {
			return nil, fmt.Errorf("stabilization_time %q: %w", cc.StabilizationTime, err)
		}
	}
	if cc.CertTTL != "" {
		if certTTL, err = time.ParseDuration(cc.CertTTL); err != nil || certTTL < 0 {
			return nil, fmt.Errorf("cert_ttl %q: want a duration such as 8760h", cc.CertTTL)
		}
	}
	return cluster.New(cluster.Config{
		DataDir: filepath.Join(cfg.DataDir, "cluster"), NodeName: cfg.NodeName, Advertise: cc.Advertise, BindAddr: cc.BindAddr,
		APIPort: cc.APIPort, RaftPort: cc.RaftPort, GossipPort: cc.GossipPort, Labels: cc.Labels, Taints: cc.Taints,
		Capacity: capacity, Reserve: reserve, Version: cfg.Version.Version, Slow: cc.SlowLinks,
		StabilizationTime: stab, CertTTL: certTTL, Logger: cfg.Logger, ProtocolLevel: cc.ProtocolLevel,
	})
}

// startNodeListener serves the HTTPS API on the cluster's API port; it is
// a no-op when it runs already or the agent is not a member.
func (a *Agent) startNodeListener() {
	nl := &a.node
	nl.mu.Lock()
	defer nl.mu.Unlock()
	if nl.server != nil {
		return
	}
	tlsCfg := a.cluster.TLSConfig()
	if tlsCfg == nil {
		return
	}
	port := a.cfg.Cluster.APIPort
	if port == 0 {
		port = api.DefaultAPIPort
	}
	addr := net.JoinHostPort(firstNonEmpty(a.cfg.Cluster.BindAddr, "0.0.0.0"), strconv.Itoa(port))
	auth := web.NewAuth(a.cluster.CheckToken, nodeFromCert, a.log)
	h, err := a.api.NodeHandler(auth, web.NodeEndpoints{
		Join: a.cluster.HandleJoin, Apply: a.cluster.HandleApply, RemoveServer: a.cluster.HandleRemoveServer, CAKey: a.cluster.HandleCAKey,
		Renew: a.cluster.HandleRenew, CAKeyFetch: a.cluster.HandleCAKeyFetch,
		ReadIndex: a.cluster.HandleReadIndex,
		Metrics:   a.metrics.handler(),
	})
	if err != nil {
		a.log.Error("cluster API not served", "err", err)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		a.log.Error("cluster API not served: the port is taken?", "addr", addr, "err", err)
		return
	}
	srv := &http.Server{Handler: a.metrics.instrument("https", h), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: nil}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(tls.NewListener(ln, tlsCfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("cluster API stopped", "err", err)
		}
	}()
	nl.server, nl.done = srv, done
	a.log.Info("cluster API serving", "addr", addr)
}

// clusterAPIAddr is this node's advertised API address.
func (a *Agent) clusterAPIAddr() string {
	nodes, err := a.cluster.Nodes(context.Background())
	st, _ := a.cluster.Status(context.Background())
	if err == nil {
		for _, n := range nodes {
			if n.ID == st.NodeID {
				return n.APIAddr
			}
		}
	}
	return "127.0.0.1:" + strconv.Itoa(api.DefaultAPIPort)
}

// onLeave runs after the node left its cluster: the HTTPS API stops and
// the cluster's pods go (they were rescheduled elsewhere).
func (a *Agent) onLeave() {
	a.stopNodeListener()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	removeAllPods(ctx, a.engine, a.cfg.DataDir)
}

// stopNodeListener stops the HTTPS API (after a leave, or at shutdown).
func (a *Agent) stopNodeListener() {
	nl := &a.node
	nl.mu.Lock()
	srv, done := nl.server, nl.done
	nl.server, nl.done = nil, nil
	nl.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
	<-done
}

// nodeFromCert accepts node certificates (the TLS layer verified the chain).
func nodeFromCert(cert *x509.Certificate) (string, bool) {
	id, err := pki.NodeIDFromCert(cert)
	return id, err == nil
}

// parseResources reads "cpu=2,memory=4G" (cpu in cores, fractions allowed,
// or "500m"; memory a size).
func parseResources(s string) (api.NodeResources, error) {
	var r api.NodeResources
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return r, fmt.Errorf("%q: want cpu=N,memory=SIZE: %w", s, api.ErrInvalid)
		}
		switch k {
		case "cpu":
			if m, ok := strings.CutSuffix(v, "m"); ok {
				n, err := strconv.ParseInt(m, 10, 64)
				if err != nil || n <= 0 {
					return r, fmt.Errorf("cpu %q: %w", v, api.ErrInvalid)
				}
				r.CPUMillis = n
				continue
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || f > 1e6 {
				return r, fmt.Errorf("cpu %q: want cores (2, 0.5) or millicores (500m): %w", v, api.ErrInvalid)
			}
			r.CPUMillis = int64(f * 1000)
		case "memory", "mem":
			n, err := api.ParseSize(v)
			if err != nil || n <= 0 {
				return r, fmt.Errorf("memory %q: want a size such as 512M or 4G: %w", v, api.ErrInvalid)
			}
			r.MemoryBytes = n
		default:
			return r, fmt.Errorf("%q: unknown resource (cpu, memory): %w", k, api.ErrInvalid)
		}
	}
	return r, nil
}

// hostMemory is the machine's memory from /proc/meminfo (0 if unknown).
func hostMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
