//go:build linux

package tini

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Main runs args (the command after an optional "--") as the init's child and
// returns its exit code, 128+n when a signal n killed it.
func Main(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "kedge-init: no command given")
		return 127
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "kedge-init: %v\n", err)
		if os.IsNotExist(err) || err == exec.ErrNotFound {
			return 127
		}
		return 126
	}
	child := cmd.Process.Pid
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			s := sig.(syscall.Signal)
			if s != syscall.SIGURG { // the Go runtime's preemption signal
				_ = unix.Kill(child, s)
			}
			continue
		}
		// Reap everything that has exited; the command's end ends the init.
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			if pid == child {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
	return 0
}
