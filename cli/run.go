package cli

// run, create and start: Docker's flow of create, attach before start (so no
// output is lost), start, and copy the stream until the exit frame.

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func runCommands() []*cli.Command {
	runFlags := append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the container id"},
	}, containerFlags()...)
	return []*cli.Command{
		{
			Name: "run", Usage: "Create and run a new container from an image", ArgsUsage: "IMAGE [COMMAND] [ARG...]",
			Flags: runFlags, Action: runAction,
		},
		{
			Name: "create", Usage: "Create a new container", ArgsUsage: "IMAGE [COMMAND] [ARG...]",
			Flags: containerFlags(), Action: createAction,
		},
	}
}

// prepareCreate validates the flags and builds the config, then ensures the
// image is there as --pull says.
func prepareCreate(c *cli.Context) (*api.Client, *api.ContainerConfig, error) {
	if err := requireArgs(c, 1, "at least 1 argument (IMAGE)"); err != nil {
		return nil, nil, err
	}
	cfg, err := buildConfig(c, osSources)
	if err != nil {
		return nil, nil, usagef(c, "%v", err)
	}
	policy, err := pullPolicy(c)
	if err != nil {
		return nil, nil, usagef(c, "%v", err)
	}
	cl, err := newClient(c)
	if err != nil {
		return nil, nil, err
	}
	if err := ensureImage(c, cl, cfg.Image, policy); err != nil {
		cl.Close()
		return nil, nil, err
	}
	return cl, cfg, nil
}

// ensureImage pulls ref when the policy says so: always, or when missing.
func ensureImage(c *cli.Context, cl *api.Client, ref, policy string) error {
	if policy == "never" {
		return nil
	}
	if policy == "missing" {
		_, err := cl.InspectImage(c.Context, ref)
		if err == nil {
			return nil
		}
		if !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("look up image %s: %w", ref, err)
		}
		fmt.Fprintf(c.App.ErrWriter, "Unable to find image '%s' locally\n", ref)
	}
	return pullImage(c, cl, &api.PullRequest{Ref: ref}, c.App.ErrWriter)
}

func createAction(c *cli.Context) error {
	cl, cfg, err := prepareCreate(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := cl.CreateContainer(c.Context, cfg)
	if err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	printWarnings(c, r.Warnings)
	fmt.Fprintln(c.App.Writer, r.ID)
	return nil
}

func printWarnings(c *cli.Context, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(c.App.ErrWriter, "WARNING: %s\n", w)
	}
}

func runAction(c *cli.Context) error {
	detach := c.Bool("detach")
	cl, cfg, err := prepareCreate(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := cl.CreateContainer(c.Context, cfg)
	if err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	printWarnings(c, r.Warnings)
	if detach {
		if err := startOrCleanup(c.Context, cl, r.ID, cfg.AutoRemove); err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, r.ID)
		return nil
	}
	return attachStartWait(c, cl, r.ID, cfg.Tty, cfg.OpenStdin, cfg.AutoRemove)
}

// startOrCleanup starts a container; when that fails and it was to be
// removed on exit, it removes it (it never ran, so the agent will not).
func startOrCleanup(ctx context.Context, cl *api.Client, id string, autoRemove bool) error {
	err := cl.StartContainer(ctx, id)
	if err == nil {
		return nil
	}
	if autoRemove {
		_ = cl.RemoveContainer(context.WithoutCancel(ctx), id, true, true)
	}
	return err // the agent's message already names the container
}

// attachStartWait attaches to a created container, starts it and copies its
// output until it exits; the result carries the container's exit code.
func attachStartWait(c *cli.Context, cl *api.Client, id string, tty, stdin, autoRemove bool) error {
	st, err := cl.Attach(c.Context, id, stdin)
	if err != nil {
		if autoRemove {
			_ = cl.RemoveContainer(context.WithoutCancel(c.Context), id, true, true)
		}
		return fmt.Errorf("attach to %s: %w", shortID(id), err)
	}
	defer st.Close()
	if err := startOrCleanup(c.Context, cl, id, autoRemove); err != nil {
		return err
	}
	s := &session{stream: st, tty: tty, stdout: c.App.Writer, stderr: c.App.ErrWriter,
		onSignal: func(sig string) { _ = cl.KillContainer(context.WithoutCancel(c.Context), id, sig) }}
	if stdin {
		s.stdin = c.App.Reader
	}
	f, err := s.pump(c.Context)
	if err != nil {
		// The stream broke without an exit frame: ask the agent instead.
		w, werr := cl.WaitContainer(c.Context, id)
		if werr != nil {
			return fmt.Errorf("container %s: %w", shortID(id), err)
		}
		return exitCode(w.StatusCode)
	}
	return exitFrameError(f)
}

// startAction is `start [-a] [-i] CONTAINER...`.
func startAction(c *cli.Context) error {
	if err := requireArgs(c, 1, "at least 1 argument"); err != nil {
		return err
	}
	attach := c.Bool("attach") || c.Bool("interactive")
	if !attach {
		return forEachContainer(c, func(ctx context.Context, cl *api.Client, ref string) error {
			return cl.StartContainer(ctx, ref)
		})
	}
	if c.NArg() > 1 {
		return usagef(c, "you cannot attach to several containers at once")
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
	stdin := c.Bool("interactive") && ct.Config.OpenStdin
	return attachStartWait(c, cl, ct.ID, ct.Config.Tty, stdin, false)
}
