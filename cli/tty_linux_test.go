package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"kedge/api"
)

// TestRunTTYRawModeResizeRestore runs `run -it` on a real pseudo terminal:
// the terminal size reaches the container, keys are sent without waiting
// for a newline (raw mode), and the terminal is restored afterwards.
func TestRunTTYRawModeResizeRestore(t *testing.T) {
	fa := newFakeAgent(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo terminals here: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	// The container's few output bytes stay in the pty's buffer: nothing
	// reads ptmx, since a blocking pty read cannot be interrupted by Close.
	type result struct{ code int }
	done := make(chan result, 1)
	var errb bytes.Buffer
	go func() {
		done <- result{RunWithIO([]string{"kedge", "-H", fa.host, "run", "-it", "busybox", "sh"}, tty, tty, &errb)}
	}()
	// Type "q" without a newline: only a raw terminal passes it on at once.
	deadline := time.Now().Add(10 * time.Second)
	var res result
	for got := false; !got; {
		if time.Now().After(deadline) {
			t.Fatal("run -it did not finish: keys are not sent in raw mode")
		}
		_, _ = ptmx.Write([]byte("q"))
		select {
		case res = <-done:
			got = true
		case <-time.After(200 * time.Millisecond):
		}
	}
	if res.code != 0 {
		t.Errorf("run -it: exit %d, stderr %q", res.code, errb.String())
	}
	fa.mu.Lock()
	resizes := append([]api.ResizeFrame(nil), fa.resizes...)
	fa.mu.Unlock()
	if len(resizes) == 0 || resizes[0] != (api.ResizeFrame{Width: 100, Height: 30}) {
		t.Errorf("resize frames %+v, want 100x30 first", resizes)
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("terminal not restored: lflag %#x -> %#x", before.Lflag, after.Lflag)
	}
	// Wake the CLI's stdin reader, still blocked on the terminal, so it
	// sees the closed stream and ends.
	_, _ = ptmx.Write([]byte("z"))
}
