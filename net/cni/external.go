package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

// DefaultPluginDirs are where third-party plugin executables are searched
// when an agent configures no directories: the CNI convention, then where
// Debian's containernetworking-plugins installs them.
var DefaultPluginDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

// ExternalConfig describes a network driven by a user's CNI configuration
// (the standard bridge, Calico, ...): kedge runs its plugins through libcni
// and owns only the bookkeeping that lets it undo every attachment.
type ExternalConfig struct {
	// ConfList is the user's conflist (or single-plugin .conf).
	ConfList []byte
	// DataDir is absolute: libcni's cache (DataDir/.cache) and kedge's
	// attachment records (DataDir/.attachments/NAME) live there. The
	// plugins keep their own state where their configuration says.
	DataDir string
	// PluginDirs is the CNI path; empty means DefaultPluginDirs.
	PluginDirs []string
	// Exec runs plugins; nil means InProcessExec (kedge-cni in process,
	// every other type executed from PluginDirs).
	Exec invoke.Exec
	// Timeout bounds each ADD, DEL, CHECK or GC of the chain (a hung
	// third-party plugin must not hold a container start or the agent's
	// start-up forever); 0 means DefaultExternalTimeout.
	Timeout time.Duration
}

// DefaultExternalTimeout bounds one CNI operation on an external network.
const DefaultExternalTimeout = time.Minute

// NewExternal prepares a network from a user's CNI configuration. It parses
// and checks the configuration but runs no plugin; Validate does.
func NewExternal(cfg ExternalConfig) (*Network, error) {
	cl, err := ParseConfList(cfg.ConfList)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(cfg.DataDir) {
		return nil, fmt.Errorf("%w: network %s: data dir %q is not absolute", ErrInvalidConfig, cl.Name, cfg.DataDir)
	}
	dirs := cfg.PluginDirs
	if len(dirs) == 0 {
		dirs = DefaultPluginDirs
	}
	exec := cfg.Exec
	if exec == nil {
		exec = &InProcessExec{}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultExternalTimeout
	}
	return &Network{
		cfg:     Config{Name: cl.Name, DataDir: cfg.DataDir, PluginDirs: dirs},
		ext:     cl,
		timeout: timeout,
		list:    cl.list,
		exec:    exec,
		cni:     libcni.NewCNIConfigWithCacheDir(dirs, filepath.Join(cfg.DataDir, ".cache"), exec),
	}, nil
}

// bound limits one operation of an external network; kedge's own plugin
// runs unbounded (in process, it cannot hang on a foreign binary).
func (n *Network) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if n.ext == nil || n.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, n.timeout)
}

// External returns the user's configuration of a network made by
// NewExternal, nil for a kedge bridge network.
func (n *Network) External() *ConfList { return n.ext }

// Validate checks that every plugin of an external network is installed and
// speaks the configuration's CNI version (it runs each plugin's VERSION).
// A missing plugin is reported with ErrPluginNotFound, naming the binary
// and the directories searched.
func (n *Network) Validate(ctx context.Context) error {
	if n.ext == nil {
		return nil
	}
	if err := n.findPlugins(); err != nil {
		return err
	}
	ctx, cancel := n.bound(ctx)
	defer cancel()
	if _, err := n.cni.ValidateNetworkList(ctx, n.list); err != nil {
		return fmt.Errorf("%w: network %s: %v", ErrInvalidConfig, n.cfg.Name, err)
	}
	return nil
}

// findPlugins checks that each plugin of the chain is in the CNI path.
func (n *Network) findPlugins() error {
	var missing []string
	for _, typ := range n.ext.Plugins {
		if _, err := n.exec.FindInPath(typ, n.cfg.PluginDirs); err != nil {
			missing = append(missing, typ)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: network %s: plugin binary %s not found in %s", ErrPluginNotFound,
			n.cfg.Name, strings.Join(missing, ", "), strings.Join(n.cfg.PluginDirs, ", "))
	}
	return nil
}

// attachmentRecord is kedge's own note of an external attachment, written
// before ADD and removed after a successful DEL: GC finds attachments a
// crash interrupted even when libcni's cache (written after ADD) has none.
type attachmentRecord struct {
	ContainerID    string         `json:"containerID"`
	IfName         string         `json:"ifName"`
	NetNS          string         `json:"netns"`
	CapabilityArgs map[string]any `json:"capabilityArgs,omitempty"` // DEL needs them too (portmap)
}

func (n *Network) attachmentDir() string {
	return filepath.Join(n.cfg.DataDir, ".attachments", n.cfg.Name)
}

func (n *Network) attachmentPath(containerID, ifName string) (string, error) {
	if containerID == "" || strings.ContainsAny(containerID, "/\x00") || containerID == "." || containerID == ".." {
		return "", fmt.Errorf("%w: container id %q", ErrInvalidConfig, containerID)
	}
	return filepath.Join(n.attachmentDir(), containerID+"_"+ifName), nil
}

