package cli

import (
	"strings"
	"testing"
)

// TestDrainTimeout: drain waits for the node's pods to move; --timeout gives
// up with what is left as it is, and a drain that finishes names the node.
func TestDrainTimeout(t *testing.T) {
	fa := newFakeAgent(t)
	code, out, errOut := run(t, "", "-H", fa.host, "drain", "n1")
	if code != 0 || strings.TrimSpace(out) != "n1" {
		t.Fatalf("drain n1: code %d, out %q, err %q", code, out, errOut)
	}
	code, _, errOut = run(t, "", "-H", fa.host, "drain", "stuck", "--timeout", "200ms")
	if code == 0 || !strings.Contains(errOut, "not all replaced elsewhere within 200ms") || !strings.Contains(errOut, "kedge uncordon stuck") {
		t.Fatalf("drain stuck --timeout 200ms: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut = run(t, "", "-H", fa.host, "cordon", "--timeout", "1s", "n1"); code == 0 {
		t.Fatalf("cordon took --timeout: %q", errOut)
	}
}
