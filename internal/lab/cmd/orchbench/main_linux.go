//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"kedge/api"
	"kedge/internal/lab"
)

func main() {
	binary := flag.String("binary", "", "the kedge binary (required)")
	image := flag.String("image", "", "a docker-save archive of busybox:bench (required)")
	trials := flag.Int("trials", 10, "trials per figure")
	applyOnly := flag.Bool("apply-only", false, "measure only the apply figure (to study it)")
	keepLogs := flag.String("keep-logs", "", "a directory that receives the agents' logs when a trial fails")
	flag.Parse()
	if *binary == "" || *image == "" {
		fmt.Fprintln(os.Stderr, "orchbench: --binary and --image are required")
		os.Exit(2)
	}
	if err := run(*binary, *image, *trials, *applyOnly, *keepLogs); err != nil {
		fmt.Fprintln(os.Stderr, "orchbench:", err)
		os.Exit(1)
	}
}

func deployment(name string, replicas int, selector string) string {
	sel := ""
	if selector != "" {
		sel = "\n      nodeSelector: {bench: \"" + selector + "\"}"
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s}
spec:
  replicas: %d
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:%s
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox:bench
        command: ["sleep", "3600"]
`, name, replicas, name, name, sel)
}

func run(binary, image string, trials int, applyOnly bool, keepLogs string) (err error) {
	ctx := context.Background()
	archive, err := os.ReadFile(image)
	if err != nil {
		return err
	}
	l, err := lab.New(ctx, lab.Config{Hosts: 3, Binary: binary})
	if err != nil {
		return err
	}
	defer l.Close()
	defer func() { // runs before Close: the logs go with the lab
		if err != nil && keepLogs != "" {
			saveLogs(ctx, l, keepLogs)
		}
	}()
	var clients []*api.Client
	for _, h := range l.Hosts {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := h.Start(sctx, "--advertise", h.IP.String(), "--stabilization-time", "1s", "--label", "bench="+h.Name)
		if err == nil {
			err = h.WaitReady(sctx)
		}
		cancel()
		if err != nil {
			return err
		}
		cl, err := h.Client()
		if err != nil {
			return err
		}
		if _, err := cl.ImportImage(ctx, bytes.NewReader(archive)); err != nil {
			return fmt.Errorf("import on %s: %w", h.Name, err)
		}
		clients = append(clients, cl)
	}
	init, err := clients[0].ClusterInit(ctx, api.InitRequest{})
	if err != nil {
		return err
	}
	for _, cl := range clients[1:] {
		if _, err := cl.ClusterJoin(ctx, api.JoinRequest{Addr: l.Hosts[0].IP.String(), Token: init.Token}); err != nil {
			return err
		}
	}
	var apply, cut, kill []time.Duration
	for i := 0; i < trials; i++ {
		d, err := applyTen(ctx, clients[0], fmt.Sprintf("ten%d", i), clients...)
		if err != nil {
			return fmt.Errorf("apply trial %d: %w", i+1, err)
		}
		apply = append(apply, d)
		fmt.Fprintf(os.Stderr, "== trial %d: apply of 10 replicas until ready %v\n", i+1, d)
	}
	for i := 0; i < trials && !applyOnly; i++ {
		for _, mode := range []string{"cut", "kill"} {
			d, err := hostFailure(ctx, l, clients, fmt.Sprintf("f%s%d", mode, i), mode)
			if err != nil {
				return fmt.Errorf("%s trial %d: %w", mode, i+1, err)
			}
			if mode == "cut" {
				cut = append(cut, d)
			} else {
				kill = append(kill, d)
			}
			fmt.Fprintf(os.Stderr, "== trial %d: host %s until its replicas run elsewhere %v\n", i+1, mode, d)
		}
	}
	fmt.Printf("kedge orchestration figures (%s, 3-host lab, medians of %d trials)\n", time.Now().Format("2006-01-02"), trials)
	fmt.Printf("%-62s %6.0f ms  (target < 300 ms; Nomad 800 ms, Swarm 840 ms quoted: ratio %.2f)\n",
		"apply of a 10-replica Deployment (one node) until all ready:", ms(median(apply)), ms(median(apply))/800)
	if applyOnly {
		return nil
	}
	fmt.Printf("%-62s %6.0f ms  (target < 3 s; Nomad ~15 s, Swarm ~15 s, Kubernetes ~6 min quoted: ratio %.2f)\n",
		"host link cut until its replicas run and are ready elsewhere:", ms(median(cut)), ms(median(cut))/15000)
	fmt.Printf("%-62s %6.0f ms  (target < 3 s; Nomad ~15 s, Swarm ~15 s quoted: ratio %.2f)\n",
		"host killed (agent and containers) until replicas ready elsewhere:", ms(median(kill)), ms(median(kill))/15000)
	return nil
}

// waitSettled waits until every node has been ready for stable.
func waitSettled(ctx context.Context, cl *api.Client, stable time.Duration) error {
	deadline := time.Now().Add(60 * time.Second)
	var since time.Time
	for {
		nodes, err := cl.ClusterNodes(ctx)
		ok := err == nil && len(nodes) == 3
		for _, n := range nodes {
			ok = ok && n.State == api.NodeReady
		}
		switch {
		case !ok:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= stable:
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the nodes were not all ready for %v within a minute", stable)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// saveLogs copies every host's agent log into dir, for a failed trial,
// with each live host's view of the nodes, pods and events.
func saveLogs(ctx context.Context, l *lab.Lab, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "keep logs:", err)
		return
	}
	for _, h := range l.Hosts {
		if b, err := os.ReadFile(h.LogPath); err == nil {
			_ = os.WriteFile(filepath.Join(dir, h.Name+".log"), b, 0o644)
		}
		cl, err := h.Client()
		if err != nil {
			continue
		}
		vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		nodes, _ := cl.ClusterNodes(vctx)
		pods, _ := cl.GetObjects(vctx, "pods", "", "")
		events, _ := cl.ClusterEvents(vctx, 0)
		cancel()
		view, _ := json.MarshalIndent(map[string]any{"nodes": nodes, "pods": pods, "events": events}, "", "  ")
		_ = os.WriteFile(filepath.Join(dir, h.Name+"-view.json"), view, 0o644)
	}
	fmt.Fprintln(os.Stderr, "agent logs kept in", dir)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// readyPods counts the ready pods of a deployment, per node.
func readyPods(ctx context.Context, cl *api.Client, name string) (map[string]int, int) {
	raws, err := cl.GetObjects(ctx, "pods", "default", "")
	by := map[string]int{}
	total := 0
	if err != nil {
		return by, 0
	}
	for _, r := range raws {
		var p api.ClusterPod
		if json.Unmarshal(r, &p) != nil || p.Labels["app"] != name {
			continue
		}
		if p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Ready {
			by[p.Status.NodeName]++
			total++
		}
	}
	return by, total
}

func waitReady(ctx context.Context, cl *api.Client, name string, want int, cond func(map[string]int) bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		by, total := readyPods(ctx, cl, name)
		if total == want && (cond == nil || cond(by)) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d ready (%v)", name, total, want, by)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// applyTen applies a 10-replica deployment pinned to h1 and times it until
// all are ready; then deletes it.
func applyTen(ctx context.Context, cl *api.Client, name string, hosts ...*api.Client) (time.Duration, error) {
	start := time.Now()
	if _, err := cl.ApplyManifests(ctx, []byte(deployment(name, 10, "h1")), name); err != nil {
		return 0, err
	}
	if err := waitReady(ctx, cl, name, 10, nil); err != nil {
		return 0, err
	}
	took := time.Since(start)
	fmt.Fprintf(os.Stderr, "   where the time went: %s\n", phases(ctx, cl, name, start))
	if err := cl.DeleteObject(ctx, "deployment", "default", name); err != nil {
		return 0, err
	}
	return took, waitGone(ctx, cl, name, hosts...)
}

// phases reads the cluster's events of one applied Deployment and says
// when, after the apply began, it was stored, its pods were scheduled, and
// its first and last pods reported running (the events carry the times
// their writers proposed them; the lab's hosts share one clock).
func phases(ctx context.Context, cl *api.Client, name string, start time.Time) string {
	evs, err := cl.ClusterEvents(ctx, 0)
	if err != nil {
		return err.Error()
	}
	var created, scheduled, firstRun, lastRun time.Duration
	for _, e := range evs {
		if e.Time.Before(start) {
			continue
		}
		at := e.Time.Sub(start)
		switch {
		case e.Kind == "object.created" && e.Object == "deployment/default/"+name:
			created = at
		case e.Kind == "pod.scheduled" && strings.HasPrefix(e.Object, "default/"+name+"-"):
			if scheduled == 0 {
				scheduled = at
			}
		case e.Kind == "pod.Running" && strings.HasPrefix(e.Object, "default/"+name+"-"):
			if firstRun == 0 {
				firstRun = at
			}
			lastRun = max(lastRun, at)
		}
	}
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("stored %v, scheduled %v, first running %v, last running %v", r(created), r(scheduled), r(firstRun), r(lastRun))
}

// waitGone waits until a deployment's pods are gone from the cluster and
// their containers from every host's engine, so that the next trial does
// not share the node with this one's teardown.
func waitGone(ctx context.Context, cl *api.Client, name string, hosts ...*api.Client) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		raws, _ := cl.GetObjects(ctx, "pods", "default", "")
		n := 0
		for _, r := range raws {
			var p api.ClusterPod
			if json.Unmarshal(r, &p) == nil && p.Labels["app"] == name {
				n++
			}
		}
		for _, h := range hosts {
			list, _ := h.ListContainers(ctx, true)
			for _, c := range list {
				if strings.HasPrefix(c.Config.Labels["kedge.io/pod"], "default/"+name+"-") {
					n++
				}
			}
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: pods left", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hostFailure runs 3 replicas (one per host), fails h3 (cut its link, or
// kill its agent and containers) and times until 3 replicas are ready on
// h1 and h2; then it heals or restarts h3 and cleans up.
func hostFailure(ctx context.Context, l *lab.Lab, clients []*api.Client, name, mode string) (time.Duration, error) {
	cl := clients[0]
	// Healing the last trial's cut spreads the cut host's old suspicions:
	// another host can be suspect for a moment, and a Deployment placed
	// then would leave it out (and stay so: nothing rebalances). The trial
	// starts from a cluster all ready for a second.
	if err := waitSettled(ctx, cl, time.Second); err != nil {
		return 0, err
	}
	if _, err := cl.ApplyManifests(ctx, []byte(deployment(name, 3, "")), name); err != nil {
		return 0, err
	}
	if err := waitReady(ctx, cl, name, 3, func(by map[string]int) bool { return len(by) == 3 }); err != nil {
		return 0, err
	}
	h := l.Hosts[2]
	start := time.Now()
	var err error
	if mode == "cut" {
		err = h.Cut()
	} else {
		err = h.Crash()
	}
	if err != nil {
		return 0, err
	}
	if err := waitReady(ctx, cl, name, 3, func(by map[string]int) bool { return by[h.Name] == 0 }); err != nil {
		return 0, err
	}
	took := time.Since(start)
	if mode == "cut" {
		err = h.Heal()
	} else {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = h.Start(sctx, "--advertise", h.IP.String(), "--stabilization-time", "1s", "--label", "bench="+h.Name)
		if err == nil {
			err = h.WaitReady(sctx)
		}
		cancel()
	}
	if err != nil {
		return 0, err
	}
	if err := cl.DeleteObject(ctx, "deployment", "default", name); err != nil {
		return 0, err
	}
	if err := waitGone(ctx, cl, name); err != nil {
		return 0, err
	}
	// Wait until the failed host is ready again for the next trial.
	deadline := time.Now().Add(60 * time.Second)
	for {
		nodes, err := cl.ClusterNodes(ctx)
		ok := err == nil && len(nodes) == 3
		for _, n := range nodes {
			ok = ok && n.State == api.NodeReady
		}
		if ok {
			return took, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not come back", h.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
