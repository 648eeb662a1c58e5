package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"kedge/api"
	"kedge/internal/lab"
	"kedge/internal/testimage"
)

// chaosDeployment is a small Deployment named name with replicas pods.
func chaosDeployment(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s}
spec:
  replicas: %d
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox, command: ["sleep", "3600"]}
`, name, replicas, name, name)
}

// While leaders are killed and hosts partitioned at random, Deployments
// are applied and scaled through random hosts. Afterwards every
// acknowledged change is there, and every Deployment runs exactly its
// replicas (a change whose answer was lost may or may not have applied).
func TestLabChaos(t *testing.T) {
	c := startLabCluster(t, 3)
	ctx := context.Background()
	for _, h := range c.lab.Hosts {
		if _, err := c.client(h).ImportImage(ctx, bytes.NewReader(testimage.Busybox(t))); err != nil {
			t.Fatal(err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KEDGE_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("chaos seed %d (KEDGE_CHAOS_SEED reruns it)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	// acked[name] is the replicas last acknowledged; maybe[name] holds
	// values whose write failed without an answer (it may have applied).
	acked := map[string]int{}
	maybe := map[string]map[int]bool{}
	down := map[*lab.Host]bool{}
	var names []string
	end := time.Now().Add(25 * time.Second)
	for step := 0; time.Now().Before(end); step++ {
		var up []*lab.Host
		for _, h := range c.lab.Hosts {
			if !down[h] {
				up = append(up, h)
			}
		}
		h := up[rng.IntN(len(up))]
		switch r := rng.IntN(10); {
		case r < 4 || len(names) == 0: // apply or re-apply a deployment
			name := fmt.Sprintf("d%d", rng.IntN(4))
			replicas := 1 + rng.IntN(3)
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := c.client(h).ApplyManifests(cctx, []byte(chaosDeployment(name, replicas)), name)
			cancel()
			if _, ok := acked[name]; !ok && err == nil {
				names = append(names, name)
			}
			record(acked, maybe, name, replicas, err)
		case r < 7: // scale
			name := names[rng.IntN(len(names))]
			replicas := rng.IntN(4)
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.client(h).Scale(cctx, "default", name, int32(replicas))
			cancel()
			record(acked, maybe, name, replicas, err)
		case r < 8 && len(down) == 0: // kill -9 the leader's agent (its containers live on)
			for _, x := range up {
				if st, err := c.client(x).ClusterStatus(ctx); err == nil && st.RaftState == "Leader" {
					if err := x.Kill9(); err == nil {
						down[x] = true
					}
					break
				}
			}
		case r < 9 && len(down) == 0: // cut a host off for a moment
			if err := h.Cut(); err == nil {
				time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond) // the fault's length is the test's input, not a wait
				if err := h.Heal(); err != nil {
					t.Fatal(err)
				}
			}
		default: // bring killed hosts back
			for x := range down {
				c.start(x)
				delete(down, x)
			}
		}
	}
	for x := range down {
		c.start(x)
	}
	t.Logf("acknowledged: %v, unanswered: %v", acked, maybe)
	// Convergence: the acknowledged (or possibly applied) replicas, each
	// running once, on every host's view.
	cl := c.client(c.lab.Hosts[0])
	deadline := time.Now().Add(90 * time.Second)
	for {
		problem := chaosCheck(ctx, cl, acked, maybe)
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no convergence after the chaos: %s", problem)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func record(acked map[string]int, maybe map[string]map[int]bool, name string, replicas int, err error) {
	if err == nil {
		acked[name] = replicas
		delete(maybe, name)
		return
	}
	if maybe[name] == nil {
		maybe[name] = map[int]bool{}
	}
	maybe[name][replicas] = true
}

// chaosCheck says what differs from the expected end state ("" when none).
func chaosCheck(ctx context.Context, cl *api.Client, acked map[string]int, maybe map[string]map[int]bool) string {
	raws, err := cl.GetObjects(ctx, "deployments", "default", "")
	if err != nil {
		return err.Error()
	}
	spec := map[string]int{}
	for _, r := range raws {
		var d api.Deployment
		if json.Unmarshal(r, &d) == nil && d.Spec.Replicas != nil {
			spec[d.Name] = int(*d.Spec.Replicas)
		}
	}
	pods, err := cl.GetObjects(ctx, "pods", "default", "")
	if err != nil {
		return err.Error()
	}
	ready := map[string]int{}
	total := map[string]int{}
	for _, r := range pods {
		var p api.ClusterPod
		if json.Unmarshal(r, &p) != nil {
			continue
		}
		app := p.Labels["app"]
		total[app]++
		if p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Ready {
			ready[app]++
		}
	}
	for name, want := range acked {
		got, ok := spec[name]
		if !ok {
			return fmt.Sprintf("deployment %s is gone", name)
		}
		if got != want && !maybe[name][got] {
			return fmt.Sprintf("deployment %s has %d replicas, acknowledged %d", name, got, want)
		}
	}
	for name, want := range spec {
		if ready[name] != want || total[name] != want {
			return fmt.Sprintf("deployment %s: %d pods, %d ready, want %d", name, total[name], ready[name], want)
		}
	}
	return ""
}
