package cli

// Pod commands: pod create|ls|inspect|rm. A pod holds a network and an IPC
// namespace that containers join with --network pod:NAME (and --ipc
// pod:NAME); its address and published ports stay while they restart.

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func podCommands() []*cli.Command {
	return []*cli.Command{{
		Name: "pod", Usage: "Manage pods (containers that share a network and IPC namespace)", Action: groupAction,
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "Create a pod; run containers in it with --network pod:NAME", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "network", Usage: "bridge (default), a user network, none or host"},
					&cli.StringFlag{Name: "hostname", Usage: "the pod's host name (default: its name)"},
					&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port: [ip:][hostPort:]containerPort[/tcp|udp]"},
					&cli.StringSliceFlag{Name: "dns", Usage: "a DNS server for the pod's resolv.conf"},
					&cli.StringSliceFlag{Name: "add-host", Usage: "add a host-to-IP line to /etc/hosts: NAME:IP"},
					&cli.StringSliceFlag{Name: "label", Usage: "set a label: key=value"},
				},
				Action: podCreateAction,
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "List pods",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print ids"}, outputFlag()},
				Action: podListAction,
			},
			{
				Name: "inspect", Usage: "Show pods' details (JSON)", ArgsUsage: "POD [POD...]",
				Action: func(c *cli.Context) error {
					return inspectEach(c, func(ctx context.Context, cl *api.Client, ref string) (*api.Pod, error) {
						return cl.InspectPod(ctx, ref)
					})
				},
			},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "Remove pods", ArgsUsage: "POD [POD...]",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove the pod's containers too"}},
				Action: podRemoveAction,
			},
		},
	}}
}

func podCreateAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "1 argument"); err != nil {
		return err
	}
	req := &api.PodConfig{Name: c.Args().First(), NetworkMode: c.String("network"), Hostname: c.String("hostname"),
		DNS: c.StringSlice("dns"), ExtraHosts: c.StringSlice("add-host")}
	for _, p := range c.StringSlice("publish") {
		pb, err := parsePublish(p)
		if err != nil {
			return err
		}
		req.Ports = append(req.Ports, pb)
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
	p, err := cl.CreatePod(c.Context, req)
	if err != nil {
		return fmt.Errorf("create pod %s: %w", req.Name, err)
	}
	fmt.Fprintln(c.App.Writer, p.ID)
	return nil
}

func podListAction(c *cli.Context) error {
	return listing[api.Pod]{
		what: "pods", fetch: func(cl *api.Client) ([]api.Pod, error) { return cl.ListPods(c.Context) },
		header: "POD ID\tNAME\tNETWORK\tIP\tCONTAINERS",
		row: func(p api.Pod) string {
			ip := ""
			if p.NetworkSettings != nil {
				ip = p.NetworkSettings.IPAddress
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%d", p.ID[:12], p.Name, p.Config.NetworkMode, ip, len(p.Containers))
		},
		id: func(p api.Pod) string { return p.ID[:12] },
	}.run(c)
}

func podRemoveAction(c *cli.Context) error {
	return eachArg(c, func(cl *api.Client, ref string) error { return cl.RemovePod(c.Context, ref, c.Bool("force")) })
}
