package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"kedge/api"
	"kedge/web/ui"
)

// findChromium returns the browser's path. Without one the test skips when
// unprivileged and fails as root, because CI runs as root and installs it.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "headless Chromium not found: install Debian's chromium package (apt-get install -y chromium)"
	if os.Geteuid() == 0 {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newPageServer serves the status page, the cluster API and sign-in over
// TLS behind the auth middleware, wired as in server.go.
func newPageServer(t *testing.T, view ClusterView) *httptest.Server {
	t.Helper()
	log := testLogger(t)
	auth := NewAuth(checkToken, nil, log)
	cluster := NewClusterAPI(view, log, ClusterAPIOptions{})
	page, err := ui.New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	registerClusterReads(mux, cluster)
	mux.HandleFunc("POST /v1/auth/login", auth.Login)
	mux.HandleFunc("POST /v1/auth/logout", auth.Logout)
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+ui.AssetsPrefix, page)
	srv := httptest.NewTLSServer(auth.Middleware(mux))
	t.Cleanup(func() {
		cluster.Close() // ends the page's watch stream, or Close would wait for it
		srv.Close()
	})
	return srv
}

// browserLog collects what the browser and the page say, for failures.
type browserLog struct {
	mu    sync.Mutex
	lines []string
}

func (b *browserLog) add(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, fmt.Sprintf(format, args...))
}

func (b *browserLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// listen records the page's console and uncaught exceptions; it runs on
// chromedp's reader goroutine and must return fast.
func (b *browserLog) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		b.add("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		desc := d.Text
		if d.Exception != nil {
			desc += " " + d.Exception.Description
		}
		b.add("exception at %s:%d: %s", d.URL, d.LineNumber, desc)
	}
}

