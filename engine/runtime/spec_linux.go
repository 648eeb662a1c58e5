//go:build linux

package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"

	"kedge/security/profile"
)

// initConfig is what Start sends the init over its config pipe: the spec
// without its seccomp profile, which the parent has already compiled.
type initConfig struct {
	Spec   *specs.Spec          `json:"spec"`
	Filter []bpf.RawInstruction `json:"filter,omitempty"`
}

// validateSpec rejects what the runtime cannot honour before anything is
// created.
func validateSpec(spec *specs.Spec) error {
	switch {
	case spec == nil:
		return errors.New("no spec")
	case spec.Process == nil || len(spec.Process.Args) == 0:
		return errors.New("spec has no process args")
	case spec.Root == nil || !filepath.IsAbs(spec.Root.Path):
		return errors.New("spec root path must be absolute")
	case spec.Linux == nil:
		return errors.New("spec has no linux section")
	}
	if !hasNewNamespace(spec, specs.MountNamespace) {
		return errors.New("the container needs a new mount namespace")
	}
	return validateSysctl(spec)
}

// validateSysctl accepts only sysctls that are namespaced by a namespace the
// container gets for itself: anything else would change the host.
func validateSysctl(spec *specs.Spec) error {
	for key := range spec.Linux.Sysctl {
		var ns specs.LinuxNamespaceType
		switch {
		case strings.HasPrefix(key, "fs.mqueue."):
			ns = specs.IPCNamespace
		case strings.HasPrefix(key, "kernel."):
			switch key {
			case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
				"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
				ns = specs.IPCNamespace
			case "kernel.hostname", "kernel.domainname":
				ns = specs.UTSNamespace
			}
		case strings.HasPrefix(key, "net."):
			ns = specs.NetworkNamespace
		}
		if ns == "" {
			return fmt.Errorf("sysctl %q is not namespaced: setting it would change the host", key)
		}
		if !hasNewNamespace(spec, ns) {
			return fmt.Errorf("sysctl %q needs the container's own %s namespace", key, ns)
		}
	}
	return nil
}

// compileSeccomp compiles the spec's seccomp profile for this machine.
func compileSeccomp(s *specs.LinuxSeccomp) ([]bpf.RawInstruction, error) {
	if s == nil {
		return nil, nil
	}
	prog, err := profile.Compile(s, goruntime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	return prog, nil
}

// encodeInitConfig builds the init's configuration.
func encodeInitConfig(spec *specs.Spec, filter []bpf.RawInstruction) ([]byte, error) {
	s := *spec
	linux := *spec.Linux
	linux.Seccomp = nil
	s.Linux = &linux
	data, err := json.Marshal(initConfig{Spec: &s, Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("encode init config: %w", err)
	}
	return data, nil
}
