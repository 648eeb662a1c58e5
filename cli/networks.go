package cli

// Network commands: network create|ls|inspect|rm. `network create --driver
// cni --cni-config FILE NAME` makes a network run by third-party CNI plugins.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func networkCommands() []*cli.Command {
	return []*cli.Command{{
		Name: "network", Usage: "Manage networks", Action: groupAction,
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "Create a network whose containers reach each other by name, or one run by CNI plugins", ArgsUsage: "NAME",
				Description: "Driver bridge (the default) is kedge's own bridge with a DNS responder for the containers' names.\n" +
					"Driver cni runs the plugins of a CNI conflist (the standard bridge, Calico, ...), read from --cni-config by\n" +
					"this command; the conflist's \"name\" must be NAME, and its plugin binaries must be installed on the node\n" +
					"(the agent's cni_bin_dirs, default /opt/cni/bin and /usr/lib/cni). Containers publish ports (-p) on it only\n" +
					"when a plugin takes the portMappings capability (the standard portmap plugin).",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "bridge", Usage: "bridge or cni"},
					&cli.StringFlag{Name: "cni-config", Usage: "the CNI conflist (or single-plugin .conf) of a cni network; - reads stdin"},
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
	req := &api.Network{Name: c.Args().First(), Driver: c.String("driver"), Subnet: c.String("subnet")}
	if path := c.String("cni-config"); path != "" {
		conf, err := readCNIConfig(c, path)
		if err != nil {
			return err
		}
		req.CNIConfig = conf
		if !c.IsSet("driver") {
			req.Driver = "cni"
		}
	}
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

// readCNIConfig reads a conflist from a file or stdin ("-"); the agent,
// which may be another machine, validates it.
func readCNIConfig(c *cli.Context, path string) (json.RawMessage, error) {
	var r io.Reader = c.App.Reader
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--cni-config: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCNIConfig+1))
	if err != nil {
		return nil, fmt.Errorf("--cni-config %s: %w", path, err)
	}
	if len(b) > maxCNIConfig {
		return nil, fmt.Errorf("--cni-config %s: larger than %d bytes", path, maxCNIConfig)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("--cni-config %s: not valid JSON", path)
	}
	return b, nil
}

// maxCNIConfig bounds a conflist (the agent's limit is the same).
const maxCNIConfig = 256 << 10
