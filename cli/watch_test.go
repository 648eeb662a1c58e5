package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/api"
)

// syncBuffer is a bytes.Buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// background runs a long-lived command (get -w) until the returned stop
// cancels it; stop returns its exit code. urfave/cli writes package-level
// flags (its HelpFlag) while it parses a command line, so the test starts
// another command only after this one has printed something (which orders
// the two through the buffer's lock).
func background(t *testing.T, args ...string) (stdout, stderr *syncBuffer, stop func() int) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { // ends when stop cancels ctx
		done <- RunContext(ctx, append([]string{"kedge"}, args...), strings.NewReader(""), stdout, stderr)
	}()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("kedge %v did not end within 10s of its context", args)
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return stdout, stderr, stop
}

// eventually waits until cond holds, failing the test after within.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lines are the non-empty lines of s, each with its spaces collapsed.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

// hasLine reports whether out has a line that starts with prefix (spaces
// collapsed).
func hasLine(out, prefix string) bool {
	for _, l := range lines(out) {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// podsAgent is a fake agent that serves GET /v1/objects/pods as a blocking
// query over a list the test changes, and can go away and come back.
type podsAgent struct {
	t    *testing.T
	sock string

	mu      sync.Mutex
	index   uint64
	pods    []api.ClusterPod
	changed chan struct{}
	failing bool // answer 503
	fails   int  // reads answered 503
	srv     *http.Server
}

func newPodsAgent(t *testing.T) *podsAgent {
	dir, err := os.MkdirTemp("", "kwatch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &podsAgent{t: t, sock: filepath.Join(dir, "k.sock"), index: 10, changed: make(chan struct{})}
	p.serve()
	t.Cleanup(p.down)
	return p
}

// serve starts (or starts again) serving on the socket.
func (p *podsAgent) serve() {
	os.Remove(p.sock)
	ln, err := net.Listen("unix", p.sock)
	if err != nil {
		p.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(p.list), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with down
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
}

// down stops serving, cutting the reads in flight.
func (p *podsAgent) down() {
	p.mu.Lock()
	srv := p.srv
	p.mu.Unlock()
	_ = srv.Close()
}

func (p *podsAgent) setFailing(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing, p.fails = on, 0
}

func (p *podsAgent) failedReads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fails
}

// change applies fn to the pods as one new state index.
func (p *podsAgent) change(fn func(pods *[]api.ClusterPod)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(&p.pods)
	p.index++
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *podsAgent) list(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/objects/pods" {
		http.NotFound(w, r)
		return
	}
	p.mu.Lock()
	if p.failing {
		p.fails++
		p.mu.Unlock()
		writeJSONResp(w, http.StatusServiceUnavailable, api.Error{Message: "agent restarting"})
		return
	}
	p.mu.Unlock()
	if v := r.URL.Query().Get("index"); v != "" {
		n, _ := strconv.ParseUint(v, 10, 64)
		for {
			p.mu.Lock()
			at, ch := p.index, p.changed
			p.mu.Unlock()
			if at != n {
				break
			}
			select {
			case <-ch:
			case <-r.Context().Done():
				return
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set(api.IndexHeader, strconv.FormatUint(p.index, 10))
	writeJSONResp(w, http.StatusOK, p.pods)
}

func fakePod(name, uid, phase string, restarts int32) api.ClusterPod {
	var p api.ClusterPod
	p.Name, p.Namespace, p.UID, p.CreationTimestamp = name, "default", uid, time.Now().Add(-time.Minute)
	p.Spec.Containers = []api.ContainerSpec{{Name: "main", Image: "busybox"}}
	p.Status.Phase = phase
	p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "main", Ready: phase == "Running", RestartCount: restarts}}
	return p
}

// `get pods -w` prints the table, then a row for each pod that is added or
// changes (not for the unchanged ones, and no header again); when the agent
// goes away it says so once on stderr however often the reads fail, and
// when it is back it prints what changed meanwhile: a pod gone shows as
// Terminating. Cancelling the context ends it with exit 0.
func TestGetPodsWatch(t *testing.T) {
	agent := newPodsAgent(t)
	agent.change(func(pods *[]api.ClusterPod) { *pods = append(*pods, fakePod("web-a", "uid-a", "Running", 0)) })
	out, errOut, stop := background(t, "-H", "unix://"+agent.sock, "get", "pods", "-w")
	eventually(t, "the table", 10*time.Second, func() bool { return hasLine(out.String(), "web-a 1/1 Running 0") })
	if l := lines(out.String()); len(l) != 2 || l[0] != "NAME READY STATUS RESTARTS AGE" {
		t.Fatalf("table: %q", l)
	}

	agent.change(func(pods *[]api.ClusterPod) { *pods = append(*pods, fakePod("web-b", "uid-b", "Pending", 0)) })
	eventually(t, "web-b's row", 10*time.Second, func() bool { return hasLine(out.String(), "web-b 0/1 Pending 0") })
	agent.change(func(pods *[]api.ClusterPod) { (*pods)[1] = fakePod("web-b", "uid-b", "Running", 0) })
	eventually(t, "web-b running", 10*time.Second, func() bool { return hasLine(out.String(), "web-b 1/1 Running 0") })
	// A replacement under the same name is another pod (another UID).
	agent.change(func(pods *[]api.ClusterPod) { (*pods)[0] = fakePod("web-a", "uid-a2", "Pending", 0) })
	eventually(t, "web-a's replacement", 10*time.Second, func() bool { return hasLine(out.String(), "web-a 0/1 Pending 0") })
	eventually(t, "web-a's old copy gone", 10*time.Second, func() bool { return hasLine(out.String(), "web-a 1/1 Terminating 0") })

	agent.setFailing(true)
	agent.down() // cuts the read in flight
	agent.serve()
	eventually(t, "three failed reads", 20*time.Second, func() bool { return agent.failedReads() >= 3 })
	agent.change(func(pods *[]api.ClusterPod) { *pods = (*pods)[:1] }) // web-b goes meanwhile
	agent.setFailing(false)
	eventually(t, "web-b gone", 20*time.Second, func() bool { return hasLine(out.String(), "web-b 1/1 Terminating 0") })

	if code := stop(); code != 0 {
		t.Fatalf("exit %d after the context ended; stderr %q", code, errOut.String())
	}
	want := []string{
		"NAME READY STATUS RESTARTS AGE",
		"web-a 1/1 Running 0",
		"web-b 0/1 Pending 0",
		"web-b 1/1 Running 0",
		"web-a 0/1 Pending 0",
		"web-a 1/1 Terminating 0",
		"web-b 1/1 Terminating 0",
	}
	got := lines(out.String())
	if len(got) != len(want) {
		t.Fatalf("output:\n%s\nwant the rows %q", out.String(), want)
	}
	if got[0] != want[0] {
		t.Errorf("header %q, want %q", got[0], want[0])
	}
	for i := 1; i < len(want); i++ {
		if !strings.HasPrefix(got[i], want[i]+" ") {
			t.Errorf("line %d: %q, want %q and the age", i, got[i], want[i])
		}
	}
	if n := strings.Count(errOut.String(), "retrying"); n != 1 {
		t.Errorf("stderr reports the failing agent %d times, want once:\n%s", n, errOut.String())
	}
}

// With -o json a watch prints each object as its own JSON document: the
// list's, then each changed one.
func TestGetPodsWatchJSON(t *testing.T) {
	agent := newPodsAgent(t)
	agent.change(func(pods *[]api.ClusterPod) { *pods = []api.ClusterPod{fakePod("web-a", "uid-a", "Pending", 0)} })
	out, _, stop := background(t, "-H", "unix://"+agent.sock, "get", "pods", "-w", "-o", "json")
	decode := func() []api.ClusterPod {
		var got []api.ClusterPod
		dec := json.NewDecoder(strings.NewReader(out.String()))
		for {
			var p api.ClusterPod
			if err := dec.Decode(&p); err != nil {
				return got
			}
			got = append(got, p)
		}
	}
	eventually(t, "the first object", 10*time.Second, func() bool { return len(decode()) == 1 })
	agent.change(func(pods *[]api.ClusterPod) { (*pods)[0] = fakePod("web-a", "uid-a", "Running", 0) })
	eventually(t, "the changed object", 10*time.Second, func() bool { return len(decode()) == 2 })
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := decode(); got[0].Status.Phase != "Pending" || got[1].Status.Phase != "Running" {
		t.Fatalf("objects: %+v", got)
	}
}

// The table a watch starts with is aligned as `get` aligns it, and later
// rows keep its columns.
func TestWatchTableAlignsAsGet(t *testing.T) {
	header := []string{"NAME", "READY", "STATUS", "AGE"}
	rows := []getRow{
		{key: "a", cells: []string{"web-5d8f9-x7k2p", "1/1", "Running", ""}, ageAt: 3, since: time.Now()},
		{key: "b", cells: []string{"db", "0/1", "Pending", ""}, ageAt: 3, since: time.Now()},
	}
	var want, got bytes.Buffer
	if err := printRows(&want, header, rows); err != nil {
		t.Fatal(err)
	}
	o := &watchOutput{w: &got, format: formatTable}
	if err := o.first(header, rows); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("watch table:\n%s\nget table:\n%s", got.String(), want.String())
	}
	got.Reset()
	if err := o.next(getRow{cells: []string{"x", "1/1", "Running", ""}, ageAt: 3, since: time.Now()}, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	first := strings.Split(want.String(), "\n")[1]
	if col := strings.Index(got.String(), "1/1"); col != strings.Index(first, "1/1") {
		t.Fatalf("a later row %q does not keep the columns of %q", got.String(), first)
	}
}

// A watch of an agent that cannot be reached fails at once, as get does;
// so does a bad -o.
func TestGetWatchFailsAtOnce(t *testing.T) {
	code, _, stderr := run(t, "", "-H", noAgent(t), "get", "pods", "-w")
	if code != ExitEngine || !strings.Contains(stderr, "cannot reach") {
		t.Fatalf("unreachable: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = run(t, "", "-H", noAgent(t), "get", "pods", "--watch", "-o", "xml")
	if code != ExitEngine || !strings.Contains(stderr, `-o "xml"`) {
		t.Fatalf("-o xml: exit %d, stderr %q", code, stderr)
	}
}
