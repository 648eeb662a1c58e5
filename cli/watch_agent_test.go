package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kedge/agent"
	"kedge/api"
	"kedge/engine/reexec"
)

func TestMain(m *testing.M) {
	// An in-process agent (watch_agent_test.go) re-executes the test
	// binary for its helpers, as it does kedge.
	if code, ok := reexec.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// startAgent starts an in-process agent at ip and founds a one-node
// cluster on it; it returns the CLI's -H value.
func startAgent(t *testing.T, name, ip string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the agent's container engine needs root")
	}
	dir := t.TempDir()
	cfg := &agent.Config{
		DataDir: filepath.Join(dir, "data"), Socket: filepath.Join(dir, "k.sock"), NodeName: name,
		Cluster:      agent.ClusterConfig{Advertise: ip, BindAddr: ip, StabilizationTime: "300ms"},
		BridgeSubnet: "10.250." + ip[strings.LastIndex(ip, ".")+1:] + ".0/24",
		Version:      api.Version{Version: "test"},
	}
	a, err := agent.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start the agent: %v", err)
	}
	t.Cleanup(func() { a.Stop() })
	cl, err := api.NewClient(cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.ClusterInit(context.Background(), api.InitRequest{}); err != nil {
		t.Fatalf("init: %v", err)
	}
	eventually(t, "a leader", 20*time.Second, func() bool {
		st, err := cl.ClusterStatus(context.Background())
		return err == nil && st.LeaderID != ""
	})
	return "unix://" + cfg.Socket
}

// deploymentFile writes a Deployment that no node can run (its node
// selector matches none), so its row changes only with its spec.
func deploymentFile(t *testing.T, name string, replicas int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	y := `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `}
spec:
  replicas: ` + string(rune('0'+replicas)) + `
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      nodeSelector: {kedge-test: nowhere}
      containers:
      - {name: main, image: busybox:test}
`
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// On a real agent (a one-node cluster), `get deployments -w` prints the
// table, then a row when a scale changes a Deployment, when an apply adds
// one and when a delete removes one (its last row again, as kubectl
// does); `get events -w` prints the events of the changes as they come.
// Both end when their context does.
func TestGetWatchOnAnAgent(t *testing.T) {
	host := startAgent(t, "watch1", "127.0.0.121")
	kedge := func(args ...string) {
		t.Helper()
		if code, stdout, stderr := run(t, "", append([]string{"-H", host}, args...)...); code != 0 {
			t.Fatalf("kedge %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	kedge("apply", "-f", deploymentFile(t, "web", 2))

	deps, depsErr, stopDeps := background(t, "-H", host, "get", "deployments", "-w")
	eventually(t, "the deployments' table", 20*time.Second, func() bool { return hasLine(deps.String(), "web 0/2 0 0") })
	events, _, stopEvents := background(t, "-H", host, "get", "events", "--watch")
	eventually(t, "the events' table", 20*time.Second, func() bool { return hasLine(events.String(), "AGE KIND OBJECT MESSAGE") })

	kedge("scale", "deployment", "web", "--replicas", "3")
	eventually(t, "web's row after the scale", 20*time.Second, func() bool { return hasLine(deps.String(), "web 0/3 0 0") })
	kedge("apply", "-f", deploymentFile(t, "api", 1))
	eventually(t, "api's row after the apply", 20*time.Second, func() bool { return hasLine(deps.String(), "api 0/1 0 0") })
	eventually(t, "the event of api's creation", 20*time.Second, func() bool {
		return strings.Contains(events.String(), "Deployment api created")
	})
	kedge("delete", "deployment", "api")
	eventually(t, "api's row after the delete", 20*time.Second, func() bool {
		return strings.Count(strings.Join(lines(deps.String()), "\n"), "api 0/1 0 0") == 2
	})
	eventually(t, "the event of api's deletion", 20*time.Second, func() bool {
		return strings.Contains(events.String(), "Deployment api deleted")
	})

	if code := stopDeps(); code != 0 {
		t.Fatalf("get deployments -w: exit %d; stderr %q", code, depsErr.String())
	}
	if code := stopEvents(); code != 0 {
		t.Fatalf("get events -w: exit %d", code)
	}
	want := []string{"NAME READY UP-TO-DATE AVAILABLE AGE", "web 0/2 0 0", "web 0/3 0 0", "api 0/1 0 0", "api 0/1 0 0"}
	got := lines(deps.String())
	if len(got) != len(want) {
		t.Fatalf("get deployments -w printed:\n%s\nwant the rows %q", deps.String(), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d: %q, want %q", i, got[i], want[i])
		}
	}
	if n := strings.Count(events.String(), "AGE "); n != 1 {
		t.Errorf("the events' header printed %d times:\n%s", n, events.String())
	}

	// get events -o yaml prints documents, as get KIND -o yaml does.
	if code, stdout, stderr := run(t, "", "-H", host, "get", "events", "-o", "yaml"); code != 0 || !strings.Contains(stdout, "message: Deployment api deleted") || !strings.Contains(stdout, "\n---\n") {
		t.Errorf("get events -o yaml: exit %d\n%s%s", code, stdout, stderr)
	}

	// web's pods fit nowhere: rollout status waits (on blocking queries),
	// says what it waits for once, and gives up at its timeout.
	code, stdout, stderr := run(t, "", "-H", host, "rollout", "status", "deployment", "web", "--timeout", "1s")
	if code == 0 || strings.Count(stdout, `Waiting for deployment "web" rollout to finish: 0 of 3 new replicas have been updated...`) != 1 ||
		!strings.Contains(stderr, "rollout not complete after 1s") {
		t.Errorf("rollout status of a Deployment that cannot roll out: exit %d\n%s%s", code, stdout, stderr)
	}
}
