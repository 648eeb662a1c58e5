package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestLoadAgentConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadAgentConfig(filepath.Join(dir, "missing.yaml"), false)
	if err != nil || cfg.DataDir != "" {
		t.Errorf("missing default file: %+v, %v", cfg, err)
	}
	if _, err := LoadAgentConfig(filepath.Join(dir, "missing.yaml"), true); err == nil {
		t.Error("a missing explicit --config must be an error")
	}
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(good, []byte("data_dir: /srv/kedge\nnode_name: edge-1\nregistry:\n  insecure: [\"reg.local:5000\"]\ndefaults:\n  pids_limit: 100\n"), 0o644)
	cfg, err = LoadAgentConfig(good, true)
	if err != nil || cfg.DataDir != "/srv/kedge" || cfg.NodeName != "edge-1" || cfg.Registry.Insecure[0] != "reg.local:5000" || cfg.Defaults.PidsLimit != 100 {
		t.Errorf("good config: %+v, %v", cfg, err)
	}
	for name, body := range map[string]string{"malformed": "data_dir: [\n", "unknown": "data_dri: /x\n"} {
		p := filepath.Join(dir, name+".yaml")
		_ = os.WriteFile(p, []byte(body), 0o644)
		if _, err := LoadAgentConfig(p, false); err == nil {
			t.Errorf("%s config accepted", name)
		}
	}
	code, _, stderr := run(t, "", "agent", "--config", filepath.Join(dir, "malformed.yaml"))
	if code != ExitEngine || !strings.Contains(stderr, "malformed.yaml") {
		t.Errorf("agent with malformed config: exit %d, stderr %q", code, stderr)
	}
}

func TestDemoPage(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(demoHandler("Hello from Kedge", &n))
	defer srv.Close()
	for i := 1; i <= 2; i++ {
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		host, _ := os.Hostname()
		page := string(b)
		if resp.StatusCode != 200 || !strings.Contains(page, "Hello from Kedge") || !strings.Contains(page, host) ||
			!strings.Contains(page, `<dd id="requests">`+string(rune('0'+i))+`</dd>`) {
			t.Errorf("request %d: %d %s", i, resp.StatusCode, page)
		}
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
}
