//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyResize delivers a value on every SIGWINCH until stop is called.
func notifyResize() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	return ch, func() { signal.Stop(ch) }
}
