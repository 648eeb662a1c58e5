package cli

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoginLogout(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	code, stdout, stderr := run(t, "s3cret\n", "login", "-u", "me", "--password-stdin", "https://reg.example.com/")
	if code != 0 {
		t.Fatalf("login: exit %d, %q %q", code, stdout, stderr)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil || json.Unmarshal(b, &cfg) != nil {
		t.Fatalf("config.json: %v %s", err, b)
	}
	if got := cfg.Auths["reg.example.com"].Auth; got != base64.StdEncoding.EncodeToString([]byte("me:s3cret")) {
		t.Errorf("stored auth %q in %s", got, b)
	}
	if u, p := registryCredentials(t.Context(), "reg.example.com/team/app:1", io.Discard); u != "me" || p != "s3cret" {
		t.Errorf("credentials for a pull = %q %q", u, p)
	}
	if u, _ := registryCredentials(t.Context(), "other.example.com/app", io.Discard); u != "" {
		t.Errorf("credentials leaked to another registry: %q", u)
	}
	if code, stdout, _ := run(t, "", "logout", "reg.example.com"); code != 0 || !strings.Contains(stdout, "Removed") {
		t.Errorf("logout: %d %q", code, stdout)
	}
	if u, _ := registryCredentials(t.Context(), "reg.example.com/team/app:1", io.Discard); u != "" {
		t.Errorf("credentials remain after logout: %q", u)
	}
}
