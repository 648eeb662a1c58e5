package cli

// kedge rollout status|history|undo|restart, as kubectl's.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func rolloutCommand() *cli.Command {
	ns := func(more ...cli.Flag) []cli.Flag { return append([]cli.Flag{namespaceFlags()[0]}, more...) }
	return &cli.Command{
		Name: "rollout", Usage: "Manage a Deployment's rollout", Action: groupAction,
		Subcommands: []*cli.Command{
			{
				Name: "status", Usage: "Wait until a Deployment's rollout is complete", ArgsUsage: "deployment NAME | deployment/NAME",
				Flags:  ns(&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "give up after this long"}),
				Action: rolloutStatusAction,
			},
			{Name: "history", Usage: "List a Deployment's revisions", ArgsUsage: "deployment NAME", Flags: ns(), Action: rolloutHistoryAction},
			{
				Name: "undo", Usage: "Go back to the previous revision (or --to-revision)", ArgsUsage: "deployment NAME",
				Flags: ns(&cli.IntFlag{Name: "to-revision", Usage: "the revision to go back to"}),
				Action: func(c *cli.Context) error {
					return deploymentAction(c, "rolled back", func(cl *api.Client, ns, name string) error {
						return cl.RolloutUndo(c.Context, ns, name, c.Int("to-revision"))
					})
				},
			},
			{
				Name: "restart", Usage: "Replace every pod of a Deployment, rolling", ArgsUsage: "deployment NAME", Flags: ns(),
				Action: func(c *cli.Context) error {
					return deploymentAction(c, "restarted", func(cl *api.Client, ns, name string) error {
						return cl.RolloutRestart(c.Context, ns, name)
					})
				},
			},
		},
	}
}

// deploymentName reads "deployment NAME" or "deployment/NAME".
func deploymentName(c *cli.Context) (string, error) {
	kind, name, err := kindAndName(c)
	if err != nil {
		return "", err
	}
	if k := strings.ToLower(kind); k != "deployment" && k != "deploy" && k != "deployments" {
		return "", usagef(c, "rollouts are of deployments")
	}
	return name, nil
}

// withDeployment runs fn with a client and the Deployment the command
// names.
func withDeployment(c *cli.Context, fn func(cl *api.Client, name string) error) error {
	name, err := deploymentName(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(cl, name)
}

func deploymentAction(c *cli.Context, done string, fn func(cl *api.Client, ns, name string) error) error {
	return withDeployment(c, func(cl *api.Client, name string) error {
		if err := fn(cl, c.String("namespace"), name); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "deployment/%s %s\n", name, done)
		return nil
	})
}

func rolloutHistoryAction(c *cli.Context) error {
	return withDeployment(c, func(cl *api.Client, name string) error { return rolloutHistory(c, cl, name) })
}

func rolloutHistory(c *cli.Context, cl *api.Client, name string) error {
	revs, err := cl.RolloutHistory(c.Context, c.String("namespace"), name)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "deployment/%s\n", name)
	tw := newTable(c.App.Writer)
	fmt.Fprintln(tw, "REVISION\tCREATED\tIMAGES\t")
	for _, r := range revs {
		cur := ""
		if r.Current {
			cur = "(current)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Number, r.Created.Local().Format(time.DateTime), strings.Join(r.Images, ","), cur)
	}
	return tw.Flush()
}

func rolloutStatusAction(c *cli.Context) error {
	return withDeployment(c, func(cl *api.Client, name string) error { return rolloutStatus(c, cl, name) })
}

// rolloutStatus prints the rollout's progress each time it changes (a
// blocking query wakes it on every state change) until it completes or the
// timeout passes.
func rolloutStatus(c *cli.Context, cl *api.Client, name string) error {
	timeout := c.Duration("timeout")
	ctx, cancel := context.WithTimeout(c.Context, timeout)
	defer cancel()
	last := ""
	var q *api.BlockingQuery
	for {
		raws, index, err := cl.GetObjectsBlocking(ctx, "deployment", c.String("namespace"), name, q)
		if ctx.Err() != nil && c.Context.Err() == nil {
			return fmt.Errorf("deployment %s: rollout not complete after %v: %w", name, timeout, api.ErrConflict)
		}
		if err != nil {
			return err
		}
		var d api.Deployment
		if len(raws) != 1 || json.Unmarshal(raws[0], &d) != nil {
			return fmt.Errorf("deployment %s: unreadable answer", name)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		msg := ""
		switch {
		case st.UpdatedReplicas < want:
			msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d new replicas have been updated...", name, st.UpdatedReplicas, want)
		case st.Replicas > st.UpdatedReplicas:
			msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", name, st.Replicas-st.UpdatedReplicas)
		case st.AvailableReplicas < st.UpdatedReplicas:
			msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", name, st.AvailableReplicas, st.UpdatedReplicas)
		default:
			fmt.Fprintf(c.App.Writer, "deployment %q successfully rolled out\n", name)
			return nil
		}
		if msg != last {
			fmt.Fprintln(c.App.Writer, msg)
			last = msg
		}
		if index == 0 { // an agent without blocking queries: poll it
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
		q = &api.BlockingQuery{Index: index}
	}
}
