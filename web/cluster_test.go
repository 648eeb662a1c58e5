package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kedge/api"
)

// registerClusterReads registers the cluster API as the lead wires it in server.go.
func registerClusterReads(mux *http.ServeMux, c *ClusterAPI) {
	p := api.APIPrefix
	mux.HandleFunc("GET "+p+"/cluster/status", c.GetStatus)
	mux.HandleFunc("GET "+p+"/cluster/nodes", c.GetNodes)
	mux.HandleFunc("GET "+p+"/cluster/events", c.GetEvents)
	mux.HandleFunc("GET "+p+"/cluster/workloads", c.GetWorkloads)
	mux.HandleFunc("GET "+p+"/cluster/watch", c.Watch)
}

func newClusterServer(t *testing.T, view ClusterView, opts ClusterAPIOptions) (*httptest.Server, *ClusterAPI) {
	t.Helper()
	c := NewClusterAPI(view, testLogger(t), opts)
	mux := http.NewServeMux()
	registerClusterReads(mux, c)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return srv, c
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

func TestClusterReadEndpoints(t *testing.T) {
	view := newFakeView(3)
	srv, _ := newClusterServer(t, view, ClusterAPIOptions{})

	var st api.ClusterStatus
	if code := getJSON(t, srv.URL+"/v1/cluster/status", &st); code != 200 || st.ClusterID != "c0ffee42" || st.LeaderName != "node-1" || !st.Healthy {
		t.Fatalf("status: %d %+v", code, st)
	}
	var nodes []api.ClusterNode
	if code := getJSON(t, srv.URL+"/v1/cluster/nodes", &nodes); code != 200 || len(nodes) != 3 || !nodes[0].Leader {
		t.Fatalf("nodes: %d %+v", code, nodes)
	}
	var evs []api.ClusterEvent
	if code := getJSON(t, srv.URL+"/v1/cluster/events", &evs); code != 200 || len(evs) != 3 {
		t.Fatalf("events: %d %+v", code, evs)
	}
	if code := getJSON(t, srv.URL+"/v1/cluster/events?since=2", &evs); code != 200 || len(evs) != 1 || evs[0].Index != 3 {
		t.Fatalf("events since 2: %d %+v", code, evs)
	}
	// An empty answer is [], not null.
	resp, err := http.Get(srv.URL + "/v1/cluster/events?since=99")
	if err != nil {
		t.Fatal(err)
	}
	var raw strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&raw)
	resp.Body.Close()
	if strings.TrimSpace(raw.String()) != "[]" {
		t.Fatalf("events since 99: %q, want []", raw.String())
	}
	var e api.Error
	if code := getJSON(t, srv.URL+"/v1/cluster/events?since=x", &e); code != http.StatusBadRequest || !strings.Contains(e.Message, "since") {
		t.Fatalf("bad since: %d %+v", code, e)
	}
	view.setErr(fmt.Errorf("state closed: %w", api.ErrConflict))
	if code := getJSON(t, srv.URL+"/v1/cluster/status", &e); code != http.StatusConflict || !strings.Contains(e.Message, "state closed") {
		t.Fatalf("failing view: %d %+v", code, e)
	}
}

// sseClient reads a watch stream.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

func openWatch(t *testing.T, url string) *sseClient {
	t.Helper()
	// The deadline bounds every read below: a missing event fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("watch: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{t: t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event or comment: name is "" and data the text
// for a comment.
func (c *sseClient) next() (name, data string) {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("watch stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if name != "" || data != "" {
				return name, data
			}
		case strings.HasPrefix(line, ":"):
			return "", strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data += line[len("data: "):]
		default:
			c.t.Fatalf("unexpected SSE line %q", line)
		}
	}
}

// snapshot returns the next snapshot event, skipping comments.
func (c *sseClient) snapshot() ClusterSnapshot {
	c.t.Helper()
	for {
		name, data := c.next()
		if name == "" {
			continue
		}
		if name != "snapshot" {
			c.t.Fatalf("event %q (%s), want snapshot", name, data)
		}
		var s ClusterSnapshot
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			c.t.Fatalf("snapshot: %v", err)
		}
		return s
	}
}

func nodeState(s ClusterSnapshot, name string) string {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n.State
		}
	}
	return ""
}

func TestWatchSnapshotThenChanges(t *testing.T) {
	view := newFakeView(3)
	srv, _ := newClusterServer(t, view, ClusterAPIOptions{MinInterval: time.Millisecond})
	w := openWatch(t, srv.URL+"/v1/cluster/watch")

	s := w.snapshot()
	if len(s.Nodes) != 3 || len(s.Events) != 3 || s.Status.AppliedIndex != 3 || nodeState(s, "node-3") != api.NodeReady {
		t.Fatalf("first snapshot: %+v", s)
	}
	view.setNodeState("node-3", api.NodeDown)
	s = w.snapshot()
	if nodeState(s, "node-3") != api.NodeDown || s.Status.AppliedIndex != 4 || len(s.Status.Warnings) != 1 {
		t.Fatalf("after node-3 down: %+v", s)
	}
	// The new event is appended once, oldest first.
	if len(s.Events) != 4 || s.Events[3].Kind != "node-down" || s.Events[3].Index != 4 || s.Events[0].Index != 1 {
		t.Fatalf("events after change: %+v", s.Events)
	}
	view.setNodeState("node-3", api.NodeReady)
	if s = w.snapshot(); nodeState(s, "node-3") != api.NodeReady || len(s.Events) != 5 {
		t.Fatalf("after node-3 ready: %+v", s)
	}
}

