package cli

// Volume commands: volume create|ls|inspect|rm|prune.

import (
	"context"
	"fmt"
	"sort"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func volumeCommands() []*cli.Command {
	return []*cli.Command{{
		Name: "volume", Usage: "Manage named volumes", Action: groupAction,
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "Create a volume (a generated name without an argument)", ArgsUsage: "[NAME]",
				Flags:  []cli.Flag{&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set a label: key=value"}},
				Action: volumeCreateAction,
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "List volumes",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print names"},
					outputFlag(),
				},
				Action: volumeListAction,
			},
			{
				Name: "inspect", Usage: "Show volumes' details (JSON)", ArgsUsage: "VOLUME [VOLUME...]",
				Action: volumeInspectAction,
			},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "Remove volumes", ArgsUsage: "VOLUME [VOLUME...]",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove even if a container uses it"}},
				Action: volumeRemoveAction,
			},
			{
				Name: "prune", Usage: "Remove volumes no container uses",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"}},
				Action: volumePruneAction,
			},
		},
	}}
}

func volumeCreateAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef(c, "%q accepts at most 1 argument", c.Command.HelpName)
	}
	name := c.Args().First()
	if name != "" && !volumeNameRE.MatchString(name) {
		return usagef(c, "volume name %q: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*", name)
	}
	var labels map[string]string
	for _, l := range c.StringSlice("label") {
		k, v, err := parseKeyValue("label", l, true)
		if err != nil {
			return usagef(c, "%v", err)
		}
		if labels == nil {
			labels = map[string]string{}
		}
		labels[k] = v
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	v, err := cl.CreateVolume(c.Context, name, labels)
	if err != nil {
		return fmt.Errorf("create volume: %w", err)
	}
	fmt.Fprintln(c.App.Writer, v.Name)
	return nil
}

func volumeListAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	list, err := cl.ListVolumes(c.Context)
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	if format == formatJSON {
		if list == nil {
			list = []api.Volume{}
		}
		return writeJSON(c.App.Writer, list)
	}
	if c.Bool("quiet") {
		for _, v := range list {
			fmt.Fprintln(c.App.Writer, v.Name)
		}
		return nil
	}
	tw := newTable(c.App.Writer)
	fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
	for _, v := range list {
		driver := v.Driver
		if driver == "" {
			driver = "local"
		}
		fmt.Fprintf(tw, "%s\t%s\n", driver, v.Name)
	}
	return tw.Flush()
}

func volumeInspectAction(c *cli.Context) error {
	return inspectEach(c, func(ctx context.Context, cl *api.Client, name string) (*api.Volume, error) {
		return cl.InspectVolume(ctx, name)
	})
}

func volumeRemoveAction(c *cli.Context) error {
	return eachArg(c, func(cl *api.Client, name string) error { return cl.RemoveVolume(c.Context, name, c.Bool("force")) })
}

func volumePruneAction(c *cli.Context) error {
	if ok, err := confirm(c, "This will remove all volumes not used by at least one container."); err != nil || !ok {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := cl.PruneVolumes(c.Context)
	if err != nil {
		return fmt.Errorf("prune volumes: %w", err)
	}
	printPruned(c, r)
	return nil
}
