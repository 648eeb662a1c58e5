package cli

// Streams: attach, exec and logs, and the shared code that pumps a
// hijacked attach/exec stream between the user's terminal and the process.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func streamCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "exec", Usage: "Run a command in a running container", ArgsUsage: "CONTAINER COMMAND [ARG...]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
				&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo terminal"},
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run the command in the background"},
				&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group] to run as"},
				&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (K=V, or K to pass the CLI's)"},
				&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory"},
				&cli.BoolFlag{Name: "privileged", Usage: "give the process extended privileges"},
				&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container of a pod"},
				&cli.StringFlag{Name: "namespace", Value: api.DefaultNamespace, Usage: "the namespace of a pod"},
			},
			Action: execAction,
		},
		{
			Name: "attach", Usage: "Attach to a running container's input and output", ArgsUsage: "CONTAINER",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "no-stdin", Usage: "do not attach stdin"},
			},
			Action: attachAction,
		},
		{
			Name: "logs", Usage: "Fetch the logs of a container", ArgsUsage: "CONTAINER",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow log output"},
				&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "number of lines from the end, or all"},
				&cli.StringFlag{Name: "since", Usage: "logs since a time (RFC3339, unix seconds) or duration (10m)"},
				&cli.StringFlag{Name: "until", Usage: "logs before a time (RFC3339, unix seconds) or duration (10m)"},
				&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show timestamps"},
				&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container of a pod"},
				&cli.StringFlag{Name: "namespace", Value: api.DefaultNamespace, Usage: "the namespace of a pod"},
			},
			Action: logsAction,
		},
	}
}

// session is one attach or exec stream and how to present it.
type session struct {
	stream *api.Stream
	tty    bool
	// stdin is forwarded when non-nil; EOF closes the process's stdin.
	stdin          io.Reader
	stdout, stderr io.Writer
	// onSignal, when set and not a tty, receives SIGINT/SIGTERM instead of
	// this process (Docker's --sig-proxy).
	onSignal func(sig string)
}

// pump copies the stream until the process's exit frame, forwarding stdin,
// terminal size and (if set) signals. It returns the exit frame.
func (s *session) pump(ctx context.Context) (*api.ExitFrame, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t, err := openTerminal(s.stdin, s.stdout, s.tty && s.stdin != nil)
	if err != nil {
		return nil, fmt.Errorf("set the terminal to raw mode: %w", err)
	}
	defer t.Close()
	if s.tty {
		t.followSize(ctx, s.stream.Resize)
	}
	if s.stdin != nil {
		// This goroutine ends at stdin's EOF, or at its next read once the
		// stream is closed (a terminal read cannot be interrupted; the
		// process exits soon after anyway).
		go func() {
			_, _ = io.Copy(s.stream.Stdin(), s.stdin)
			_ = s.stream.CloseStdin()
		}()
	}
	if s.onSignal != nil && !s.tty {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case sig := <-sigs:
					if ss, ok := sig.(syscall.Signal); ok {
						s.onSignal(strconv.Itoa(int(ss)))
					}
				}
			}
		}()
	}
	stderr := s.stderr
	if s.tty {
		stderr = s.stdout
	}
	return s.stream.Copy(s.stdout, stderr)
}

