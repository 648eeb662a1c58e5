package cli

// kedge describe KIND NAME: an object, its pods and the events about them,
// as kubectl describe shows them (scheduling failures with their reasons).

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

func describeCommand() *cli.Command {
	return &cli.Command{
		Name: "describe", Usage: "Show an object in detail, with its pods and events", ArgsUsage: "KIND NAME | KIND/NAME",
		Flags: namespaceFlags()[:1], Action: describeAction,
	}
}

func describeAction(c *cli.Context) error {
	kind, name, err := kindAndName(c)
	if err != nil {
		return err
	}
	ns := c.String("namespace")
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	raws, err := cl.GetObjects(c.Context, kind, ns, name)
	if err != nil {
		return err
	}
	w := c.App.Writer
	subjects := []string{ns + "/" + name}
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		var p api.ClusterPod
		if err := json.Unmarshal(raws[0], &p); err != nil {
			return err
		}
		describePod(w, &p)
	case "deployment", "deployments", "deploy":
		var d api.Deployment
		if err := json.Unmarshal(raws[0], &d); err != nil {
			return err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		fmt.Fprintf(w, "Name:          %s\nNamespace:     %s\nCreated:       %s\n", d.Name, d.Namespace, d.CreationTimestamp.Local().Format(time.RFC1123))
		fmt.Fprintf(w, "Replicas:      %d desired | %d updated | %d total | %d available | %d unavailable\n",
			want, d.Status.UpdatedReplicas, d.Status.Replicas, d.Status.AvailableReplicas, d.Status.UnavailableReplicas)
		fmt.Fprintf(w, "Strategy:      %s\n", firstOf(d.Spec.Strategy.Type, api.StrategyRollingUpdate))
		for _, ctr := range d.Spec.Template.Spec.Containers {
			fmt.Fprintf(w, "Container:     %s (%s)\n", ctr.Name, ctr.Image)
		}
		subjects = append(subjects, "deployment/"+ns+"/"+name)
		if pods, err := cl.GetObjects(c.Context, "pods", ns, ""); err == nil {
			fmt.Fprintln(w, "Pods:")
			for _, r := range pods {
				var p api.ClusterPod
				if json.Unmarshal(r, &p) == nil && strings.HasPrefix(p.Name, name+"-") {
					fmt.Fprintf(w, "  %s\t%s\ton %s\n", p.Name, p.Status.Phase, p.Status.NodeName)
					subjects = append(subjects, ns+"/"+p.Name)
				}
			}
		}
	default:
		y, err := yaml.JSONToYAML(raws[0])
		if err != nil {
			return err
		}
		w.Write(y)
		subjects = append(subjects, strings.ToLower(canonicalKindName(kind))+"/"+ns+"/"+name)
	}
	evs, err := cl.ClusterEvents(c.Context, 0)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Events:")
	tw := newTable(w)
	fmt.Fprintln(tw, "  AGE\tKIND\tMESSAGE")
	now := time.Now()
	n := 0
	for _, e := range evs {
		for _, s := range subjects {
			if e.Object == s {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", humanDuration(now.Sub(e.Time)), e.Kind, e.Message)
				n++
				break
			}
		}
	}
	if n == 0 {
		fmt.Fprintln(tw, "  <none>")
	}
	return tw.Flush()
}

func describePod(w io.Writer, p *api.ClusterPod) {
	fmt.Fprintf(w, "Name:          %s\nNamespace:     %s\nNode:          %s\nStatus:        %s\nIP:            %s\nCreated:       %s\n",
		p.Name, p.Namespace, firstOf(p.Status.NodeName, "<none>"), p.Status.Phase, firstOf(p.Status.PodIP, "<none>"),
		p.CreationTimestamp.Local().Format(time.RFC1123))
	if p.Status.Message != "" {
		fmt.Fprintf(w, "Message:       %s\n", p.Status.Message)
	}
	fmt.Fprintln(w, "Containers:")
	for _, cs := range p.Status.ContainerStatuses {
		fmt.Fprintf(w, "  %s:\n    Image:     %s\n    Ready:     %v\n    Restarts:  %d\n", cs.Name, cs.Image, cs.Ready, cs.RestartCount)
	}
}

// canonicalKindName is the kind as the state keys objects (lower case).
func canonicalKindName(kind string) string {
	switch strings.ToLower(kind) {
	case "daemonset", "daemonsets", "ds":
		return "daemonset"
	case "configmap", "configmaps", "cm":
		return "configmap"
	case "secret", "secrets":
		return "secret"
	case "namespace", "namespaces", "ns":
		return "namespace"
	}
	return strings.ToLower(kind)
}
