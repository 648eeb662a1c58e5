package web

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"kedge/api"
)

// fakeView is an in-memory ClusterView whose state the tests change.
type fakeView struct {
	mu     sync.Mutex
	status api.ClusterStatus
	nodes  []api.ClusterNode
	events []api.ClusterEvent
	// workloads make it a WorkloadView.
	workloads []api.WorkloadSummary
	changed   chan struct{}
	err       error // returned by every read when set
	// workloadsErr is returned by Workloads only, when set.
	workloadsErr error
}

var (
	_ ClusterView  = (*fakeView)(nil)
	_ WorkloadView = (*fakeView)(nil)
)

// newFakeView is a healthy cluster of n voters; node-1 leads. It runs the
// Deployment default/web, 2 of 3 pods ready (web-7d9f-a on node-1 and
// web-7d9f-b on node-2 ready; web-7d9f-c Pending on node-3, the nodes taken
// modulo n), and the DaemonSet kube-system/log-agent, one ready pod a node.
func newFakeView(n int) *fakeView {
	now := time.Now().UTC()
	f := &fakeView{changed: make(chan struct{})}
	for i := 1; i <= n; i++ {
		f.nodes = append(f.nodes, api.ClusterNode{
			ID:         fmt.Sprintf("%02d3f9a1c7b2e4d5f6a7b8c9d0e1f2a3b", i),
			Name:       fmt.Sprintf("node-%d", i),
			Address:    fmt.Sprintf("10.0.0.%d", i),
			APIAddr:    fmt.Sprintf("10.0.0.%d:7780", i),
			Voter:      true,
			Leader:     i == 1,
			State:      api.NodeReady,
			StateSince: now.Add(-time.Hour),
			JoinedAt:   now.Add(-time.Duration(i) * time.Hour),
			Version:    "v0.1.0",
			Labels:     map[string]string{"zone": fmt.Sprintf("z%d", i)},
			Capacity:   api.NodeResources{CPUMillis: 2000, MemoryBytes: 4 << 30},
		})
		f.events = append(f.events, api.ClusterEvent{
			Index: uint64(i), Time: now.Add(-time.Duration(n-i) * time.Minute),
			Kind: "node-joined", Object: f.nodes[i-1].Name, Message: "joined the cluster",
		})
	}
	f.status = api.ClusterStatus{
		Member: true, ClusterID: "c0ffee42", NodeID: f.nodes[0].ID, NodeName: "node-1",
		RaftState: "Leader", LeaderID: f.nodes[0].ID, LeaderName: "node-1", Term: 3,
		AppliedIndex: uint64(n), CommitIndex: uint64(n), Voters: n, Members: n,
		Healthy: true, FaultTolerance: (n - 1) / 2,
	}
	if n == 0 {
		return f
	}
	node := func(i int) string { return f.nodes[(i-1)%n].Name }
	web := api.WorkloadSummary{Kind: api.KindDeployment, Namespace: "default", Name: "web", Desired: 3, Ready: 2, Pods: []api.PodSummary{
		{Name: "web-7d9f-a", Node: node(1), Phase: "Running", Ready: true},
		{Name: "web-7d9f-b", Node: node(2), Phase: "Running", Ready: true, Restarts: 1},
		{Name: "web-7d9f-c", Node: node(3), Phase: "Pending"},
	}}
	agent := api.WorkloadSummary{Kind: api.KindDaemonSet, Namespace: "kube-system", Name: "log-agent", Desired: n, Ready: n}
	for i := 1; i <= n; i++ {
		agent.Pods = append(agent.Pods, api.PodSummary{Name: fmt.Sprintf("log-agent-%d", i), Node: node(i), Phase: "Running", Ready: true})
	}
	f.workloads = []api.WorkloadSummary{web, agent}
	return f
}

func (f *fakeView) Status(ctx context.Context) (api.ClusterStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.ClusterStatus{}, f.err
	}
	st := f.status
	st.Warnings = append([]string(nil), st.Warnings...)
	return st, nil
}

func (f *fakeView) Nodes(ctx context.Context) ([]api.ClusterNode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return append([]api.ClusterNode(nil), f.nodes...), nil
}

func (f *fakeView) Events(ctx context.Context, since uint64) ([]api.ClusterEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []api.ClusterEvent
	for _, ev := range f.events {
		if ev.Index > since {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (f *fakeView) Workloads(ctx context.Context) ([]api.WorkloadSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := cmp.Or(f.err, f.workloadsErr); err != nil {
		return nil, err
	}
	out := make([]api.WorkloadSummary, len(f.workloads))
	for i, w := range f.workloads {
		w.Pods = append([]api.PodSummary(nil), w.Pods...)
		out[i] = w
	}
	return out, nil
}

func (f *fakeView) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// StateIndex is the applied index, with the channel change closes.
func (f *fakeView) StateIndex() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status.AppliedIndex, f.changed
}

// change applies fn as one Raft entry: a new applied index, an event, and
// a wake-up of the watchers.
func (f *fakeView) change(kind, object, msg string, fn func(st *api.ClusterStatus, nodes []api.ClusterNode)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fn != nil {
		fn(&f.status, f.nodes)
	}
	f.status.AppliedIndex++
	f.status.CommitIndex = f.status.AppliedIndex
	f.events = append(f.events, api.ClusterEvent{Index: f.status.AppliedIndex, Time: time.Now().UTC(), Kind: kind, Object: object, Message: msg})
	close(f.changed)
	f.changed = make(chan struct{})
}

// setNodeState records a node's new state.
func (f *fakeView) setNodeState(name, state string) {
	f.change("node-"+state, name, "is "+state, func(st *api.ClusterStatus, nodes []api.ClusterNode) {
		for i := range nodes {
			if nodes[i].Name == name {
				nodes[i].State = state
				nodes[i].StateSince = time.Now().UTC()
			}
		}
		if state == api.NodeDown {
			st.FaultTolerance = 0
			st.Warnings = append(st.Warnings, name+" is down: the cluster cannot lose another voter")
		}
	})
}

// setPod changes the pod of the workload namespace/workload with fn, as one
// Raft entry, and recounts the workload's ready pods.
func (f *fakeView) setPod(namespace, workload, pod string, fn func(p *api.PodSummary)) {
	f.change("pod-changed", namespace+"/"+pod, "changed", func(*api.ClusterStatus, []api.ClusterNode) {
		// change holds f.mu.
		for i := range f.workloads {
			w := &f.workloads[i]
			if w.Namespace != namespace || w.Name != workload {
				continue
			}
			w.Ready = 0
			for j := range w.Pods {
				if w.Pods[j].Name == pod {
					fn(&w.Pods[j])
				}
				if w.Pods[j].Ready {
					w.Ready++
				}
			}
		}
	})
}

func (f *fakeView) setWorkloadsErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.workloadsErr = err
}

func (f *fakeView) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// testLogger routes logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

var _ io.Writer = tLogWriter{}
