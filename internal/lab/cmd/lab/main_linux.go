//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"kedge/internal/lab"
)

const usage = `usage: lab [--dir DIR] COMMAND
  up N [--binary PATH] [--subnet CIDR] [--no-agents] [-- AGENT-ARGS...]
  down | ls | heal-partition
  gc                      close the labs of dead test processes (in $TMPDIR)
  start H [AGENT-ARGS...] | stop H
  kill H [--supervisors | --all]
  pause H | resume H | cut H | heal H | ip H | logs H
  partition GROUP...      a group is host numbers, e.g. partition 1,2 3
  exec H CMD [ARGS...]    "kedge" runs the lab's binary; KEDGE_HOST is set
DIR defaults to $KEDGE_LAB_DIR, then /tmp/kedge-lab. H is 1, h1 or the netns name.
AGENT-ARGS may use {name} {n} {ip} {dir} {socket}, expanded per host.`

// errUsage reports a bad command line.
var errUsage = errors.New(usage)

func main() {
	code, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// run executes one command and returns the exit code.
func run(args []string) (int, error) {
	dir := os.Getenv("KEDGE_LAB_DIR")
	if dir == "" {
		dir = "/tmp/kedge-lab"
	}
	for len(args) > 0 && strings.HasPrefix(args[0], "--dir") {
		if v, ok := strings.CutPrefix(args[0], "--dir="); ok {
			dir, args = v, args[1:]
		} else if args[0] == "--dir" && len(args) > 1 {
			dir, args = args[1], args[2:]
		} else {
			return 2, errUsage
		}
	}
	if len(args) == 0 {
		return 2, errUsage
	}
	cmd, args := args[0], args[1:]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch cmd {
	case "up":
		return 0, up(ctx, dir, args)
	case "down":
		l, err := lab.Open(dir)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Printf("no lab in %s\n", dir)
			return 0, nil
		}
		if err != nil {
			return 1, err
		}
		return 0, l.Close()
	case "gc":
		dirs, err := lab.CloseStale()
		for _, d := range dirs {
			fmt.Println("closed stale lab", d)
		}
		return 0, err
	case "help", "-h", "--help":
		fmt.Println(usage)
		return 0, nil
	}
	l, err := lab.Open(dir)
	if err != nil {
		return 1, fmt.Errorf("%w (is a lab up? lab.sh up N)", err)
	}
	switch cmd {
	case "ls":
		return 0, list(l)
	case "heal-partition":
		return 0, l.HealPartition()
	case "partition":
		return partition(l, args)
	}
	if len(args) == 0 {
		return 2, errUsage
	}
	h, err := l.Lookup(args[0])
	if err != nil {
		return 2, err
	}
	rest := args[1:]
	switch cmd {
	case "start":
		for i, a := range rest {
			rest[i] = h.Expand(a)
		}
		if err := h.Start(ctx, rest...); err != nil {
			return 1, err
		}
		return 0, h.WaitReady(ctx)
	case "stop":
		return 0, h.Stop(ctx)
	case "kill":
		return kill(h, rest)
	case "pause":
		return 0, h.Pause()
	case "resume":
		return 0, h.Resume()
	case "cut":
		return 0, h.Cut()
	case "heal":
		return 0, h.Heal()
	case "ip":
		fmt.Println(h.IP)
		return 0, nil
	case "logs":
		fmt.Print(h.Log())
		return 0, nil
	case "exec":
		return execIn(l, h, rest)
	}
	return 2, errUsage
}

func up(ctx context.Context, dir string, args []string) error {
	cfg := lab.Config{Dir: dir}
	agents := true
	var agentArgs []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			agentArgs = args[i+1:]
			i = len(args)
		case a == "--no-agents":
			agents = false
		case (a == "--binary" || a == "--subnet") && i+1 < len(args):
			if a == "--binary" {
				cfg.Binary = args[i+1]
			} else {
				cfg.Subnet = args[i+1]
			}
			i++
		case cfg.Hosts == 0:
			n, err := strconv.Atoi(a)
			if err != nil {
				return fmt.Errorf("up: host count %q: %w", a, err)
			}
			cfg.Hosts = n
		default:
			return errUsage
		}
	}
	if cfg.Hosts == 0 {
		return errUsage
	}
	l, err := lab.New(ctx, cfg)
	if err != nil {
		return err
	}
	if agents && l.Binary != "" {
		if err := l.StartAll(ctx, agentArgs...); err != nil {
			return errors.Join(err, l.Close())
		}
	}
	return list(l)
}

func list(l *lab.Lab) error {
	fmt.Printf("lab %s in %s: subnet %s, bridge %s, binary %s\n", l.ID, l.Dir, l.Subnet, l.Gateway, l.Binary)
	if p := l.Partitioned(); p != nil {
		fmt.Printf("partition: %v (hosts in no group form one more)\n", p)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HOST\tIP\tNETNS\tAGENT\tPID\tLINK\tSOCKET")
	for _, h := range l.Hosts {
		link := "up"
		if cut, err := h.IsCut(); err != nil {
			link = "?"
		} else if cut {
			link = "cut"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", h.Name, h.IP, h.NetNS, h.AgentState(), h.PID(), link, h.Socket)
	}
	return w.Flush()
}

func partition(l *lab.Lab, args []string) (int, error) {
	if len(args) == 0 {
		return 2, errUsage
	}
	var groups [][]int
	for _, a := range args {
		var g []int
		for _, f := range strings.Split(a, ",") {
			n, err := strconv.Atoi(strings.TrimPrefix(f, "h"))
			if err != nil {
				return 2, fmt.Errorf("partition: host %q: %w", f, err)
			}
			g = append(g, n)
		}
		groups = append(groups, g)
	}
	return 0, l.Partition(groups...)
}

func kill(h *lab.Host, args []string) (int, error) {
	switch {
	case len(args) == 0:
		return 0, h.Kill9()
	case len(args) == 1 && args[0] == "--supervisors":
		return 0, errors.Join(h.Kill9(), h.KillSupervisors())
	case len(args) == 1 && args[0] == "--all":
		return 0, h.Crash()
	}
	return 2, errUsage
}

// execIn runs a command in the host with the terminal's stdio and returns
// its exit code.
func execIn(l *lab.Lab, h *lab.Host, args []string) (int, error) {
	if len(args) == 0 {
		return 2, errUsage
	}
	if args[0] == "kedge" && l.Binary != "" {
		args[0] = l.Binary
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return 127, err
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "KEDGE_HOST=unix://"+h.Socket)
	// ^C goes to the command (same process group); we only wait for it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	if err := h.StartCmd(cmd); err != nil {
		return 127, err
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	return 0, err
}
