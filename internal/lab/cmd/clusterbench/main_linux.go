//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"kedge/api"
	"kedge/internal/lab"
)

func main() {
	binary := flag.String("binary", "", "the kedge binary (required)")
	trials := flag.Int("trials", 10, "trials per figure")
	flag.Parse()
	if *binary == "" {
		fmt.Fprintln(os.Stderr, "clusterbench: --binary is required")
		os.Exit(2)
	}
	if err := run(*binary, *trials); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

// bench is a three-host lab with a formed cluster.
type bench struct {
	lab   *lab.Lab
	token string
}

func run(binary string, trials int) error {
	ctx := context.Background()
	l, err := lab.New(ctx, lab.Config{Hosts: 4, Binary: binary})
	if err != nil {
		return err
	}
	defer l.Close()
	b := &bench{lab: l}
	if err := b.form(ctx); err != nil {
		return err
	}
	var failover, detect, join []time.Duration
	for i := 0; i < trials; i++ {
		d, err := b.leaderFailover(ctx)
		if err != nil {
			return fmt.Errorf("failover trial %d: %w", i+1, err)
		}
		failover = append(failover, d)
		if d, err = b.detection(ctx); err != nil {
			return fmt.Errorf("detection trial %d: %w", i+1, err)
		}
		detect = append(detect, d)
		if d, err = b.joinReady(ctx); err != nil {
			return fmt.Errorf("join trial %d: %w", i+1, err)
		}
		join = append(join, d)
		fmt.Fprintf(os.Stderr, "== trial %d: failover %v, detection %v, join %v\n", i+1, failover[i], detect[i], join[i])
	}
	rss, err := b.voterRSS(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("kedge cluster figures (%s, 3-host lab, medians of %d trials)\n", time.Now().Format("2006-01-02"), trials)
	row := func(what string, got time.Duration, target time.Duration, anchor string, anchorVal time.Duration) {
		fmt.Printf("%-58s %7.0f ms  (target < %v; %s %v: ratio %.2f)\n", what, ms(got), target, anchor, anchorVal, ms(got)/ms(anchorVal))
	}
	row("kill -9 of the leader's agent until a write is accepted:", median(failover), 1500*time.Millisecond, "Swarm's election timeout, quoted:", 10*time.Second)
	row("kill -9 of a node's agent until all others see it down:", median(detect), 2*time.Second, "memberlist LAN defaults, quoted:", 5*time.Second)
	row("kedge join until the node is ready on all nodes:", median(join), 2*time.Second, "the target itself:", 2*time.Second)
	fmt.Printf("%-58s %7.1f MB  (target < 35 MB; idle Nomad agent 135 MB, quoted: ratio %.2f)\n", "idle RSS of a voter agent:", float64(rss)/(1<<20), float64(rss)/(135<<20))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func (b *bench) client(h *lab.Host) (*api.Client, error) { return h.Client() }

func (b *bench) start(ctx context.Context, h *lab.Host) error {
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := h.Start(sctx, "--advertise", h.IP.String(), "--stabilization-time", "1s"); err != nil {
		return err
	}
	return h.WaitReady(sctx)
}

// form starts three agents and makes them a cluster of three voters; the
// fourth host is for the join trials.
func (b *bench) form(ctx context.Context) error {
	for _, h := range b.lab.Hosts[:3] {
		if err := b.start(ctx, h); err != nil {
			return err
		}
	}
	cl, err := b.client(b.lab.Hosts[0])
	if err != nil {
		return err
	}
	init, err := cl.ClusterInit(ctx, api.InitRequest{})
	if err != nil {
		return err
	}
	b.token = init.Token
	for _, h := range b.lab.Hosts[1:3] {
		c, err := b.client(h)
		if err != nil {
			return err
		}
		if _, err := c.ClusterJoin(ctx, api.JoinRequest{Addr: b.lab.Hosts[0].IP.String(), Token: b.token}); err != nil {
			return err
		}
	}
	return b.waitAll(ctx, b.lab.Hosts[:3], 3, 30*time.Second)
}

// waitAll waits until every host sees n nodes, all ready, three voters and a leader.
func (b *bench) waitAll(ctx context.Context, hosts []*lab.Host, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, h := range hosts {
		cl, err := b.client(h)
		if err != nil {
			return err
		}
		for {
			st, err1 := cl.ClusterStatus(ctx)
			nodes, err2 := cl.ClusterNodes(ctx)
			if err1 == nil && err2 == nil && st.LeaderID != "" && st.Voters == 3 && len(nodes) == n && allReady(nodes) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: the cluster did not settle", h.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

func allReady(nodes []api.ClusterNode) bool {
	for _, n := range nodes {
		if n.State != api.NodeReady {
			return false
		}
	}
	return true
}

func (b *bench) leader(ctx context.Context) (*lab.Host, error) {
	for _, h := range b.lab.Hosts[:3] {
		cl, err := b.client(h)
		if err != nil {
			continue
		}
		if st, err := cl.ClusterStatus(ctx); err == nil && st.RaftState == "Leader" {
			return h, nil
		}
	}
	return nil, fmt.Errorf("no leader")
}

// leaderFailover kills the leader's agent and times until a write through
// another node is accepted; then it restarts the agent and waits for it.
func (b *bench) leaderFailover(ctx context.Context) (time.Duration, error) {
	lead, err := b.leader(ctx)
	if err != nil {
		return 0, err
	}
	var other *lab.Host
	for _, h := range b.lab.Hosts[:3] {
		if h != lead {
			other = h
			break
		}
	}
	cl, err := b.client(other)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := lead.Kill9(); err != nil {
		return 0, err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cl.CreateToken(wctx, api.TokenCreateRequest{TTL: "1m", Description: "bench"})
		cancel()
		if err == nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			return 0, fmt.Errorf("no write accepted: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	if err := b.start(ctx, lead); err != nil {
		return 0, err
	}
	return took, b.waitAll(ctx, b.lab.Hosts[:3], 3, 30*time.Second)
}

// detection kills a follower's agent and times until both others list it down.
func (b *bench) detection(ctx context.Context) (time.Duration, error) {
	lead, err := b.leader(ctx)
	if err != nil {
		return 0, err
	}
	var victim *lab.Host
	var others []*lab.Host
	for _, h := range b.lab.Hosts[:3] {
		if h != lead && victim == nil {
			victim = h
		} else {
			others = append(others, h)
		}
	}
	start := time.Now()
	if err := victim.Kill9(); err != nil {
		return 0, err
	}
	for _, h := range others {
		cl, err := b.client(h)
		if err != nil {
			return 0, err
		}
		for {
			nodes, err := cl.ClusterNodes(ctx)
			down := false
			if err == nil {
				for _, n := range nodes {
					if n.Name == victim.Name && n.State == api.NodeDown {
						down = true
					}
				}
			}
			if down {
				break
			}
			if time.Since(start) > 30*time.Second {
				return 0, fmt.Errorf("%s never saw %s down", h.Name, victim.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	took := time.Since(start)
	if err := b.start(ctx, victim); err != nil {
		return 0, err
	}
	return took, b.waitAll(ctx, b.lab.Hosts[:3], 3, 30*time.Second)
}

// joinReady joins the fourth host and times until all four list it ready;
// then it leaves again.
func (b *bench) joinReady(ctx context.Context) (time.Duration, error) {
	h := b.lab.Hosts[3]
	if !h.Running() {
		if err := b.start(ctx, h); err != nil {
			return 0, err
		}
	}
	cl, err := b.client(h)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := cl.ClusterJoin(ctx, api.JoinRequest{Addr: b.lab.Hosts[0].IP.String(), Token: b.token}); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, o := range b.lab.Hosts {
		ocl, err := b.client(o)
		if err != nil {
			return 0, err
		}
		for {
			nodes, err := ocl.ClusterNodes(ctx)
			ready := false
			if err == nil {
				for _, n := range nodes {
					if n.Name == h.Name && n.State == api.NodeReady {
						ready = true
					}
				}
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("%s never saw %s ready", o.Name, h.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	took := time.Since(start)
	if err := cl.ClusterLeave(ctx, false); err != nil {
		return 0, fmt.Errorf("leave: %w", err)
	}
	return took, b.waitAll(ctx, b.lab.Hosts[:3], 3, 30*time.Second)
}

// voterRSS is the resident memory of the leader's agent after the cluster
// has been idle for a while.
func (b *bench) voterRSS(ctx context.Context) (int64, error) {
	time.Sleep(10 * time.Second) // settle: the figure is an idle agent's, not a timing
	lead, err := b.leader(ctx)
	if err != nil {
		return 0, err
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(lead.PID()) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}
