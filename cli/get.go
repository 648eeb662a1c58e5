package cli

// `get KIND [NAME]`, kubectl-shaped: a table of the objects of a kind (-o
// wide adds columns), or the objects as JSON or YAML; with -w it then
// prints a row for each object that changes, comes or goes (watch.go).

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"kedge/api"
)

func getCommand() *cli.Command {
	return &cli.Command{
		Name: "get", Usage: "List objects of a kind: nodes, pods, deployments, daemonsets, namespaces, configmaps, secrets, events; -w then prints the changes",
		ArgsUsage: "KIND [NAME]",
		Flags: append(namespaceFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: formatTable, Usage: "table, wide, json or yaml"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "after the list, print a row for each object that changes, is added or deleted (events: each new one), until interrupted"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usagef(c, "%q requires a kind and at most one name", c.Command.HelpName)
			}
			kind := c.Args().First()
			if c.Bool("watch") {
				return watchAction(c, kind)
			}
			switch kind {
			case "nodes", "node", "no":
				return nodesAction(c)
			case "events", "event", "ev":
				return clusterEventsAction(c)
			}
			return getObjectsAction(c, kind)
		},
	}
}

// getRow is one object as `get` prints it.
type getRow struct {
	// key tells the object apart between the reads of a watch.
	key string
	// cells are the row's columns, AGE left empty: it is rendered when
	// printed, so that an object growing older is not a changed one.
	cells []string
	ageAt int // the AGE column; -1 for none
	since time.Time
	// gone is the row a watch prints when the object is deleted (nil:
	// cells, its last state, as kubectl prints it).
	gone []string
	// raw is the object, for -o json and yaml.
	raw json.RawMessage
}

// render is cells (or gone) with the AGE column filled in at now.
func (r getRow) render(now time.Time, gone bool) []string {
	cells := r.cells
	if gone && r.gone != nil {
		cells = r.gone
	}
	out := append([]string(nil), cells...)
	if r.ageAt >= 0 && r.ageAt < len(out) {
		out[r.ageAt] = humanDuration(now.Sub(r.since))
	}
	return out
}

// printRows prints a table of rows under header.
func printRows(w io.Writer, header []string, rows []getRow) error {
	now := time.Now()
	tw := newTable(w)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.render(now, false), "\t"))
	}
	return tw.Flush()
}

// getNamespace is the namespace of -n, or "" with -A.
func getNamespace(c *cli.Context) string {
	if c.Bool("all-namespaces") {
		return ""
	}
	return c.String("namespace")
}

