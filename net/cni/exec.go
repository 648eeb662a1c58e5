package cni

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// supportedVersions are the CNI spec versions the plugin speaks.
var supportedVersions = version.PluginSupports("0.4.0", "1.0.0", "1.1.0")

// inProcessPath is the "path" InProcessExec.FindInPath gives kedge's plugin;
// no file by that name is ever executed.
const inProcessPath = "in-process:" + PluginName

// PluginMain runs kedge's CNI plugin as an executable: the command comes
// from CNI_COMMAND and the other CNI_* variables, the configuration from
// stdin, the result or error (as CNI JSON) goes to stdout. It returns the
// process's exit code. The re-exec dispatcher calls it when the binary is
// invoked as PluginName.
func PluginMain(args []string) int {
	_ = args // everything comes from the environment and stdin, as CNI specifies
	funcs := skel.CNIFuncs{
		Add: func(a *skel.CmdArgs) error {
			out, err := runCommand("ADD", a)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(os.Stdout, "%s\n", out)
			return err
		},
		Del:    func(a *skel.CmdArgs) error { _, err := runCommand("DEL", a); return err },
		Check:  func(a *skel.CmdArgs) error { _, err := runCommand("CHECK", a); return err },
		GC:     func(a *skel.CmdArgs) error { _, err := runCommand("GC", a); return err },
		Status: func(a *skel.CmdArgs) error { _, err := runCommand("STATUS", a); return err },
	}
	if e := skel.PluginMainFuncsWithError(funcs, supportedVersions, "kedge CNI plugin (bridge, host-local IPAM, port mappings)"); e != nil {
		_ = e.Print()
		return 1
	}
	return 0
}

// InProcessExec is a libcni invoke.Exec that runs kedge's plugin by calling
// its functions directly (no fork, no exec, sentinel errors preserved), and
// hands any other plugin type to Fallback (the ordinary exec of a binary
// found in the CNI path when nil).
type InProcessExec struct {
	Fallback invoke.Exec

	// pending counts veth deletions still running: in process, DEL hands
	// the host veth's deletion (which waits out a kernel RCU grace period,
	// 15-25 ms) to a goroutine, so a container's teardown does not wait for
	// it. Wait waits for them.
	pending sync.WaitGroup
}

// Wait returns when the link deletions that DEL started are done.
func (e *InProcessExec) Wait() { e.pending.Wait() }

// deleteLinkAsync deletes a link off the caller's path.
func (e *InProcessExec) deleteLinkAsync(name string) error {
	e.pending.Add(1)
	go func() {
		defer e.pending.Done()
		_ = deleteLink(name) // a failure leaves a veth that the next GC removes
	}()
	return nil
}

var _ invoke.Exec = (*InProcessExec)(nil)

func (e *InProcessExec) fallback() invoke.Exec {
	if e.Fallback != nil {
		return e.Fallback
	}
	return &invoke.DefaultExec{RawExec: &invoke.RawExec{}, PluginDecoder: version.PluginDecoder{}}
}

// FindInPath names kedge's plugin without a file lookup; others are searched in paths.
func (e *InProcessExec) FindInPath(plugin string, paths []string) (string, error) {
	if plugin == PluginName {
		return inProcessPath, nil
	}
	return e.fallback().FindInPath(plugin, paths)
}

// Decode decodes a plugin's VERSION answer.
func (e *InProcessExec) Decode(jsonBytes []byte) (version.PluginInfo, error) {
	return (&version.PluginDecoder{}).Decode(jsonBytes)
}

// ExecPlugin runs one CNI command of kedge's plugin in this process, or
// execs another plugin.
func (e *InProcessExec) ExecPlugin(ctx context.Context, pluginPath string, stdinData []byte, environ []string) ([]byte, error) {
	if pluginPath != inProcessPath {
		return e.fallback().ExecPlugin(ctx, pluginPath, stdinData, environ)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "CNI_") {
			env[k] = v
		}
	}
	cmd := env["CNI_COMMAND"]
	if cmd == "VERSION" {
		var b bytes.Buffer
		if err := supportedVersions.Encode(&b); err != nil {
			return nil, fmt.Errorf("encode version info: %w", err)
		}
		return b.Bytes(), nil
	}
	if cmd == "DEL" {
		return nil, del(&skel.CmdArgs{
			ContainerID: env["CNI_CONTAINERID"], Netns: env["CNI_NETNS"], IfName: env["CNI_IFNAME"],
			Args: env["CNI_ARGS"], Path: env["CNI_PATH"], StdinData: stdinData,
		}, e.deleteLinkAsync)
	}
	return runCommand(cmd, &skel.CmdArgs{
		ContainerID: env["CNI_CONTAINERID"],
		Netns:       env["CNI_NETNS"],
		IfName:      env["CNI_IFNAME"],
		Args:        env["CNI_ARGS"],
		Path:        env["CNI_PATH"],
		StdinData:   stdinData,
	})
}

// runCommand runs one CNI command and returns what the plugin prints on
// success (the ADD result in the configuration's version, else nothing).
func runCommand(cmd string, a *skel.CmdArgs) ([]byte, error) {
	switch cmd {
	case "ADD":
		res, err := add(a)
		if err != nil {
			return nil, err
		}
		var conf types.PluginConf
		if err := json.Unmarshal(a.StdinData, &conf); err != nil {
			return nil, fmt.Errorf("%w: decode: %v", ErrInvalidConfig, err)
		}
		vres, err := res.GetAsVersion(conf.CNIVersion)
		if err != nil {
			return nil, fmt.Errorf("convert result to CNI %s: %w", conf.CNIVersion, err)
		}
		out, err := json.Marshal(vres)
		if err != nil {
			return nil, fmt.Errorf("encode result: %w", err)
		}
		return out, nil
	case "DEL":
		return nil, del(a, deleteLink)
	case "CHECK":
		return nil, check(a)
	case "GC":
		return nil, gc(a)
	case "STATUS":
		return nil, status(a)
	}
	return nil, fmt.Errorf("%w: unknown CNI command %q", ErrInvalidConfig, cmd)
}
