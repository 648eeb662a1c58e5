package cli

// Terminal handling for -t: raw mode on the user's terminal, restored on
// exit, and the terminal size sent to the container at start and on every
// SIGWINCH.

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"
)

// terminal is the user's terminal while a -t session runs.
type terminal struct {
	inFd, outFd int
	inTTY       bool
	outTTY      bool
	saved       *term.State
}

// openTerminal looks at the command's streams; raw puts stdin in raw mode
// when it is a terminal. Close restores it.
func openTerminal(stdin io.Reader, stdout io.Writer, raw bool) (*terminal, error) {
	t := &terminal{inFd: -1, outFd: -1}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.inFd, t.inTTY = int(f.Fd()), true
	}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.outFd, t.outTTY = int(f.Fd()), true
	}
	if raw && t.inTTY {
		st, err := term.MakeRaw(t.inFd)
		if err != nil {
			return nil, err
		}
		t.saved = st
	}
	return t, nil
}

// Close restores the terminal's mode.
func (t *terminal) Close() {
	if t.saved != nil {
		_ = term.Restore(t.inFd, t.saved)
		t.saved = nil
	}
}

// size returns the terminal's width and height, if there is a terminal.
func (t *terminal) size() (uint16, uint16, bool) {
	for _, fd := range []int{t.outFd, t.inFd} {
		if fd < 0 {
			continue
		}
		if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
			return uint16(w), uint16(h), true
		}
	}
	return 0, 0, false
}

// followSize calls resize with the terminal's size now and whenever it
// changes, until ctx ends. It returns at once when there is no terminal.
func (t *terminal) followSize(ctx context.Context, resize func(w, h uint16) error) {
	w, h, ok := t.size()
	if !ok {
		return
	}
	_ = resize(w, h)
	changes, stop := notifyResize()
	go func() {
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changes:
				if w, h, ok := t.size(); ok {
					_ = resize(w, h)
				}
			}
		}
	}()
}

// isTerminal says whether w is a terminal (for progress displays).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