// getObjectsAction is `get KIND [NAME]` for workload kinds.
func getObjectsAction(c *cli.Context, kind string) error {
	name, ns := c.Args().Get(1), getNamespace(c)
	format, err := getOutputFormat(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	list, err := cl.GetObjects(c.Context, kind, ns, name)
	if err != nil {
		return err
	}
	if done, err := writeDocuments(c.App.Writer, format, list); done {
		return err
	}
	header, rows := objectRows(kind, ns, format == "wide", list)
	return printRows(c.App.Writer, header, rows)
}

// getOutputFormat is get's -o: a table (plain or wide), json or yaml.
func getOutputFormat(c *cli.Context) (string, error) {
	switch f := c.String("output"); f {
	case "", formatTable:
		return formatTable, nil
	case "wide", formatJSON, "yaml":
		return f, nil
	default:
		return "", usagef(c, "-o %q: want wide, json or yaml", f)
	}
}

// writeDocuments prints list as -o json (one array) or yaml (one document
// each); done is false for the table formats, which it leaves to the caller.
func writeDocuments[T any](w io.Writer, format string, list []T) (done bool, err error) {
	switch format {
	case formatJSON:
		return true, writeJSON(w, list)
	case "yaml":
		for i, v := range list {
			raw, err := json.Marshal(v)
			if err == nil {
				err = writeYAML(w, raw, i > 0)
			}
			if err != nil {
				return true, err
			}
		}
		return true, nil
	}
	return false, nil
}

// writeYAML prints an object as a YAML document, after a "---" line when sep.
func writeYAML(w io.Writer, raw json.RawMessage, sep bool) error {
	y, err := yaml.JSONToYAML(raw)
	if err != nil {
		return fmt.Errorf("encode YAML: %w", err)
	}
	if sep {
		fmt.Fprintln(w, "---")
	}
	_, err = w.Write(y)
	return err
}

// objectRows is the table of workload objects of a kind: with a NAMESPACE
// column when ns is "" (every namespace); pods with IP and NODE when wide.
func objectRows(kind, ns string, wide bool, list []json.RawMessage) ([]string, []getRow) {
	var header []string
	if ns == "" {
		header = append(header, "NAMESPACE")
	}
	lead := func(md api.ObjectMeta) []string {
		if ns == "" {
			return []string{md.Namespace, md.Name}
		}
		return []string{md.Name}
	}
	key := func(md api.ObjectMeta) string { return md.Namespace + "/" + md.Name }
	var rows []getRow
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		header = append(header, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
		if wide {
			header = append(header, "IP", "NODE")
		}
		for _, raw := range list {
			var p api.ClusterPod
			if json.Unmarshal(raw, &p) != nil {
				continue
			}
			ready, restarts := 0, int32(0)
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Ready {
					ready++
				}
				restarts += cs.RestartCount
			}
			cells := append(lead(p.ObjectMeta), fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), string(p.Status.Phase), fmt.Sprint(restarts), "")
			if wide {
				cells = append(cells, firstOf(p.Status.PodIP, "<none>"), p.Status.NodeName)
			}
			// A pod is an allocation: its UID tells a replacement apart.
			// Gone, it is shown terminating, as kubectl shows a deleted pod.
			n := len(lead(p.ObjectMeta)) // READY, STATUS, RESTARTS and AGE follow
			gone := append([]string(nil), cells...)
			gone[n+1] = "Terminating"
			rows = append(rows, getRow{key: firstOf(p.UID, key(p.ObjectMeta)), cells: cells, gone: gone, ageAt: n + 3,
				since: p.CreationTimestamp, raw: raw})
		}
	case "deployment", "deployments", "deploy":
		header = append(header, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")
		for _, raw := range list {
			var d api.Deployment
			if json.Unmarshal(raw, &d) != nil {
				continue
			}
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			cells := append(lead(d.ObjectMeta), fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, want), fmt.Sprint(d.Status.UpdatedReplicas),
				fmt.Sprint(d.Status.AvailableReplicas), "")
			rows = append(rows, getRow{key: key(d.ObjectMeta), cells: cells, ageAt: len(cells) - 1, since: d.CreationTimestamp, raw: raw})
		}
	default:
		header = append(header, "NAME", "AGE")
		for _, raw := range list {
			var o struct {
				Metadata api.ObjectMeta `json:"metadata"`
			}
			if json.Unmarshal(raw, &o) != nil {
				continue
			}
			cells := append(lead(o.Metadata), "")
			rows = append(rows, getRow{key: key(o.Metadata), cells: cells, ageAt: len(cells) - 1, since: o.Metadata.CreationTimestamp, raw: raw})
		}
	}
	return header, rows
}

// nodeRows is the table of `nodes` (and `get nodes`).
func nodeRows(nodes []api.ClusterNode) ([]string, []getRow) {
	header := []string{"NAME", "ID", "ADDRESS", "ROLE", "STATE", "AGE", "VERSION", "CAPACITY", "LABELS"}
	var rows []getRow
	for _, n := range nodes {
		role := "non-voter"
		if n.Voter {
			role = "voter"
		}
		if n.Leader {
			role += " (leader)"
		}
		raw, _ := json.Marshal(n)
		rows = append(rows, getRow{key: n.ID, ageAt: 5, since: n.JoinedAt, raw: raw, cells: []string{
			n.Name, shortID(n.ID), n.Address, role, n.State, "", n.Version, capacityString(n.Capacity), labelsString(n.Labels)}})
	}
	return header, rows
}

// eventRows is the table of `get events`.
func eventRows(evs []api.ClusterEvent) ([]string, []getRow) {
	var rows []getRow
	for _, e := range evs {
		raw, _ := json.Marshal(e)
		rows = append(rows, getRow{key: fmt.Sprint(e.Index), ageAt: 0, since: e.Time, raw: raw, cells: []string{"", e.Kind, e.Object, e.Message}})
	}
	return []string{"AGE", "KIND", "OBJECT", "MESSAGE"}, rows
}

// clusterEventsAction is `get events`: the cluster's event log.
func clusterEventsAction(c *cli.Context) error {
	format, err := getOutputFormat(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	evs, err := cl.ClusterEvents(c.Context, 0)
	if err != nil {
		return err
	}
	if done, err := writeDocuments(c.App.Writer, format, evs); done {
		return err
	}
	header, rows := eventRows(evs)
	return printRows(c.App.Writer, header, rows)
}
