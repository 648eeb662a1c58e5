package cli

// System commands: version, info, events, login/logout (auth.go).

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

// Set at link time: -ldflags "-X kedge/cli.version=1.2.3 -X kedge/cli.commit=abc".
// Empty values fall back to the module's build information.
var (
	version string
	commit  string
)

// ClientVersion describes this kedge binary: the link-time version and
// commit, else the module version and VCS revision of the build.
func ClientVersion() api.Version {
	v := api.Version{Version: version, Commit: commit, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && v.Commit != "" {
			v.Commit += "-dirty"
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

func systemCommands() []*cli.Command {
	return append([]*cli.Command{
		{
			Name: "version", Usage: "Show the kedge version of this client and of the agent",
			Flags: []cli.Flag{outputFlag()}, Action: versionAction,
		},
		{
			Name: "info", Usage: "Show information about the agent's node",
			Flags: []cli.Flag{outputFlag()}, Action: infoAction,
		},
		{
			Name: "events", Usage: "Stream the node's events",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "since", Usage: "replay events since a time (RFC3339, unix seconds) or duration (10m)"},
				outputFlag(),
			},
			Action: eventsAction,
		},
	}, loginCommands()...)
}

func versionAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	client := ClientVersion()
	var server *api.Version
	var serverErr error
	if cl, err := newClient(c); err == nil {
		server, serverErr = cl.Version(c.Context)
		cl.Close()
	} else {
		serverErr = err
	}
	if format == formatJSON {
		out := map[string]any{"client": client}
		if serverErr == nil {
			out["server"] = server
		}
		return writeJSON(c.App.Writer, out)
	}
	printVersion(c, "Client", client)
	if serverErr != nil {
		fmt.Fprintf(c.App.Writer, "\nServer: not reachable (%v)\n", serverErr)
		return nil
	}
	fmt.Fprintln(c.App.Writer)
	printVersion(c, "Server", *server)
	return nil
}

func printVersion(c *cli.Context, title string, v api.Version) {
	fmt.Fprintf(c.App.Writer, "%s:\n Version:     %s\n Commit:      %s\n Go version:  %s\n OS/Arch:     %s/%s\n",
		title, v.Version, v.Commit, v.GoVersion, v.OS, v.Arch)
}

func infoAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	info, err := cl.Info(c.Context)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if format == formatJSON {
		return writeJSON(c.App.Writer, info)
	}
	fmt.Fprintf(c.App.Writer, "Containers: %d\n Running: %d\n Stopped: %d\nImages: %d\nServer Version: %s (%s)\nData Dir: %s\nCgroup Version: %d\nOS/Arch: %s/%s\n",
		info.Containers, info.Running, info.Containers-info.Running, info.Images,
		info.Version.Version, info.Version.Commit, info.DataDir, info.CgroupVersion, info.Version.OS, info.Version.Arch)
	return nil
}

func eventsAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	since, err := parseTimeArg("since", c.String("since"), time.Now())
	if err != nil {
		return usagef(c, "%v", err)
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = cl.Events(ctx, since, func(e api.Event) error {
		if format == formatJSON {
			b, err := jsonLine(e)
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(b)
			return err
		}
		_, err := fmt.Fprintln(c.App.Writer, formatEvent(e))
		return err
	})
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// formatEvent prints an event as Docker does:
// "2026-11-27T10:00:00.000000000Z container start 0123abcd (image=busybox, name=web)".
func formatEvent(e api.Event) string {
	s := fmt.Sprintf("%s %s %s %s", e.Time.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"), e.Type, e.Action, e.ID)
	if len(e.Attrs) > 0 {
		keys := make([]string, 0, len(e.Attrs))
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + e.Attrs[k]
		}
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}
