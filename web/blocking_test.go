package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/api"
)

// indexedView is a fakeView that tells when a blocking query reads the
// index (so a test changes the state while the query waits, not before),
// and whose Changed also fires on a gossip-only change.
type indexedView struct {
	*fakeView
	reads  chan struct{} // a value each StateIndex
	gmu    sync.Mutex
	gossip chan struct{}
}

func newIndexedView() *indexedView {
	return &indexedView{fakeView: newFakeView(3), reads: make(chan struct{}, 100), gossip: make(chan struct{})}
}

func (v *indexedView) StateIndex() (uint64, <-chan struct{}) {
	n, ch := v.fakeView.StateIndex()
	select {
	case v.reads <- struct{}{}:
	default:
	}
	return n, ch
}

func (v *indexedView) Changed() <-chan struct{} {
	v.gmu.Lock()
	defer v.gmu.Unlock()
	return v.gossip
}

// gossipChange wakes the watchers without a new index.
func (v *indexedView) gossipChange() {
	v.gmu.Lock()
	defer v.gmu.Unlock()
	close(v.gossip)
	v.gossip = make(chan struct{})
}

// drainReads forgets the index reads so far.
func (v *indexedView) drainReads() {
	for {
		select {
		case <-v.reads:
		default:
			return
		}
	}
}

// awaitRead waits until a query has read the index.
func (v *indexedView) awaitRead(t *testing.T) {
	t.Helper()
	select {
	case <-v.reads:
	case <-time.After(10 * time.Second):
		t.Fatal("the query never read the state index")
	}
}

type answer struct {
	code    int
	index   uint64
	body    []byte
	elapsed time.Duration
	err     error
}

// get GETs url in the background; the answer comes on the channel.
func get(url string) <-chan answer {
	out := make(chan answer, 1)
	go func() { // ends with the request
		start := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			out <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var body json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&body)
		idx, _ := strconv.ParseUint(resp.Header.Get(api.IndexHeader), 10, 64)
		out <- answer{code: resp.StatusCode, index: idx, body: body, elapsed: time.Since(start)}
	}()
	return out
}

func waitAnswer(t *testing.T, ch <-chan answer, within time.Duration) answer {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatal(a.err)
		}
		return a
	case <-time.After(within):
		t.Fatalf("no answer within %v", within)
		return answer{}
	}
}

// A blocking read of the events answers as soon as the state passes the
// index it names, with the new index and the new event; with no change it
// answers when its wait ends, with the same index; an index the state has
// not reached answers at once; without ?index= it answers at once with the
// header; bad parameters are refused.
func TestBlockingQueryWaitsForTheNextIndex(t *testing.T) {
	view := newIndexedView()
	srv, _ := newClusterServer(t, view, ClusterAPIOptions{})
	at, _ := view.fakeView.StateIndex() // 3: three nodes joined

	a := waitAnswer(t, get(srv.URL+"/v1/cluster/events"), 10*time.Second)
	if a.code != 200 || a.index != at {
		t.Fatalf("plain read: %d, index %d, want 200 and %d", a.code, a.index, at)
	}

	view.drainReads()
	ch := get(fmt.Sprintf("%s/v1/cluster/events?since=%d&index=%d&wait=1m", srv.URL, at, at))
	view.awaitRead(t)
	view.change("object.created", "configmap/default/x", "ConfigMap x created", nil)
	a = waitAnswer(t, ch, 10*time.Second)
	var evs []api.ClusterEvent
	_ = json.Unmarshal(a.body, &evs)
	if a.code != 200 || a.index != at+1 || len(evs) != 1 || evs[0].Object != "configmap/default/x" {
		t.Fatalf("after a change: %d, index %d, events %+v; want 200, index %d and the new event", a.code, a.index, evs, at+1)
	}

	const wait = 300 * time.Millisecond
	a = waitAnswer(t, get(fmt.Sprintf("%s/v1/cluster/events?since=%d&index=%d&wait=%s", srv.URL, at+1, at+1, wait)), 10*time.Second)
	if a.code != 200 || a.index != at+1 || string(a.body) != "[]" || a.elapsed < wait {
		t.Fatalf("no change: %d, index %d, body %s after %v; want 200, index %d, [] after the %v wait", a.code, a.index, a.body, a.elapsed, at+1, wait)
	}

	a = waitAnswer(t, get(fmt.Sprintf("%s/v1/cluster/events?index=%d&wait=1m", srv.URL, at+100)), 10*time.Second)
	if a.code != 200 || a.index != at+1 {
		t.Fatalf("an index ahead of the state: %d, index %d; want an answer at once at %d", a.code, a.index, at+1)
	}

	for _, q := range []string{"index=x", "index=-1", "index=1&wait=soon", "index=1&wait=-1s"} {
		if a := waitAnswer(t, get(srv.URL+"/v1/cluster/events?"+q), 10*time.Second); a.code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, a.code)
		}
	}
}

