package cli

// Workload commands, kubectl-shaped: apply, delete, scale, cordon, drain
// (get KIND: get.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func namespaceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: api.DefaultNamespace, Usage: "the namespace"},
		&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "every namespace"},
	}
}

func workloadCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "apply", Usage: "Create or update objects from manifests (Kubernetes YAML)",
			Flags:  []cli.Flag{&cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "a file, a directory of .yaml/.yml/.json files, or - for stdin"}},
			Action: applyAction,
		},
		{
			Name: "delete", Usage: "Delete objects: KIND NAME, or those of manifests (-f)", ArgsUsage: "[KIND NAME]",
			Flags:  append(namespaceFlags()[:1], &cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "delete the objects of these manifests"}),
			Action: deleteAction,
		},
		rolloutCommand(),
		describeCommand(),
		nodeActionCommand("cordon", "Mark nodes unschedulable: new pods go elsewhere"),
		nodeActionCommand("uncordon", "Mark nodes schedulable again"),
		nodeActionCommand("drain", "Cordon nodes and move their pods elsewhere (DaemonSet pods stay)"),
		{
			Name: "scale", Usage: "Set a Deployment's replicas", ArgsUsage: "deployment NAME | deployment/NAME",
			Flags:  append(namespaceFlags()[:1], &cli.IntFlag{Name: "replicas", Value: -1, Usage: "the number of pods (required)"}),
			Action: scaleAction,
		},
	}
}

func nodeActionCommand(action, usage string) *cli.Command {
	cmd := &cli.Command{Name: action, Usage: usage, ArgsUsage: "NODE [NODE...]", Action: func(c *cli.Context) error {
		return eachArg(c, func(cl *api.Client, node string) error {
			ctx := c.Context
			if d := c.Duration("timeout"); action == "drain" && d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			err := cl.NodeAction(ctx, node, action)
			if err != nil && action == "drain" && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("drain: its pods were not all replaced elsewhere within %s; the node stays cordoned (kedge uncordon %s undoes it)", c.Duration("timeout"), node)
			}
			return err
		})
	}}
	if action == "drain" {
		// As kubectl drain's: 0 waits as long as it takes.
		cmd.Flags = []cli.Flag{&cli.DurationFlag{Name: "timeout", Usage: "give up after this long (0: wait until the node's pods run elsewhere)"}}
	}
	return cmd
}

// readManifests reads -f arguments: files, directories (their .yaml, .yml
// and .json files, in name order) and - (stdin).
func readManifests(c *cli.Context) ([][2]string, error) {
	var out [][2]string // source, content
	for _, f := range c.StringSlice("filename") {
		if f == "-" {
			b, err := io.ReadAll(c.App.Reader)
			if err != nil {
				return nil, err
			}
			out = append(out, [2]string{"stdin", string(b)})
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		files := []string{f}
		if fi.IsDir() {
			files = nil
			entries, err := os.ReadDir(f)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
					files = append(files, filepath.Join(f, e.Name()))
				}
			}
			sort.Strings(files)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, [2]string{p, string(b)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no manifests: give -f FILE|DIR|-: %w", api.ErrInvalid)
	}
	return out, nil
}

func applyAction(c *cli.Context) error {
	files, err := readManifests(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, f := range files {
		res, err := cl.ApplyManifests(c.Context, []byte(f[1]), f[0])
		if err != nil {
			return fmt.Errorf("apply %s: %w", f[0], err)
		}
		for _, r := range res {
			fmt.Fprintf(c.App.Writer, "%s/%s %s\n", strings.ToLower(r.Kind), r.Name, r.Action)
		}
	}
	return nil
}

func deleteAction(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	if len(c.StringSlice("filename")) > 0 {
		files, err := readManifests(c)
		if err != nil {
			return err
		}
		for _, f := range files {
			objs, err := api.DecodeManifests([]byte(f[1]), f[0])
			if err != nil {
				return err
			}
			for _, o := range objs {
				o.Default()
				meta := o.GetObjectMeta()
				if err := cl.DeleteObject(c.Context, o.GetKind(), meta.Namespace, meta.Name); err != nil {
					fmt.Fprintf(c.App.ErrWriter, "kedge: %s/%s: %v\n", strings.ToLower(o.GetKind()), meta.Name, err)
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s/%s deleted\n", strings.ToLower(o.GetKind()), meta.Name)
			}
		}
		return nil
	}
	kind, name, err := kindAndName(c)
	if err != nil {
		return err
	}
	if err := cl.DeleteObject(c.Context, kind, c.String("namespace"), name); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s/%s deleted\n", kind, name)
	return nil
}

// kindAndName reads "KIND NAME" or "KIND/NAME".
func kindAndName(c *cli.Context) (string, string, error) {
	args := c.Args().Slice()
	if len(args) == 1 {
		if k, n, ok := strings.Cut(args[0], "/"); ok {
			return k, n, nil
		}
	}
	if len(args) != 2 {
		return "", "", usagef(c, "%q requires KIND NAME (or KIND/NAME)", c.Command.HelpName)
	}
	return args[0], args[1], nil
}

func scaleAction(c *cli.Context) error {
	kind, name, err := kindAndName(c)
	if err != nil {
		return err
	}
	if k := strings.ToLower(kind); k != "deployment" && k != "deploy" && k != "deployments" {
		return usagef(c, "only deployments scale (a DaemonSet runs one pod per node)")
	}
	if c.Int("replicas") < 0 {
		return usagef(c, "--replicas N is required")
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Scale(c.Context, c.String("namespace"), name, int32(c.Int("replicas"))); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "deployment/%s scaled\n", name)
	return nil
}
