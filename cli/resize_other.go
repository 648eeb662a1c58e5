//go:build !unix

package cli

import "os"

// notifyResize never fires where there is no SIGWINCH.
func notifyResize() (<-chan os.Signal, func()) {
	return make(chan os.Signal), func() {}
}