// TestStatusPageInBrowser signs in through the form, sees the cluster and
// its workloads, and sees a node go down and a pod come up elsewhere
// without reloading the page.
func TestStatusPageInBrowser(t *testing.T) {
	chromium := findChromium(t)
	view := newFakeView(3)
	srv := newPageServer(t, view)

	// Trust exactly the test server's key rather than ignoring every
	// certificate error: Chromium honours this flag with --user-data-dir.
	spki := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	blog := &browserLog{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
		chromedp.CombinedOutput(writerFunc(func(p []byte) { blog.add("chromium: %s", strings.TrimSpace(string(p))) })),
	)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx,
		chromedp.WithListener(blog.listen),
		chromedp.WithErrorf(func(f string, a ...any) { blog.add("chromedp: "+f, a...) }),
	)
	// Cleanups run last-in first-out: the browser goes before the server.
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // waits for Chromium to exit, before TempDir is removed
		cancel()
		if t.Failed() {
			t.Logf("browser log:\n%s", blog.String())
		}
	})

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
	}
	// until waits for a JavaScript condition; Poll gives up at its timeout.
	until := func(what, cond string) {
		t.Helper()
		step(what, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(15*time.Second))(ctx, tg)
			return err
		}))
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}

	step("open the page and see the sign-in form",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	step("sign in with a wrong token",
		chromedp.SendKeys(chromedp.ID("token"), badToken),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	until("the form says the token is wrong", `document.getElementById('login-error').textContent === 'Invalid token.'`)
	step("sign in with the right token",
		runJS(`document.getElementById('token').value = ''`),
		chromedp.SendKeys(chromedp.ID("token"), adminToken),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	until("the dashboard shows 3 nodes, live", `
		document.getElementById('login').hidden &&
		document.querySelectorAll('#nodes tbody tr[data-node-id]').length === 3 &&
		document.getElementById('live').dataset.live === 'live'`)

	if got := eval(`document.querySelector('#nodes tbody tr:has(.badge.leader) th').firstChild.textContent`); got != "node-1" {
		t.Errorf("leader row: %q, want node-1", got)
	}
	if got := eval(`document.getElementById('s-leader').textContent`); got != "node-1" {
		t.Errorf("leader in the summary: %q", got)
	}
	if got := eval(`document.getElementById('s-cluster').textContent`); got != "c0ffee42" {
		t.Errorf("cluster id: %q", got)
	}
	if got := eval(`document.getElementById('status-line').textContent`); !strings.HasPrefix(got, "Healthy") {
		t.Errorf("status line: %q", got)
	}
	if got := eval(`document.querySelectorAll('#events li[data-index]').length + ''`); got != "3" {
		t.Errorf("events listed: %s, want 3", got)
	}
	if got := eval(`document.cookie`); strings.Contains(got, TokenCookie) {
		t.Errorf("the token cookie is readable from JavaScript: %q", got)
	}

	// The workloads card: web is degraded (2/3), its pods listed.
	const web = `document.querySelector('#workloads tbody[data-workload="Deployment/default/web"]')`
	until("the workloads card shows web 2/3 ready with its 3 pods", `(() => {
		const web = `+web+`;
		return !!web && web.dataset.health === 'degraded' &&
			web.querySelector('.ready-count').textContent === '2/3' &&
			web.querySelectorAll('tr[data-pod]').length === 3;
	})()`)
	podRows := func() string {
		t.Helper()
		return eval(`JSON.stringify(Array.from(` + web + `.querySelectorAll('tr[data-pod]'), (r) => Array.from(r.cells, (c) => c.textContent)))`)
	}
	if got, want := podRows(), `[["web-7d9f-a","node-1","Running","yes","0"],["web-7d9f-b","node-2","Running","yes","1"],["web-7d9f-c","node-3","Pending","no","0"]]`; got != want {
		t.Errorf("web's pods:\n got %s\nwant %s", got, want)
	}
	if got := eval(web + `.querySelector('tr.workload th[scope="rowgroup"]').textContent`); got != "Deployment default/web 2/3 ready degraded" {
		t.Errorf("web's header: %q", got)
	}
	if got := eval(`document.querySelector('#workloads tbody[data-workload="DaemonSet/kube-system/log-agent"]').dataset.health`); got != "ok" {
		t.Errorf("log-agent health: %q, want ok", got)
	}
	if got := eval(`document.getElementById('workloads-summary').textContent`); got != "2 workloads, 6 pods · 1 degraded" {
		t.Errorf("workloads summary: %q", got)
	}
	// The Pods column, node-1 to node-3 (web's pods and a log-agent pod each).
	const podsColumn = `Array.from(document.querySelectorAll('#nodes tbody tr[data-node-id]'), (r) => r.querySelector('td.pods').textContent).join(',')`
	if got := eval(`document.querySelector('#nodes thead th:last-child').textContent`); got != "Pods" {
		t.Errorf("last nodes column: %q, want Pods", got)
	}
	if got := eval(podsColumn); got != "2,2,2" {
		t.Errorf("pods per node: %s, want 2,2,2", got)
	}
	// The stylesheet applies under the CSP: degraded and ok differ in colour.
	readyColor := `getComputedStyle(` + web + `.querySelector('.ready-count')).color`
	degradedColor := eval(readyColor)
	if okColor := eval(`getComputedStyle(document.querySelector('#workloads tbody[data-health="ok"] .ready-count')).color`); okColor == degradedColor {
		t.Errorf("ok and degraded ready counts have the same colour %s", okColor)
	}

	// Mark this page load: a reload would lose the mark.
	eval(`(window.__kedgeLoad = 'first', window.__kedgeLoad)`)
	view.setNodeState("node-3", api.NodeDown)
	until("node-3 shows down without a reload", `
		window.__kedgeLoad === 'first' &&
		document.querySelector('#nodes tr[data-node-id^="03"]').dataset.state === 'down' &&
		document.querySelector('#nodes tr[data-node-id^="03"] .state').textContent === 'down' &&
		document.querySelector('#events li').textContent.includes('node-3 is down') &&
		document.getElementById('status-line').textContent.includes('1 down') &&
		document.querySelectorAll('#warnings li').length === 1`)

	// web's third pod comes up on node-1: the card and the Pods column follow.
	view.setPod("default", "web", "web-7d9f-c", func(p *api.PodSummary) {
		p.Node, p.Phase, p.Ready = "node-1", "Running", true
	})
	until("web-7d9f-c runs on node-1 and web is 3/3, without a reload", `(() => {
		const web = `+web+`;
		const c = web && web.querySelector('tr[data-pod="web-7d9f-c"]');
		return window.__kedgeLoad === 'first' && !!c &&
			web.dataset.health === 'ok' &&
			web.querySelector('.ready-count').textContent === '3/3' &&
			!web.querySelector('.badge') &&
			c.querySelector('.node').textContent === 'node-1' &&
			c.dataset.ready === 'true' &&
			`+podsColumn+` === '3,2,1' &&
			document.getElementById('workloads-summary').textContent === '2 workloads, 6 pods · all ready';
	})()`)
	if got, want := podRows(), `[["web-7d9f-a","node-1","Running","yes","0"],["web-7d9f-b","node-2","Running","yes","1"],["web-7d9f-c","node-1","Running","yes","0"]]`; got != want {
		t.Errorf("web's pods after the change:\n got %s\nwant %s", got, want)
	}
	if got := eval(readyColor); got == degradedColor {
		t.Errorf("web's ready count kept the degraded colour %s", got)
	}

	step("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	if got := eval(`fetch('/v1/cluster/status').then(r => String(r.status))`); got != "401" {
		t.Errorf("status after sign-out: %s, want 401", got)
	}
}

// runJS is an action that runs a JavaScript statement in the page.
func runJS(stmt string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("("+stmt+", true)")(ctx, t)
		return err
	})
}

// writerFunc adapts a func to io.Writer.
type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) {
	f(p)
	return len(p), nil
}
