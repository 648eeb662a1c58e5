package cli

// Cluster commands: init, join, leave, nodes (get nodes), status, token,
// node rm, snapshot, recover.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func clusterCommands() []*cli.Command {
	nodes := &cli.Command{
		Name: "nodes", Usage: "List the cluster's nodes", Flags: []cli.Flag{outputFlag(), consistentFlag()}, Action: nodesAction,
	}
	return []*cli.Command{
		{
			Name: "init", Usage: "Found a cluster with this node as its first member",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "advertise", Usage: "the IP other nodes reach this one at (default: the default route's address)"},
			},
			Action: initAction,
		},
		{
			Name: "join", Usage: "Join this node to a cluster", ArgsUsage: "NODE_ADDR",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "token", Usage: "join token printed by kedge init or kedge token create (required)"},
				&cli.StringFlag{Name: "advertise", Usage: "the IP other nodes reach this one at"},
				&cli.StringSliceFlag{Name: "label", Usage: "a node label: key=value"},
			},
			Action: joinAction,
		},
		{
			Name: "leave", Usage: "Drain this node, then take it out of its cluster (it stays a standalone engine)",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Usage: "leave at once, without draining first, even if that loses the quorum"},
				&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "how long to wait for the node's pods to be replaced elsewhere"},
			},
			Action: leaveAction,
		},
		nodes,
		getCommand(),
		{
			Name: "status", Usage: "Show the cluster's health: leader, quorum, Raft index", Flags: []cli.Flag{outputFlag(), consistentFlag()},
			Action: statusAction,
		},
		{
			Name: "token", Usage: "Manage join tokens", Action: groupAction,
			Subcommands: []*cli.Command{
				{
					Name: "create", Usage: "Create a join token",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "ttl", Value: "24h", Usage: "how long it is valid (0: forever)"},
						&cli.IntFlag{Name: "uses", Usage: "how many joins it allows (0: unlimited)"},
						&cli.StringFlag{Name: "description", Usage: "what it is for"},
					},
					Action: tokenCreateAction,
				},
				{Name: "ls", Aliases: []string{"list"}, Usage: "List join tokens", Flags: []cli.Flag{outputFlag()}, Action: tokenListAction},
				{
					Name: "revoke", Usage: "Revoke join tokens", ArgsUsage: "TOKEN_ID [TOKEN_ID...]",
					Action: func(c *cli.Context) error {
						return eachArg(c, func(cl *api.Client, id string) error { return cl.RevokeToken(c.Context, id) })
					},
				},
			},
		},
		{
			Name: "node", Usage: "Manage nodes", Action: groupAction,
			Subcommands: []*cli.Command{
				nodes,
				{
					Name: "rm", Usage: "Remove dead nodes from the cluster and revoke their certificates", ArgsUsage: "NODE [NODE...]",
					Action: func(c *cli.Context) error {
						return eachArg(c, func(cl *api.Client, ref string) error { return cl.RemoveNode(c.Context, ref) })
					},
				},
			},
		},
		{
			Name: "snapshot", Usage: "Back up or restore the cluster state", Action: groupAction,
			Subcommands: []*cli.Command{
				{Name: "save", Usage: "Write a consistent snapshot of the cluster state", ArgsUsage: "FILE", Action: snapshotSaveAction},
				{Name: "restore", Usage: "Replace the cluster state with a snapshot (on the leader)", ArgsUsage: "FILE", Action: snapshotRestoreAction},
			},
		},
		{
			Name: "ca", Usage: "Cluster CA", Action: groupAction,
			Subcommands: []*cli.Command{{
				Name: "backup", Usage: "Write the cluster CA, encrypted with a passphrase (KEDGE_CA_PASSPHRASE or stdin), for disaster recovery", ArgsUsage: "FILE",
				Action: caBackupAction,
			}},
		},
		{
			Name: "recover", Usage: "Bring back a cluster that lost its quorum, from this surviving voter",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force-new-cluster", Usage: "required: this node becomes the only voter, with the state it has"},
				&cli.StringFlag{Name: "advertise", Usage: "this node's address now, if it changed"},
			},
			Action: recoverAction,
		},
	}
}

func consistentFlag() cli.Flag {
	return &cli.BoolFlag{Name: "consistent", Usage: "a linearizable read (through the leader) instead of this node's copy"}
}

