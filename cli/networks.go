package cli

// Network commands: network create|ls|inspect|rm.

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func networkCommands() []*cli.Command {
	return []*cli.Command{{
		Name: "network", Usage: "Manage networks", Action: groupAction,
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "Create a network whose containers reach each other by name", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "subnet", Usage: "IPv4 subnet in CIDR form (default: a free /24 in 10.89.0.0/16)"},
					&cli.StringSliceFlag{Name: "label", Usage: "set a label: key=value"},
				},
				Action: networkCreateAction,
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "List networks",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print names"}, outputFlag()},
				Action: networkListAction,
			},
			{
				Name: "inspect", Usage: "Show networks' details (JSON)", ArgsUsage: "NETWORK [NETWORK...]",
				Action: func(c *cli.Context) error {
					return inspectEach(c, func(ctx context.Context, cl *api.Client, name string) (*api.Network, error) {
						return cl.InspectNetwork(ctx, name)
					})
				},
			},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "Remove networks no container uses", ArgsUsage: "NETWORK [NETWORK...]",
				Action: networkRemoveAction,
			},
		},
	}}
}

func networkCreateAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "1 argument"); err != nil {
		return err
	}
	req := &api.Network{Name: c.Args().First(), Subnet: c.String("subnet")}
	for _, l := range c.StringSlice("label") {
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
	n, err := cl.CreateNetwork(c.Context, req)
	if err != nil {
		return fmt.Errorf("create network %s: %w", req.Name, err)
	}
	fmt.Fprintln(c.App.Writer, n.Name)
	return nil
}

func networkListAction(c *cli.Context) error {
	return listing[api.Network]{
		what: "networks", fetch: func(cl *api.Client) ([]api.Network, error) { return cl.ListNetworks(c.Context) },
		header: "NAME\tDRIVER\tSUBNET\tCONTAINERS",
		row: func(n api.Network) string {
			return fmt.Sprintf("%s\t%s\t%s\t%d", n.Name, n.Driver, n.Subnet, len(n.Containers))
		},
		id: func(n api.Network) string { return n.Name },
	}.run(c)
}

func networkRemoveAction(c *cli.Context) error {
	return eachArg(c, func(cl *api.Client, name string) error { return cl.RemoveNetwork(c.Context, name) })
}
