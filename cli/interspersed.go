package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// kubectlStyle are the commands whose flags may follow their arguments, as
// with kubectl (`kedge scale deployment web --replicas 3`). Docker-style
// commands (run, exec ...) keep urfave's rule: flags first, since what
// follows the image or container belongs to the command inside.
var kubectlStyle = map[string]bool{
	"apply": true, "get": true, "delete": true, "scale": true, "describe": true, "rollout": true,
	"cordon": true, "uncordon": true, "drain": true, "nodes": true, "status": true, "token": true, "node": true,
	"join": true, "leave": true, "init": true, "snapshot": true, "recover": true,
}

// intersperse moves the flags of a kubectl-style command before its
// positional arguments, so urfave parses them wherever they were written.
func intersperse(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// Global flags come first; find the command.
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if f := findFlag(app.Flags, args[i]); f != nil && takesValue(f) && !strings.Contains(args[i], "=") {
			i++
		}
		i++
	}
	if i >= len(args) || !kubectlStyle[args[i]] {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	i++
	for i < len(args) && len(cmd.Subcommands) > 0 {
		sub := cmd.Command(args[i])
		if sub == nil {
			break
		}
		cmd = sub
		i++
	}
	head := append([]string{}, args[:i]...)
	var flags, positional []string
	for j := i; j < len(args); j++ {
		a := args[j]
		if a == "--" {
			positional = append(positional, args[j:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			if f := findFlag(cmd.Flags, a); f != nil && takesValue(f) && !strings.Contains(a, "=") && j+1 < len(args) {
				j++
				flags = append(flags, args[j])
			}
			continue
		}
		positional = append(positional, a)
	}
	return append(append(head, flags...), positional...)
}

func findFlag(flags []cli.Flag, arg string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.TakesValue()
	}
	return true
}
