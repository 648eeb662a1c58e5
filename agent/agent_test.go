package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kedge/engine/reexec"
)

func TestMain(m *testing.M) {
	if code, ok := reexec.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent runs real containers and needs root")
	}
}

func TestSecondAgentOnTheSameSocketIsRefused(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	cfg := &Config{DataDir: filepath.Join(dir, "a"), Socket: filepath.Join(dir, "k.sock")}
	a, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := &Config{DataDir: filepath.Join(dir, "b"), Socket: cfg.Socket}
	if _, err := Start(context.Background(), cfg2); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second agent on the same socket: %v", err)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.Socket); !os.IsNotExist(err) {
		t.Fatalf("socket left after Stop: %v", err)
	}
}

func TestConfigErrorsAreClear(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	cfg := &Config{DataDir: dir, Socket: filepath.Join(dir, "k.sock"), Defaults: ContainerDefaults{LogMaxSize: "lots"}}
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "log_max_size") {
		t.Fatalf("bad log_max_size: %v", err)
	}
}

// The demo builds its image from the kedge binary, runs it and serves the
// page until cancelled, then removes its container.
func TestDemoServesItsPage(t *testing.T) {
	needRoot(t)
	bin := filepath.Join(t.TempDir(), "kedge")
	build := exec.Command("go", "build", "-o", bin, "kedge")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kedge: %v\n%s", err, out)
	}
	port := freePort(t)
	dir := t.TempDir()
	cfg := &Config{DataDir: dir, Socket: filepath.Join(dir, "k.sock"), Binary: bin}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Demo(ctx, cfg, DemoOptions{Port: port}, pw)
		pw.Close()
	}()
	url, clusterURL := "", ""
	sc := bufio.NewScanner(pr)
	for sc.Scan() && (url == "" || clusterURL == "") {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "Demo page: "); ok {
			url = u
		}
		if u, ok := strings.CutPrefix(line, "Cluster status page: "); ok {
			clusterURL, _, _ = strings.Cut(u, " ")
		}
		if strings.HasPrefix(line, "Try: ") {
			break // the last line: whatever was not printed will not be
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" || clusterURL == "" {
		cancel()
		t.Fatalf("demo printed no page URL (%q) or cluster status page (%q): %v", url, clusterURL, <-done)
	}
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := insecure.Get(clusterURL); err != nil || resp.StatusCode != 200 {
		t.Fatalf("cluster status page %s: %v %v", clusterURL, resp, err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Kedge") {
		t.Fatalf("demo page: %d %q", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Fatal("demo page still served after the demo stopped")
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var port int
	fmt.Sscanf(ln.Addr().String()[strings.LastIndex(ln.Addr().String(), ":")+1:], "%d", &port)
	return port
}