// clusterClient is newClient with --consistent applied.
func clusterClient(c *cli.Context) (*api.Client, error) {
	cl, err := newClient(c)
	if err == nil && c.Bool("consistent") {
		cl.SetConsistent(true)
	}
	return cl, err
}

func initAction(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	out, err := cl.ClusterInit(c.Context, api.InitRequest{Advertise: c.String("advertise")})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "Cluster %s founded; this node is %s.\n\n", out.ClusterID, out.NodeID)
	fmt.Fprintf(w, "Join other machines with:\n\n  %s\n\n", out.JoinCommand)
	fmt.Fprintf(w, "Status page: %s/ (sign in with the admin token)\n", out.Endpoint)
	cfg, err := loadCLIConfig()
	if err == nil {
		cfg.Endpoints, cfg.CACert, cfg.Token = []string{out.Endpoint}, out.CACert, out.AdminToken
		err = saveCLIConfig(cfg)
	}
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "kedge: could not write the CLI config: %v\nadmin token: %s\n", err, out.AdminToken)
		return nil
	}
	fmt.Fprintf(w, "Admin token and CA written to %s (use kedge -H %s from other machines).\n", cliConfigPath(), out.Endpoint)
	return nil
}

func joinAction(c *cli.Context) error {
	// `kedge join ADDR --token T`, as init prints it (flags may follow the
	// address: see intersperse).
	if err := requireExactArgs(c, 1, "the address of a cluster node"); err != nil {
		return err
	}
	addr, token, advertise, labels := c.Args().First(), c.String("token"), c.String("advertise"), c.StringSlice("label")
	if token == "" {
		return usagef(c, "%q requires --token (printed by kedge init or kedge token create)", c.Command.HelpName)
	}
	req := api.JoinRequest{Addr: addr, Token: token, Advertise: advertise}
	for _, l := range labels {
		k, v, err := parseKeyValue("label", l, true)
		if err != nil {
			return err
		}
		if req.Labels == nil {
			req.Labels = map[string]string{}
		}
		req.Labels[k] = v
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	out, err := cl.ClusterJoin(c.Context, req)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "Joined cluster %s as node %s (%s).\n", out.ClusterID, out.NodeName, out.NodeID)
	return nil
}

func leaveAction(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := api.LeaveRequest{Force: c.Bool("force"), DrainTimeout: c.Duration("timeout")}
	stop := func() {}
	if !req.Force {
		stop = leaveProgress(c, cl)
	}
	err = cl.ClusterLeaveWith(c.Context, req)
	stop()
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	fmt.Fprintln(c.App.Writer, "Left the cluster; this node is a standalone engine now.")
	return nil
}

// leaveProgress prints, while the agent drains before leaving, how many
// pods the node still runs, each time that changes; the returned func
// stops it.
func leaveProgress(c *cli.Context, cl *api.Client) (stop func()) {
	st, err := cl.ClusterStatus(c.Context)
	if err != nil || !st.Member {
		return func() {}
	}
	last := -1
	report := func() {
		raws, err := cl.GetObjects(c.Context, "pods", "", "")
		if err != nil {
			return
		}
		n := 0
		for _, r := range raws {
			var p api.ClusterPod
			if json.Unmarshal(r, &p) == nil && p.Status.NodeName == st.NodeName {
				n++
			}
		}
		if n != last {
			fmt.Fprintf(c.App.ErrWriter, "Draining %s: %d pods on it\n", st.NodeName, n)
			last = n
		}
	}
	report() // before the leave starts: what there is to move
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() { // ends when stop closes done
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C: // a once-a-second progress line is all it needs
				report()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func nodesAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	cl, err := clusterClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	nodes, err := cl.ClusterNodes(c.Context)
	if err != nil {
		return fmt.Errorf("nodes: %w", err)
	}
	if format == formatJSON {
		return writeJSON(c.App.Writer, nodes)
	}
	header, rows := nodeRows(nodes)
	return printRows(c.App.Writer, header, rows)
}

func capacityString(r api.NodeResources) string {
	if r.CPUMillis == 0 && r.MemoryBytes == 0 {
		return "-"
	}
	return fmt.Sprintf("cpu=%g,memory=%s", float64(r.CPUMillis)/1000, humanBytes(r.MemoryBytes))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ci", float64(n)/float64(div), "KMGTPE"[exp])
}

func labelsString(l map[string]string) string {
	if len(l) == 0 {
		return "-"
	}
	var parts []string
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func statusAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	cl, err := clusterClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := cl.ClusterStatus(c.Context)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if format == formatJSON {
		return writeJSON(c.App.Writer, st)
	}
	w := c.App.Writer
	if !st.Member {
		fmt.Fprintln(w, "Standalone engine: not in a cluster (kedge init or kedge join).")
		return nil
	}
	health := "healthy"
	if !st.Healthy {
		health = "UNHEALTHY"
	}
	fmt.Fprintf(w, "Cluster:         %s (%s)\n", st.ClusterID, health)
	fmt.Fprintf(w, "This node:       %s (%s), %s\n", st.NodeName, shortID(st.NodeID), st.RaftState)
	leader := "none"
	if st.LeaderID != "" {
		leader = st.LeaderName + " (" + shortID(st.LeaderID) + ")"
	}
	fmt.Fprintf(w, "Leader:          %s\n", leader)
	fmt.Fprintf(w, "Voters:          %d of %d members; fault tolerance %d\n", st.Voters, st.Members, st.FaultTolerance)
	fmt.Fprintf(w, "Raft:            term %d, commit index %d, applied index %d\n", st.Term, st.CommitIndex, st.AppliedIndex)
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "WARNING:         %s\n", warn)
	}
	return nil
}

