//go:build linux

package runtime

import (
	"testing"
)

func TestStartEcho(t *testing.T) {
	needRoot(t)
	out, st := sh(t, "echo hello; echo $$; hostname")
	if st.Code != 0 {
		t.Fatalf("exit %d, output %q", st.Code, out)
	}
	if out != "hello\n1\nbox\n" {
		t.Fatalf("output %q, want hello, pid 1, hostname box", out)
	}
}
