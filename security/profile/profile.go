// Package profile holds the hardened defaults every container starts with:
// Docker's default capability set, Docker's default seccomp profile (as an OCI
// runtime-spec LinuxSeccomp) and its compiler to classic BPF, and the masked and
// read-only paths under /proc and /sys. It is pure Go and OS-independent so the
// compiler can be tested with an interpreter on any machine; engine/runtime
// loads the compiled program into the kernel.
package profile

// CONTRACT STUBS: replaced by the real implementation.

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

var errTODO = errors.New("profile: not implemented")

// DefaultCapabilities returns Docker's 14 default capabilities, "CAP_"-prefixed.
func DefaultCapabilities() []string { return nil }

// AllCapabilities returns every capability the running kernel knows (for --privileged).
func AllCapabilities() []string { return nil }

// NormalizeCapability turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into
// "CAP_NET_ADMIN", or fails for an unknown name. "ALL" is returned as "ALL".
func NormalizeCapability(name string) (string, error) { return "", errTODO }

// DefaultMaskedPaths returns Docker's masked paths (bind-mounted over with /dev/null or an empty tmpfs).
func DefaultMaskedPaths() []string { return nil }

// DefaultReadonlyPaths returns Docker's read-only paths under /proc.
func DefaultReadonlyPaths() []string { return nil }

// DefaultSeccomp returns Docker's default seccomp profile for a container that
// holds the given capabilities, as Docker computes it (rules gated on a
// capability are included only when it is held), for the native architecture.
func DefaultSeccomp(caps []string) (*specs.LinuxSeccomp, error) { return nil, errTODO }

// LoadSeccompJSON parses a seccomp profile file in Docker's JSON format
// (--security-opt seccomp=FILE) for a container holding caps.
func LoadSeccompJSON(data []byte, caps []string) (*specs.LinuxSeccomp, error) { return nil, errTODO }

// Compile turns a LinuxSeccomp into a classic BPF program for the kernel's
// seccomp filter mode, for the given native GOARCH ("amd64", "arm64", "arm").
// It honours per-rule errno, argument compares including masked equality, the
// default action, and the profile's architectures (compat ones such as i386
// and x32 on amd64, arm on arm64) or refuses them with a clear error.
func Compile(s *specs.LinuxSeccomp, goarch string) ([]bpf.RawInstruction, error) {
	return nil, errTODO
}