func tokenCreateAction(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	t, err := cl.CreateToken(c.Context, api.TokenCreateRequest{TTL: c.String("ttl"), Uses: c.Int("uses"), Description: c.String("description")})
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	fmt.Fprintln(c.App.Writer, t.Token)
	return nil
}

func tokenListAction(c *cli.Context) error {
	now := time.Now()
	return listing[api.JoinToken]{
		what: "tokens", fetch: func(cl *api.Client) ([]api.JoinToken, error) { return cl.Tokens(c.Context) },
		header: "ID\tCREATED\tEXPIRES\tUSES LEFT\tSTATE\tDESCRIPTION",
		row: func(t api.JoinToken) string {
			expires, uses, st := "never", "unlimited", "valid"
			if !t.Expires.IsZero() {
				expires = t.Expires.Local().Format(time.DateTime)
				if now.After(t.Expires) {
					st = "expired"
				}
			}
			if t.UsesLeft >= 0 {
				uses = fmt.Sprint(t.UsesLeft)
				if t.UsesLeft == 0 {
					st = "used up"
				}
			}
			if t.Revoked {
				st = "revoked"
			}
			return fmt.Sprintf("%s\t%s ago\t%s\t%s\t%s\t%s", t.ID, humanDuration(now.Sub(t.Created)), expires, uses, st, t.Description)
		},
	}.run(c)
}

func snapshotSaveAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "a file"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	path := c.Args().First()
	f, err := os.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := cl.SaveSnapshot(c.Context, f); err != nil {
		f.Close()
		os.Remove(path + ".tmp")
		return fmt.Errorf("snapshot save: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Snapshot written to %s\n", path)
	return nil
}

func snapshotRestoreAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "a file"); err != nil {
		return err
	}
	f, err := os.Open(c.Args().First())
	if err != nil {
		return err
	}
	defer f.Close()
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.RestoreSnapshot(c.Context, f); err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	fmt.Fprintln(c.App.Writer, "Cluster state restored.")
	return nil
}

func recoverAction(c *cli.Context) error {
	if !c.Bool("force-new-cluster") {
		return usagef(c, "recover rewrites the cluster's membership: confirm with --force-new-cluster")
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ClusterRecover(c.Context, c.String("advertise")); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	fmt.Fprintln(c.App.Writer, "Recovered: this node is now the cluster's only voter. Wipe and re-join the other old members.")
	return nil
}

func caBackupAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "a file"); err != nil {
		return err
	}
	pass := os.Getenv("KEDGE_CA_PASSPHRASE")
	if pass == "" {
		fmt.Fprint(c.App.ErrWriter, "passphrase (12+ characters): ")
		line, err := bufio.NewReader(c.App.Reader).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read passphrase: %w", err)
		}
		pass = strings.TrimRight(line, "\r\n")
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	blob, err := cl.BackupCA(c.Context, pass)
	if err != nil {
		return fmt.Errorf("ca backup: %w", err)
	}
	if err := os.WriteFile(c.Args().First(), blob, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Encrypted CA written to %s\n", c.Args().First())
	return nil
}
