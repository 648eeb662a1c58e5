package cli

// Output helpers: -o table|json, tables aligned like Docker's, human times
// ("2 minutes ago") and container status strings ("Up 3 seconds (healthy)").

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

// Output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// outputFlag is the -o flag of listing and inspect commands.
func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: formatTable, Usage: "output format: table or json"}
}

// outputFormat returns the validated -o value.
func outputFormat(c *cli.Context) (string, error) {
	switch f := c.String("output"); f {
	case formatTable, formatJSON:
		return f, nil
	default:
		return "", usagef(c, "unknown output format %q (want table or json)", f)
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// newTable returns a tab-separated table writer aligned like Docker's.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
}

// shortID is the 12-character form of an id (without any "sha256:").
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ellipsis cuts s to at most n runes, ending with "…" when cut.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}

// humanDuration prints d as Docker does ("Less than a second", "3 seconds",
// "About a minute", "5 minutes", "About an hour", "3 hours", "2 days" ...).
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// timeAgo prints how long before now t was ("2 minutes ago").
func timeAgo(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return humanDuration(now.Sub(t)) + " ago"
}

// containerStatus is the STATUS column of `ps`.
func containerStatus(now time.Time, s api.ContainerState) string {
	switch s.Status {
	case api.StateRunning, api.StatePaused:
		out := "Up " + humanDuration(now.Sub(s.StartedAt))
		if s.Paused || s.Status == api.StatePaused {
			out += " (Paused)"
		}
		return out + healthSuffix(s.Health)
	case api.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s", s.ExitCode, timeAgo(now, s.FinishedAt))
	case api.StateCreated:
		return "Created"
	case api.StateRemoving:
		return "Removal In Progress"
	case api.StateDead:
		return "Dead"
	case api.StateExited:
		if s.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", s.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s", s.ExitCode, timeAgo(now, s.FinishedAt))
	}
	return s.Status
}

// healthSuffix is " (healthy)", " (unhealthy)" or " (health: starting)".
func healthSuffix(h *api.Health) string {
	if h == nil || h.Status == "" || h.Status == "none" {
		return ""
	}
	if h.Status == "starting" {
		return " (health: starting)"
	}
	return " (" + h.Status + ")"
}

// commandString is the COMMAND column of `ps`: the resolved command, quoted,
// cut to 20 characters unless noTrunc.
func commandString(c api.Container, noTrunc bool) string {
	cmd := strings.TrimSpace(strings.Join(append([]string{c.Path}, c.Args...), " "))
	if !noTrunc {
		cmd = ellipsis(cmd, 20)
	}
	return `"` + cmd + `"`
}

// jsonLine is v as one line of JSON (for streams with -o json).
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return append(b, '\n'), nil
}

// listing is how a `ls` command prints its objects: the table's header,
// a row (tab-separated) and, for -q, the id of each.
type listing[T any] struct {
	what   string
	fetch  func(cl *api.Client) ([]T, error)
	header string
	row    func(T) string
	id     func(T) string
}

// run fetches and prints the list: -o json, -q (when the command has it) or a table.
func (l listing[T]) run(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	list, err := l.fetch(cl)
	if err != nil {
		return fmt.Errorf("list %s: %w", l.what, err)
	}
	if format == formatJSON {
		if list == nil {
			list = []T{}
		}
		return writeJSON(c.App.Writer, list)
	}
	if l.id != nil && c.Bool("quiet") {
		for _, x := range list {
			fmt.Fprintln(c.App.Writer, l.id(x))
		}
		return nil
	}
	tw := newTable(c.App.Writer)
	fmt.Fprintln(tw, l.header)
	for _, x := range list {
		fmt.Fprintln(tw, l.row(x))
	}
	return tw.Flush()
}