// exitFrameError turns an exit frame into the command's result: the exit
// code, or 126/127 with the reason when the command could not start.
func exitFrameError(f *api.ExitFrame) error {
	switch f.Kind {
	case "not-found":
		return &exitError{code: ExitNotFound, err: errors.New(orDefault(f.Error, "executable file not found"))}
	case "cannot-invoke":
		return &exitError{code: ExitCannotInvoke, err: errors.New(orDefault(f.Error, "cannot run the command"))}
	}
	if f.Error != "" && f.ExitCode == 0 {
		return errors.New(f.Error)
	}
	if f.Error != "" {
		return &exitError{code: f.ExitCode, err: errors.New(f.Error)}
	}
	return exitCode(f.ExitCode)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// envLookup is the CLI's own environment for -e K.
func envLookup(k string) (string, bool) { return os.LookupEnv(k) }

func execAction(c *cli.Context) error {
	if err := requireArgs(c, 2, "at least 2 arguments (CONTAINER COMMAND)"); err != nil {
		return err
	}
	args := c.Args().Slice()
	cfg := &api.ExecConfig{
		Cmd: args[1:], WorkingDir: c.String("workdir"), User: c.String("user"),
		Tty: c.Bool("tty"), Stdin: c.Bool("interactive"), Detach: c.Bool("detach"),
		Privileged: c.Bool("privileged"),
	}
	for _, e := range c.StringSlice("env") {
		kv, ok, err := parseEnv(e, envLookup)
		if err != nil {
			return usagef(c, "%v", err)
		}
		if ok {
			cfg.Env = append(cfg.Env, kv)
		}
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ref := containerRef(c, cl, args[0])
	st, err := cl.Exec(c.Context, ref, cfg)
	if err != nil {
		return fmt.Errorf("exec in %s: %w", args[0], err)
	}
	defer st.Close()
	if cfg.Detach {
		return nil
	}
	s := &session{stream: st, tty: cfg.Tty, stdout: c.App.Writer, stderr: c.App.ErrWriter}
	if cfg.Stdin {
		s.stdin = c.App.Reader
	}
	f, err := s.pump(c.Context)
	if err != nil {
		return fmt.Errorf("exec in %s: %w", args[0], err)
	}
	return exitFrameError(f)
}

func attachAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "1 argument"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ref := c.Args().First()
	ct, err := cl.InspectContainer(c.Context, ref)
	if err != nil {
		return err
	}
	if !ct.State.Running {
		return fmt.Errorf("container %s is not running: %w", ref, api.ErrConflict)
	}
	withStdin := ct.Config.OpenStdin && !c.Bool("no-stdin")
	st, err := cl.Attach(c.Context, ct.ID, withStdin)
	if err != nil {
		return fmt.Errorf("attach to %s: %w", ref, err)
	}
	defer st.Close()
	s := &session{stream: st, tty: ct.Config.Tty, stdout: c.App.Writer, stderr: c.App.ErrWriter,
		onSignal: func(sig string) { _ = cl.KillContainer(context.WithoutCancel(c.Context), ct.ID, sig) }}
	if withStdin {
		s.stdin = c.App.Reader
	}
	f, err := s.pump(c.Context)
	if err != nil {
		return fmt.Errorf("attach to %s: %w", ref, err)
	}
	return exitFrameError(f)
}

func logsAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "1 argument"); err != nil {
		return err
	}
	now := time.Now()
	opts := api.LogsOptions{Follow: c.Bool("follow"), Timestamps: c.Bool("timestamps")}
	tail, err := parseTail(c.String("tail"))
	if err != nil {
		return usagef(c, "%v", err)
	}
	opts.Tail = tail
	if opts.Since, err = parseTimeArg("since", c.String("since"), now); err != nil {
		return usagef(c, "%v", err)
	}
	if opts.Until, err = parseTimeArg("until", c.String("until"), now); err != nil {
		return usagef(c, "%v", err)
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = cl.Logs(ctx, containerRef(c, cl, c.Args().First()), opts, func(e api.LogEntry) error {
		w := c.App.Writer
		if e.Stream == "stderr" {
			w = c.App.ErrWriter
		}
		if opts.Timestamps {
			_, err := fmt.Fprintf(w, "%s %s", e.Time.UTC().Format(time.RFC3339Nano), e.Log)
			return err
		}
		_, err := io.WriteString(w, e.Log)
		return err
	})
	if err != nil && ctx.Err() != nil {
		return nil // interrupted while following
	}
	return err
}

// parseTail parses --tail: "all" (or empty) is every line, else N >= 0.
func parseTail(s string) (int, error) {
	if s == "" || s == "all" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--tail %q: want a number of lines or all: %w", s, api.ErrInvalid)
	}
	return n, nil
}

// parseTimeArg parses --since/--until: empty (no bound), a duration before
// now ("10m", "1h30m"), unix seconds ("1700000000" or "1700000000.5"), or
// RFC3339 ("2026-11-27T10:00:00Z") and its date-only form.
func parseTimeArg(flag, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--%s %q: a duration must not be negative: %w", flag, s, api.ErrInvalid)
		}
		return now.Add(-d), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f < 1<<40 && !strings.ContainsAny(s, "eEnNiI") {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: want a duration (10m), unix seconds or an RFC3339 time: %w", flag, s, api.ErrInvalid)
}

// containerRef is what logs and exec act on: a NAME that is a pod of the
// namespace means that pod (on whatever node it runs, through the agent),
// anything else a local container, as in Docker.
func containerRef(c *cli.Context, cl *api.Client, name string) string {
	if strings.Contains(name, ":") {
		return name
	}
	ns := c.String("namespace")
	if pods, err := cl.GetObjects(c.Context, "pods", ns, name); err != nil || len(pods) == 0 {
		if c.String("container") == "" {
			return name
		}
	}
	ref := "pod:" + ns + ":" + name
	if ctr := c.String("container"); ctr != "" {
		ref += ":" + ctr
	}
	return ref
}