// A blocking read of the nodes also ends at a gossip change (which shows
// in their roles, but moves no index); the API's Close ends every wait.
func TestBlockingNodesWakeOnGossipAndClose(t *testing.T) {
	view := newIndexedView()
	srv, c := newClusterServer(t, view, ClusterAPIOptions{})
	at, _ := view.fakeView.StateIndex()

	view.drainReads()
	ch := get(fmt.Sprintf("%s/v1/cluster/nodes?index=%d", srv.URL, at))
	view.awaitRead(t)
	view.gossipChange()
	if a := waitAnswer(t, ch, 10*time.Second); a.code != 200 || a.index != at {
		t.Fatalf("after a gossip change: %d, index %d; want 200 at %d", a.code, a.index, at)
	}

	view.drainReads()
	ch = get(fmt.Sprintf("%s/v1/cluster/events?index=%d", srv.URL, at))
	view.awaitRead(t)
	c.Close()
	if a := waitAnswer(t, ch, 10*time.Second); a.code != 200 || a.index != at {
		t.Fatalf("at close: %d, index %d; want 200 at %d", a.code, a.index, at)
	}
}

// fakeObjects serves GetObjects from a fakeView's nodes: one ConfigMap per
// node, so a change of the view is a change of the list.
type fakeObjects struct {
	WorkloadOps // nil: only what the test calls is implemented
	view        *indexedView
}

func (f fakeObjects) StateIndex() (uint64, <-chan struct{}) { return f.view.StateIndex() }

func (f fakeObjects) GetObjects(ctx context.Context, kind, namespace, name string) ([]json.RawMessage, error) {
	nodes, err := f.view.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for _, n := range nodes {
		out = append(out, json.RawMessage(fmt.Sprintf(`{"kind":"ConfigMap","metadata":{"name":%q,"namespace":"default"},"data":{"state":%q}}`, n.Name, n.State)))
	}
	return out, nil
}

// The objects' list is a blocking query too: it answers at the change it
// waits for, and the server's Close ends its wait.
func TestBlockingObjects(t *testing.T) {
	view := newIndexedView()
	s := New(nil, api.Version{Version: "test"}, testLogger(t))
	s.EnableWorkloads(fakeObjects{view: view})
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	at, _ := view.fakeView.StateIndex()

	view.drainReads()
	ch := get(fmt.Sprintf("%s/v1/objects/configmaps?index=%d", srv.URL, at))
	view.awaitRead(t)
	view.setNodeState("node-2", api.NodeDown)
	a := waitAnswer(t, ch, 10*time.Second)
	var list []struct {
		Data map[string]string `json:"data"`
	}
	_ = json.Unmarshal(a.body, &list)
	if a.code != 200 || a.index != at+1 || len(list) != 3 || list[1].Data["state"] != api.NodeDown {
		t.Fatalf("after a change: %d, index %d, %s", a.code, a.index, a.body)
	}

	view.drainReads()
	ch = get(fmt.Sprintf("%s/v1/objects/configmaps?index=%d", srv.URL, at+1))
	view.awaitRead(t)
	s.Close()
	if a := waitAnswer(t, ch, 10*time.Second); a.code != 200 || a.index != at+1 {
		t.Fatalf("at close: %d, index %d; want 200 at %d", a.code, a.index, at+1)
	}
}

// A consistent read cannot be a blocking query: its read would come before
// the wait. The pair is refused, before any read.
func TestConsistentBlockingQueryRefused(t *testing.T) {
	called := false
	h := consistent(nil, func(http.ResponseWriter, *http.Request) { called = true })
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/v1/cluster/nodes?consistent=1&index=5", nil))
	if rec.Code != http.StatusBadRequest || called || !strings.Contains(rec.Body.String(), "do not go together") {
		t.Fatalf("consistent with index: %d %q (handler called: %v), want 400 naming the clash", rec.Code, rec.Body.String(), called)
	}
}