func TestWatchCoalescesChanges(t *testing.T) {
	view := newFakeView(3)
	// The interval is long next to the burst below, so the burst lands
	// inside it: the stream then sends one snapshot with all of it.
	srv, _ := newClusterServer(t, view, ClusterAPIOptions{MinInterval: time.Second, MaxEvents: 5})
	w := openWatch(t, srv.URL+"/v1/cluster/watch")
	w.snapshot()
	start := time.Now()
	for i := 0; i < 10; i++ {
		view.change("tick", "x", fmt.Sprint(i), nil)
	}
	s := w.snapshot()
	if s.Status.AppliedIndex != 13 {
		t.Fatalf("snapshot after the burst has applied index %d, want 13 (burst took %v)", s.Status.AppliedIndex, time.Since(start))
	}
	if len(s.Events) != 5 || s.Events[0].Index != 9 || s.Events[4].Index != 13 {
		t.Fatalf("events trimmed to the last 5: %+v", s.Events)
	}
}

func TestWatchHeartbeat(t *testing.T) {
	srv, _ := newClusterServer(t, newFakeView(1), ClusterAPIOptions{Heartbeat: 20 * time.Millisecond})
	w := openWatch(t, srv.URL+"/v1/cluster/watch")
	w.snapshot()
	if name, data := w.next(); name != "" || data != "keepalive" {
		t.Fatalf("got event %q %q, want a keepalive comment", name, data)
	}
}

func TestWatchEndsWhenClientGoesOrAPICloses(t *testing.T) {
	view := newFakeView(2)
	c := NewClusterAPI(view, testLogger(t), ClusterAPIOptions{})
	ended := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { ended <- struct{}{} }()
		c.Watch(w, r)
	}))
	t.Cleanup(srv.Close)
	waitEnded := func(what string) {
		t.Helper()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("watch still running after %s", what)
		}
	}

	w := openWatch(t, srv.URL)
	w.snapshot()
	w.close()
	waitEnded("the client went")

	w = openWatch(t, srv.URL)
	w.snapshot()
	c.Close()
	waitEnded("Close")
	// Then the stream ends: the body reaches EOF.
	if _, err := w.r.ReadString('\n'); err == nil {
		t.Fatal("stream still open after Close")
	}
}

func TestWatchFailures(t *testing.T) {
	view := newFakeView(2)
	srv, _ := newClusterServer(t, view, ClusterAPIOptions{MinInterval: time.Millisecond})

	// A view failing at connect answers a JSON error, not a stream.
	view.setErr(errors.New("no state yet"))
	var e api.Error
	if code := getJSON(t, srv.URL+"/v1/cluster/watch", &e); code != 500 || !strings.Contains(e.Message, "no state yet") {
		t.Fatalf("watch of a failing view: %d %+v", code, e)
	}

	// A failure mid-stream is a "failure" event; the stream goes on.
	view.setErr(nil)
	w := openWatch(t, srv.URL+"/v1/cluster/watch")
	w.snapshot()
	view.setErr(errors.New("store closed"))
	view.change("x", "y", "z", nil)
	name, data := w.next()
	if name != "failure" || !strings.Contains(data, "store closed") {
		t.Fatalf("got %q %q, want a failure event", name, data)
	}
	view.setErr(nil)
	view.setNodeState("node-2", api.NodeSuspect)
	if s := w.snapshot(); nodeState(s, "node-2") != api.NodeSuspect {
		t.Fatalf("after recovery: %+v", s)
	}
}

// withoutWorkloads hides the fake's WorkloadView capability: only the
// ClusterView methods are promoted from the embedded interface.
type withoutWorkloads struct{ ClusterView }

func findWorkload(ws []api.WorkloadSummary, namespace, name string) (api.WorkloadSummary, bool) {
	for _, w := range ws {
		if w.Namespace == namespace && w.Name == name {
			return w, true
		}
	}
	return api.WorkloadSummary{}, false
}

