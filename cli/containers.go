package cli

// Container lifecycle and listing: start, stop, kill, restart, pause,
// unpause, rm, ps, inspect, wait, top, port.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func containerCommands() []*cli.Command {
	timeoutFlag := &cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: -1, Usage: "seconds to wait before killing (default: the container's stop timeout)"}
	return []*cli.Command{
		{
			Name: "start", Usage: "Start one or more stopped containers", ArgsUsage: "CONTAINER [CONTAINER...]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "attach stdout/stderr and forward the exit code"},
				&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "attach stdin"},
			},
			Action: startAction,
		},
		{
			Name: "stop", Usage: "Stop one or more running containers", ArgsUsage: "CONTAINER [CONTAINER...]",
			Flags: []cli.Flag{timeoutFlag},
			Action: func(c *cli.Context) error {
				t := timeoutArg(c)
				return forEachContainer(c, func(ctx context.Context, cl *api.Client, ref string) error {
					return cl.StopContainer(ctx, ref, t)
				})
			},
		},
		{
			Name: "restart", Usage: "Restart one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
			Flags: []cli.Flag{timeoutFlag},
			Action: func(c *cli.Context) error {
				t := timeoutArg(c)
				return forEachContainer(c, func(ctx context.Context, cl *api.Client, ref string) error {
					return cl.RestartContainer(ctx, ref, t)
				})
			},
		},
		{
			Name: "kill", Usage: "Kill one or more running containers", ArgsUsage: "CONTAINER [CONTAINER...]",
			Flags: []cli.Flag{&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal to send"}},
			Action: func(c *cli.Context) error {
				sig, err := parseSignal(c.String("signal"))
				if err != nil {
					return usagef(c, "%v", err)
				}
				return forEachContainer(c, func(ctx context.Context, cl *api.Client, ref string) error {
					return cl.KillContainer(ctx, ref, sig)
				})
			},
		},
		{
			Name: "pause", Usage: "Pause all processes within one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
			Action: func(c *cli.Context) error {
				return forEachContainer(c, func(ctx context.Context, cl *api.Client, ref string) error {
					return cl.PauseContainer(ctx, ref, true)
				})
			},
		},
		{
			Name: "unpause", Usage: "Unpause all processes within one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
			Action: func(c *cli.Context) error {
				return forEachContainer(c, func(ctx context.Context, cl *api.Client, ref string) error {
					return cl.PauseContainer(ctx, ref, false)
				})
			},
		},
		{
			Name: "rm", Usage: "Remove one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"},
				&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove its anonymous volumes"},
			},
			Action: func(c *cli.Context) error {
				return forEachContainer(c, func(ctx context.Context, cl *api.Client, ref string) error {
					return cl.RemoveContainer(ctx, ref, c.Bool("force"), c.Bool("volumes"))
				})
			},
		},
		{
			Name: "ps", Usage: "List containers",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers (default: running ones)"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print ids"},
				&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
				outputFlag(),
			},
			Action: psAction,
		},
		{
			Name: "inspect", Usage: "Show low-level information on containers or images (JSON)", ArgsUsage: "NAME|ID [NAME|ID...]",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "type", Usage: "only look for a container or an image"}, outputFlag()},
			Action: inspectAction,
		},
		{
			Name: "wait", Usage: "Block until one or more containers stop, then print their exit codes", ArgsUsage: "CONTAINER [CONTAINER...]",
			Action: func(c *cli.Context) error {
				return forEachContainerQuiet(c, func(ctx context.Context, cl *api.Client, ref string) error {
					r, err := cl.WaitContainer(ctx, ref)
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, r.StatusCode)
					return nil
				})
			},
		},
		{
			Name: "top", Usage: "Display the running processes of a container", ArgsUsage: "CONTAINER",
			Action: topAction,
		},
		{
			Name: "port", Usage: "List port mappings of a container", ArgsUsage: "CONTAINER",
			Action: func(c *cli.Context) error {
				if err := requireExactArgs(c, 1, "1 argument"); err != nil {
					return err
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				defer cl.Close()
				ct, err := cl.InspectContainer(c.Context, c.Args().First())
				if err != nil {
					return err
				}
				for _, p := range publishedPorts(*ct) {
					host := p.HostIP
					if host == "" {
						host = "0.0.0.0"
					}
					fmt.Fprintf(c.App.Writer, "%d/%s -> %s:%d\n", p.ContainerPort, firstOf(p.Protocol, "tcp"), host, p.HostPort)
				}
				return nil
			},
		},
		statsCommand(),
		cpCommand(),
	}
}

// timeoutArg is -t as the API wants it: nil for the container's default.
func timeoutArg(c *cli.Context) *int {
	if !c.IsSet("time") || c.Int("time") < 0 {
		return nil
	}
	t := c.Int("time")
	return &t
}