func (n *Network) writeAttachment(rt *libcni.RuntimeConf) error {
	containerID := rt.ContainerID
	p, err := n.attachmentPath(containerID, rt.IfName)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("network %s: attachment records: %w", n.cfg.Name, err)
	}
	b, err := json.Marshal(attachmentRecord{ContainerID: containerID, IfName: rt.IfName, NetNS: rt.NetNS, CapabilityArgs: rt.CapabilityArgs})
	if err != nil {
		return fmt.Errorf("network %s: record attachment of %s: %w", n.cfg.Name, containerID, err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("network %s: record attachment of %s: %w", n.cfg.Name, containerID, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("network %s: record attachment of %s: %w", n.cfg.Name, containerID, err)
	}
	return nil
}

// hasAttachment reports whether an external attachment is recorded (from
// before its ADD until a successful DEL).
func (n *Network) hasAttachment(containerID, ifName string) bool {
	p, err := n.attachmentPath(containerID, ifName)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

func (n *Network) dropAttachment(containerID, ifName string) {
	if p, err := n.attachmentPath(containerID, ifName); err == nil {
		_ = os.Remove(p)
	}
}

// attachments lists the recorded external attachments.
func (n *Network) attachments() ([]attachmentRecord, error) {
	entries, err := os.ReadDir(n.attachmentDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network %s: read attachment records: %w", n.cfg.Name, err)
	}
	var out []attachmentRecord
	for _, e := range entries {
		p := filepath.Join(n.attachmentDir(), e.Name())
		if strings.HasSuffix(e.Name(), ".tmp") {
			_ = os.Remove(p) // a write a crash interrupted: ADD never ran
			continue
		}
		b, err := os.ReadFile(p)
		var r attachmentRecord
		if err != nil || json.Unmarshal(b, &r) != nil || r.ContainerID == "" || r.IfName == "" {
			_ = os.Remove(p)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// prepareExternal checks an external ADD can run and records the
// attachment before it does, so that a crash in ADD leaves a trace for GC.
func (n *Network) prepareExternal(rt *libcni.RuntimeConf) error {
	if err := n.findPlugins(); err != nil {
		return err
	}
	if len(rt.CapabilityArgs) > 0 && !n.ext.PortMappings {
		return fmt.Errorf("%w: network %s cannot publish ports: no plugin of its conflist has the portMappings capability (add the standard portmap plugin)", ErrInvalidConfig, n.cfg.Name)
	}
	return n.writeAttachment(rt)
}

// externalRuntimeConf completes a DEL's or CHECK's runtime configuration
// with the capability arguments its ADD had (the portmap plugin deletes
// nothing without its mappings): from kedge's record, else libcni's cache.
func (n *Network) externalRuntimeConf(rt *libcni.RuntimeConf) {
	if p, err := n.attachmentPath(rt.ContainerID, rt.IfName); err == nil {
		var r attachmentRecord
		if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &r) == nil && len(r.CapabilityArgs) > 0 {
			rt.CapabilityArgs = r.CapabilityArgs
			return
		}
	}
	if _, cached, err := n.cni.GetNetworkListCachedConfig(n.list, rt); err == nil && cached != nil {
		rt.CapabilityArgs = cached.CapabilityArgs
	}
}

// undoExternal DELs an external attachment (a failed ADD too: plugins do
// not roll themselves back) and drops its record once DEL succeeded.
func (n *Network) undoExternal(ctx context.Context, rt *libcni.RuntimeConf) error {
	if err := n.cni.DelNetworkList(ctx, n.list, rt); err != nil {
		return err
	}
	n.dropAttachment(rt.ContainerID, rt.IfName)
	return nil
}

// gcExternal DELs every recorded attachment not in valid (libcni's GC
// covers those its cache knew of; a record also covers an ADD a crash cut
// short).
func (n *Network) gcExternal(ctx context.Context, valid map[string]bool) error {
	recs, err := n.attachments()
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range recs {
		if valid[r.ContainerID+"/"+r.IfName] {
			continue
		}
		netns := r.NetNS
		if _, err := os.Stat(netns); err != nil {
			netns = "" // gone with its container: plugins release what they hold outside it
		}
		rt := &libcni.RuntimeConf{ContainerID: r.ContainerID, NetNS: netns, IfName: r.IfName, CapabilityArgs: r.CapabilityArgs}
		if err := n.undoExternal(ctx, rt); err != nil {
			errs = append(errs, fmt.Errorf("delete stale attachment %s/%s: %w", r.ContainerID, r.IfName, err))
		}
	}
	return errors.Join(errs...)
}

// removeExternal forgets an external network: it DELs every attachment
// left and drops kedge's records. What the plugins made on the host (a
// bridge device, IPAM directories) stays theirs: another runtime may share
// the same configuration.
func (n *Network) removeExternal(ctx context.Context) error {
	if err := n.GC(ctx, nil); err != nil {
		return err
	}
	if err := os.RemoveAll(n.attachmentDir()); err != nil {
		return fmt.Errorf("network %s: remove attachment records: %w", n.cfg.Name, err)
	}
	return nil
}
