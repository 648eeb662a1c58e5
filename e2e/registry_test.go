package e2e

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Push to a registry and pull back through the CLI and the agent, with
// go-containerregistry's in-memory registry on loopback as the registry.
func TestPushPullRunThroughARegistry(t *testing.T) {
	a := startAgent(t)
	a.importBusybox()
	reg := httptest.NewServer(registry.New())
	defer reg.Close()
	ref := strings.TrimPrefix(reg.URL, "http://") + "/kedge/busybox:e2e"
	if _, errOut, err := a.kedge("tag", "busybox", ref); err != nil {
		t.Fatalf("tag: %v %s", err, errOut)
	}
	if out, errOut, err := a.kedge("push", "--insecure", ref); err != nil {
		t.Fatalf("push: %v %s %s", err, out, errOut)
	}
	if _, errOut, err := a.kedge("rmi", ref); err != nil {
		t.Fatalf("rmi: %v %s", err, errOut)
	}
	if out, _, _ := a.kedge("images", "-q"); len(strings.Fields(out)) != 1 {
		t.Fatalf("images after rmi: %q", out)
	}
	if out, errOut, err := a.kedge("pull", "--insecure", ref); err != nil {
		t.Fatalf("pull: %v %s %s", err, out, errOut)
	}
	out, errOut, err := a.kedge("run", "--rm", ref, "echo", "pulled")
	if err != nil || out != "pulled\n" {
		t.Fatalf("run of the pulled image: %q %q %v", out, errOut, err)
	}
	// A missing image is pulled by run (Docker's --pull missing).
	ref2 := strings.TrimPrefix(reg.URL, "http://") + "/kedge/other:1"
	a.kedge("tag", "busybox", ref2)
	a.kedge("push", "--insecure", ref2)
	a.kedge("rmi", ref2)
	if out, errOut, err := a.kedge("run", "--rm", ref2, "echo", "auto"); err != nil || !strings.HasSuffix(out, "auto\n") {
		t.Fatalf("run with auto-pull: %q %q %v", out, errOut, err)
	}
	if _, errOut, err := a.kedge("pull", "--insecure", strings.TrimPrefix(reg.URL, "http://")+"/kedge/missing:1"); exitCode(err) != 125 || !strings.Contains(errOut, "missing") {
		t.Fatalf("pull of a missing image: exit %d, %q", exitCode(err), errOut)
	}
}
