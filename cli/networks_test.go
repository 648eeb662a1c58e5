package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `network create --cni-config` reads the conflist on the CLI's side (the
// agent may be another machine): a missing file or one that is not JSON
// fails before any request.
func TestNetworkCreateCNIConfigErrors(t *testing.T) {
	host := noAgent(t)
	bad := filepath.Join(t.TempDir(), "bad.conflist")
	if err := os.WriteFile(bad, []byte(`{"cniVersion":"1.0.0","name":`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"network", "create", "--cni-config", "/nonexistent/x.conflist", "lab"}, "", "--cni-config: open /nonexistent/x.conflist"},
		{[]string{"network", "create", "--cni-config", bad, "lab"}, "", "not valid JSON"},
		{[]string{"network", "create", "--cni-config", "-", "lab"}, "nope", "--cni-config -: not valid JSON"},
		{[]string{"network", "create", "--cni-config", "-", "lab"}, `{"x":"` + strings.Repeat("a", maxCNIConfig) + `"}`, "larger than"},
	} {
		code, _, stderr := run(t, tt.stdin, append([]string{"-H", host}, tt.args...)...)
		if code != ExitEngine || !strings.Contains(stderr, tt.want) {
			t.Errorf("kedge %v: exit %d, stderr %q, want 125 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
