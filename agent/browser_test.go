package agent

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kedge/api"
)

// The real status page of a real node, in headless Chromium: sign in with
// the admin token from init, see the node, and see a second node appear
// live, without a reload, when it joins.
func TestStatusPageOfARealClusterInBrowser(t *testing.T) {
	needRoot(t)
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
		}
	}
	if chromium == "" {
		const msg = "headless Chromium not found: install Debian's chromium package"
		if os.Geteuid() == 0 {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	n1, n2 := startNode(t, "web1", "127.0.0.51", ""), startNode(t, "web2", "127.0.0.52", "")
	ctx := context.Background()
	init, err := n1.client.ClusterInit(ctx, api.InitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Trust exactly the node's key (the cluster CA is not in Chromium's store).
	conn, err := tls.Dial("tcp", n1.ip+":7780", &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	conn.Close()

	bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(bctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
	)
	page, cancelPage := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelPage()
		cancelAlloc()
		cancel()
	})
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(page, actions...); err != nil {
			body, _ := chromedp.Run(page, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
	}
	until := func(what, cond string) {
		t.Helper()
		step(what, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
			return err
		}))
	}
	step("open the status page", chromedp.Navigate(init.Endpoint+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	step("sign in with the admin token",
		chromedp.SendKeys(chromedp.ID("token"), init.AdminToken),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	until("one node, the leader, live", `
		document.getElementById('login').hidden &&
		document.querySelectorAll('#nodes tbody tr[data-node-id]').length === 1 &&
		document.getElementById('s-leader').textContent === 'web1' &&
		document.getElementById('live').dataset.live === 'live'`)
	if _, err := chromedp.Run(page, chromedp.Evaluate[string](`(window.__mark = 'first', window.__mark)`)); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.client.ClusterJoin(ctx, api.JoinRequest{Addr: n1.ip, Token: init.Token}); err != nil {
		t.Fatal(err)
	}
	until("the joined node appears without a reload", `
		window.__mark === 'first' &&
		document.querySelectorAll('#nodes tbody tr[data-node-id]').length === 2 &&
		[...document.querySelectorAll('#nodes tbody tr[data-node-id]')].every(r => r.dataset.state === 'ready') &&
		document.body.innerText.includes('web2')`)
	text, _ := chromedp.Run(page, chromedp.Evaluate[string](`document.body.innerText`))
	if strings.Contains(text, init.AdminToken) {
		t.Fatal("the page shows the admin token")
	}
}
