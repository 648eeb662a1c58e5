// Package reexec names the hidden entry points that the kedge binary runs when
// it re-executes itself (the container init and the per-container supervisor),
// or runs inside a container as its --init,
// and dispatches to them before the CLI parses anything.
package reexec

import (
	"path/filepath"

	"kedge/engine/runtime"
	"kedge/engine/shim"
	"kedge/engine/tini"
	"kedge/net/cni"
)

// Dispatch runs the re-executed entry point named by args[1], if any, and
// reports its exit code. ok is false when args name no such entry point.
func Dispatch(args []string) (code int, ok bool) {
	if len(args) > 0 && filepath.Base(args[0]) == tini.Name {
		return tini.Main(args[1:]), true
	}
	// libcni runs kedge's network plugin through a symlink of this name.
	if len(args) > 0 && filepath.Base(args[0]) == cni.PluginName {
		return cni.PluginMain(args), true
	}
	if len(args) < 2 {
		return 0, false
	}
	switch args[1] {
	case runtime.InitCommand:
		return runtime.InitMain(args[2:]), true
	case shim.Command:
		return shim.Main(args[2:]), true
	}
	return 0, false
}
