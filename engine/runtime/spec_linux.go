//go:build linux

package runtime

import (
	"encoding/binary"
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
	Spec *specs.Spec `json:"spec"`
	// Filter is the compiled seccomp program, 8 bytes per instruction
	// (see encodeFilter): far cheaper to decode than JSON objects.
	Filter []byte `json:"filter,omitempty"`
}

// encodeFilter packs a BPF program as the kernel lays out sock_filter, in
// native byte order (parent and init are the same binary on the same host).
func encodeFilter(prog []bpf.RawInstruction) []byte {
	out := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		out = binary.NativeEndian.AppendUint16(out, in.Op)
		out = append(out, in.Jt, in.Jf)
		out = binary.NativeEndian.AppendUint32(out, in.K)
	}
	return out
}

// decodeFilter is the inverse of encodeFilter.
func decodeFilter(data []byte) ([]bpf.RawInstruction, error) {
	if len(data)%8 != 0 {
		return nil, fmt.Errorf("seccomp program of %d bytes is not whole instructions", len(data))
	}
	prog := make([]bpf.RawInstruction, len(data)/8)
	for i := range prog {
		b := data[8*i:]
		prog[i] = bpf.RawInstruction{
			Op: binary.NativeEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return prog, nil
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

// nsFileName names the /proc/PID/ns file of the namespaces sysctls need.
var nsFileName = map[specs.LinuxNamespaceType]string{
	specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts",
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
		if !hasOwnNamespace(spec, ns, "/proc/self/ns/"+nsFileName[ns]) {
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
	// Only what the init uses: a smaller document and fewer types make the
	// cold decode in the fresh init process noticeably cheaper.
	s := &specs.Spec{
		Process:    spec.Process,
		Root:       spec.Root,
		Hostname:   spec.Hostname,
		Domainname: spec.Domainname,
		Mounts:     spec.Mounts,
		Linux: &specs.Linux{
			Namespaces:        spec.Linux.Namespaces,
			Devices:           spec.Linux.Devices,
			Sysctl:            spec.Linux.Sysctl,
			MaskedPaths:       spec.Linux.MaskedPaths,
			ReadonlyPaths:     spec.Linux.ReadonlyPaths,
			RootfsPropagation: spec.Linux.RootfsPropagation,
		},
	}
	data, err := json.Marshal(initConfig{Spec: s, Filter: encodeFilter(filter)})
	if err != nil {
		return nil, fmt.Errorf("encode init config: %w", err)
	}
	return data, nil
}
