// Package cli is kedge's command line: one file per command group, turning
// flags into API client calls and printing tables or JSON. Every command
// writes through the App's Reader, Writer and ErrWriter, so RunWithIO drives
// the whole CLI with captured input and output.
//
// Exit codes follow Docker: 0 on success, 125 when kedge itself fails (bad
// flag, agent unreachable, API error), 126 when the container's command cannot
// be invoked, 127 when it does not exist, and otherwise the container's or
// exec'd process's own exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

// Exit codes of kedge itself, as Docker's CLI uses them.
const (
	// ExitEngine is kedge's own failure: a bad flag, an unreachable agent, an API error.
	ExitEngine = 125
	// ExitCannotInvoke is a container command that exists but cannot run.
	ExitCannotInvoke = 126
	// ExitNotFound is a container command that does not exist.
	ExitNotFound = 127
)

// Run runs the CLI with os.Args-style arguments on the process's standard
// streams and returns the exit code.
func Run(args []string) int { return RunWithIO(args, os.Stdin, os.Stdout, os.Stderr) }

// RunWithIO runs the CLI with os.Args-style arguments (args[0] is the program
// name) on the given streams and returns the exit code. Tests use it to drive
// commands with captured output.
func RunWithIO(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return RunContext(context.Background(), args, stdin, stdout, stderr)
}

// RunContext is RunWithIO under ctx: commands that run until interrupted
// (get -w, events, logs -f) end when ctx does, as they do on Ctrl-C.
func RunContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	if len(args) == 0 {
		args = []string{"kedge"}
	}
	err := app.RunContext(ctx, intersperse(app, args))
	return reportError(stderr, err)
}

// exitError ends a command with a code. A nil err exits silently: the
// container's own code, or an error already printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode ends a command silently with code.
func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// usageError is a bad command line: unknown flag, missing argument.
type usageError struct {
	msg  string
	help string // the command's full name, for "See 'kedge run --help'."
}

func (e *usageError) Error() string { return e.msg }

// usagef reports a bad command line of the command running in c.
func usagef(c *cli.Context, format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), help: c.Command.HelpName}
}

// reportError prints err (if it should be printed) and maps it to an exit code.
func reportError(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "kedge: %s\n", ue.msg)
		if ue.help != "" {
			fmt.Fprintf(stderr, "See '%s --help'.\n", ue.help)
		}
		return ExitEngine
	}
	fmt.Fprintf(stderr, "kedge: %s\n", err)
	switch {
	case ee != nil:
		return ee.code
	case errors.Is(err, api.ErrCommandNotFound):
		return ExitNotFound
	case errors.Is(err, api.ErrCannotInvoke):
		return ExitCannotInvoke
	}
	return ExitEngine
}

// newApp builds the command table.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                      "kedge",
		Usage:                     "a small container engine and cluster in one binary",
		Reader:                    stdin,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideVersion:               true,
		DisableSliceFlagSeparator: true,
		UseShortOptionHandling:    true,
		Suggest:                   true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "host", Aliases: []string{"H"}, EnvVars: []string{"KEDGE_HOST"},
				Value: api.DefaultSocket,
				Usage: "agent to talk to: a unix socket path, unix://PATH, tcp://HOST:PORT or https://NODE:7780 (with ~/.kedge/config.json)",
			},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"D"}, Usage: "log debug details to stderr"},
		},
		OnUsageError: onUsageError,
		ExitErrHandler: func(*cli.Context, error) {
			// Exit codes are mapped by RunWithIO; never os.Exit from inside.
		},
	}
	app.Action = groupAction
	var cmds [][]*cli.Command
	cmds = append(cmds, containerCommands(), runCommands(), streamCommands(), imageCommands(),
		volumeCommands(), networkCommands(), podCommands(), clusterCommands(), workloadCommands(), systemCommands(), agentCommands())
	for _, group := range cmds {
		app.Commands = append(app.Commands, group...)
	}
	for _, c := range app.Commands {
		setUsageHandler(c)
	}
	return app
}

// setUsageHandler makes every (sub)command report usage errors the same way.
func setUsageHandler(c *cli.Command) {
	if c.OnUsageError == nil {
		c.OnUsageError = onUsageError
	}
	for _, s := range c.Subcommands {
		setUsageHandler(s)
	}
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "kedge"
	if c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	return &usageError{msg: err.Error(), help: name}
}

// groupAction is the action of the app and of command groups (image,
// volume): help without arguments, a usage error for an unknown command.
func groupAction(c *cli.Context) error {
	if c.NArg() > 0 {
		name := "kedge"
		if c.Command != nil && c.Command.HelpName != "" {
			name = c.Command.HelpName
		}
		return &usageError{msg: fmt.Sprintf("%q is not a %s command", c.Args().First(), name), help: name}
	}
	if c.Command == nil || c.Command.HelpName == "" || len(c.Command.Subcommands) == 0 {
		return cli.ShowAppHelp(c)
	}
	return cli.ShowSubcommandHelp(c)
}

// logger returns a logger on stderr, at debug level with --debug.
func logger(c *cli.Context) *slog.Logger {
	level := slog.LevelInfo
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
}

// requireArgs checks the number of positional arguments.
func requireArgs(c *cli.Context, min int, what string) error {
	if c.NArg() < min {
		return usagef(c, "%q requires %s", c.Command.HelpName, what)
	}
	return nil
}

// requireExactArgs checks for exactly n positional arguments.
func requireExactArgs(c *cli.Context, n int, what string) error {
	if c.NArg() != n {
		return usagef(c, "%q requires exactly %s", c.Command.HelpName, what)
	}
	return nil
}

// eachArg runs fn for each argument, printing the ones that worked.
func eachArg(c *cli.Context, fn func(cl *api.Client, arg string) error) error {
	if err := requireArgs(c, 1, "at least 1 argument"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	failed := 0
	for _, a := range c.Args().Slice() {
		if err := fn(cl, a); err != nil {
			fmt.Fprintf(c.App.ErrWriter, "kedge: %s: %v\n", a, err)
			failed++
			continue
		}
		fmt.Fprintln(c.App.Writer, a)
	}
	if failed > 0 {
		return exitCode(ExitEngine)
	}
	return nil
}