// forEachContainer runs fn on every argument, printing each one that
// succeeded (as Docker does) and each failure; it fails when any did.
func forEachContainer(c *cli.Context, fn func(context.Context, *api.Client, string) error) error {
	return eachContainer(c, fn, true)
}

// forEachContainerQuiet is forEachContainer without printing the names.
func forEachContainerQuiet(c *cli.Context, fn func(context.Context, *api.Client, string) error) error {
	return eachContainer(c, fn, false)
}

func eachContainer(c *cli.Context, fn func(context.Context, *api.Client, string) error, echo bool) error {
	if err := requireArgs(c, 1, "at least 1 argument"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	failed := 0
	for _, ref := range c.Args().Slice() {
		if err := fn(c.Context, cl, ref); err != nil {
			fmt.Fprintf(c.App.ErrWriter, "kedge: %s: %v\n", ref, err)
			failed++
			continue
		}
		if echo {
			fmt.Fprintln(c.App.Writer, ref)
		}
	}
	if failed > 0 {
		return exitCode(ExitEngine)
	}
	return nil
}

func psAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	if c.NArg() > 0 {
		return usagef(c, "%q accepts no arguments", c.Command.HelpName)
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	list, err := cl.ListContainers(c.Context, c.Bool("all"))
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
	if format == formatJSON {
		if list == nil {
			list = []api.Container{}
		}
		return writeJSON(c.App.Writer, list)
	}
	printContainers(c, list, time.Now())
	return nil
}

// printContainers prints the `ps` table (or ids with -q).
func printContainers(c *cli.Context, list []api.Container, now time.Time) {
	noTrunc := c.Bool("no-trunc")
	if c.Bool("quiet") {
		for _, ct := range list {
			id := ct.ID
			if !noTrunc {
				id = shortID(id)
			}
			fmt.Fprintln(c.App.Writer, id)
		}
		return
	}
	tw := newTable(c.App.Writer)
	fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
	for _, ct := range list {
		id := ct.ID
		if !noTrunc {
			id = shortID(id)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, ct.Image, commandString(ct, noTrunc),
			timeAgo(now, ct.Created), containerStatus(now, ct.State), portsString(ct), ct.Name)
	}
	_ = tw.Flush()
}

func inspectAction(c *cli.Context) error {
	if err := requireArgs(c, 1, "at least 1 argument"); err != nil {
		return err
	}
	if _, err := outputFormat(c); err != nil {
		return err
	}
	kind := c.String("type")
	if kind != "" && kind != "container" && kind != "image" {
		return usagef(c, "--type %q: want container or image", kind)
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	out := []any{}
	failed := 0
	for _, ref := range c.Args().Slice() {
		v, err := inspectOne(c.Context, cl, ref, kind)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "kedge: %s: %v\n", ref, err)
			failed++
			continue
		}
		out = append(out, v)
	}
	if err := writeJSON(c.App.Writer, out); err != nil {
		return err
	}
	if failed > 0 {
		return exitCode(ExitEngine)
	}
	return nil
}

// inspectOne looks ref up as a container, then as an image.
func inspectOne(ctx context.Context, cl *api.Client, ref, kind string) (any, error) {
	if kind != "image" {
		ct, err := cl.InspectContainer(ctx, ref)
		if err == nil {
			return ct, nil
		}
		if kind == "container" || !errors.Is(err, api.ErrNotFound) {
			return nil, err
		}
	}
	img, err := cl.InspectImage(ctx, ref)
	if err != nil {
		if errors.Is(err, api.ErrNotFound) && kind == "" {
			return nil, fmt.Errorf("no such container or image: %w", err)
		}
		return nil, err
	}
	return img, nil
}

func topAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "1 argument"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	top, err := cl.Top(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	tw := newTable(c.App.Writer)
	fmt.Fprintln(tw, strings.Join(top.Titles, "\t"))
	for _, p := range top.Processes {
		fmt.Fprintln(tw, strings.Join(p, "\t"))
	}
	return tw.Flush()
}

// firstOf returns v, or def when v is empty.
func firstOf(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// portsString is the PORTS column of ps, as Docker prints it:
// "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp".
func portsString(ct api.Container) string {
	var parts []string
	for _, p := range publishedPorts(ct) {
		host := firstOf(p.HostIP, "0.0.0.0")
		parts = append(parts, fmt.Sprintf("%s:%d->%d/%s", host, p.HostPort, p.ContainerPort, firstOf(p.Protocol, "tcp")))
	}
	return strings.Join(parts, ", ")
}

// publishedPorts are a container's ports as configured, or, while it runs,
// the ones it got (free host ports resolved).
func publishedPorts(ct api.Container) []api.PortBinding {
	if ct.NetworkSettings != nil && ct.State.Running {
		return ct.NetworkSettings.Ports
	}
	return ct.Config.Ports
}