func TestGetWorkloads(t *testing.T) {
	view := newFakeView(3)
	// A bare pod not placed yet: the view gives nil pods, the API [].
	view.workloads = append(view.workloads, api.WorkloadSummary{Kind: api.KindPod, Namespace: "default", Name: "lonely", Desired: 1})
	srv, _ := newClusterServer(t, view, ClusterAPIOptions{})

	var ws []api.WorkloadSummary
	if code := getJSON(t, srv.URL+"/v1/cluster/workloads", &ws); code != 200 || len(ws) != 3 {
		t.Fatalf("workloads: %d %+v", code, ws)
	}
	// Sorted by namespace, then name.
	if ws[0].Name != "lonely" || ws[1].Name != "web" || ws[2].Name != "log-agent" {
		t.Fatalf("order: %+v", ws)
	}
	web := ws[1]
	if web.Kind != api.KindDeployment || web.Desired != 3 || web.Ready != 2 || len(web.Pods) != 3 ||
		web.Pods[2] != (api.PodSummary{Name: "web-7d9f-c", Node: "node-3", Phase: "Pending"}) {
		t.Fatalf("web: %+v", web)
	}
	resp, err := http.Get(srv.URL + "/v1/cluster/workloads")
	if err != nil {
		t.Fatal(err)
	}
	var raw strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&raw)
	resp.Body.Close()
	if !strings.Contains(raw.String(), `"name":"lonely","desired":1,"ready":0,"pods":[]`) {
		t.Fatalf("a workload without pods: %s, want \"pods\":[]", raw.String())
	}

	var e api.Error
	view.setErr(fmt.Errorf("state closed: %w", api.ErrConflict))
	if code := getJSON(t, srv.URL+"/v1/cluster/workloads", &e); code != http.StatusConflict || !strings.Contains(e.Message, "state closed") {
		t.Fatalf("failing view: %d %+v", code, e)
	}

	// A view without the capability has no workloads: [], not null or 404.
	plain, _ := newClusterServer(t, withoutWorkloads{newFakeView(1)}, ClusterAPIOptions{})
	resp, err = http.Get(plain.URL + "/v1/cluster/workloads")
	if err != nil {
		t.Fatal(err)
	}
	raw.Reset()
	_, _ = bufio.NewReader(resp.Body).WriteTo(&raw)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(raw.String()) != "[]" {
		t.Fatalf("workloads of a plain view: %d %q, want 200 []", resp.StatusCode, raw.String())
	}
}

func TestWatchSnapshotCarriesWorkloads(t *testing.T) {
	view := newFakeView(3)
	srv, _ := newClusterServer(t, view, ClusterAPIOptions{MinInterval: time.Millisecond})
	w := openWatch(t, srv.URL+"/v1/cluster/watch")

	s := w.snapshot()
	web, ok := findWorkload(s.Workloads, "default", "web")
	if len(s.Workloads) != 2 || !ok || web.Ready != 2 || web.Desired != 3 || len(web.Pods) != 3 {
		t.Fatalf("first snapshot's workloads: %+v", s.Workloads)
	}
	// The third pod comes up on another node: the next snapshot has it.
	view.setPod("default", "web", "web-7d9f-c", func(p *api.PodSummary) {
		p.Node, p.Phase, p.Ready = "node-1", "Running", true
	})
	s = w.snapshot()
	web, _ = findWorkload(s.Workloads, "default", "web")
	if web.Ready != 3 || web.Pods[2].Node != "node-1" || !web.Pods[2].Ready || web.Pods[2].Phase != "Running" {
		t.Fatalf("after web-7d9f-c came up: %+v", web)
	}

	// A failing Workloads fails the snapshot like any other read; the
	// stream goes on.
	view.setWorkloadsErr(errors.New("store closed"))
	view.change("x", "y", "z", nil)
	if name, data := w.next(); name != "failure" || !strings.Contains(data, "workloads: store closed") {
		t.Fatalf("got %q %q, want a failure event", name, data)
	}
	view.setWorkloadsErr(nil)
	view.setNodeState("node-2", api.NodeSuspect)
	if s = w.snapshot(); len(s.Workloads) != 2 || nodeState(s, "node-2") != api.NodeSuspect {
		t.Fatalf("after recovery: %+v", s)
	}
}

func TestWatchWithoutWorkloadView(t *testing.T) {
	srv, _ := newClusterServer(t, withoutWorkloads{newFakeView(2)}, ClusterAPIOptions{})
	w := openWatch(t, srv.URL+"/v1/cluster/watch")
	name, data := w.next()
	if name != "snapshot" || !strings.Contains(data, `"workloads":[]`) {
		t.Fatalf("got %q %s, want a snapshot with \"workloads\":[]", name, data)
	}
	var s ClusterSnapshot
	if err := json.Unmarshal([]byte(data), &s); err != nil || len(s.Nodes) != 2 || s.Workloads == nil {
		t.Fatalf("snapshot: %v %+v", err, s)
	}
}

func TestEventRing(t *testing.T) {
	r := &eventRing{max: 3}
	ev := func(i uint64) api.ClusterEvent { return api.ClusterEvent{Index: i} }
	r.add([]api.ClusterEvent{ev(1), ev(2)})
	r.add([]api.ClusterEvent{ev(2), ev(3), ev(4)}) // 2 repeated: dropped
	got := r.list()
	if len(got) != 3 || got[0].Index != 2 || got[2].Index != 4 || r.last != 4 {
		t.Fatalf("ring: %+v last %d", got, r.last)
	}
}
