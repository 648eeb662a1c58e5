package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultSeccomp returns Docker's default seccomp profile for a container that
// holds the given capabilities, as Docker computes it (rules gated on a
// capability are included only when it is held, rules gated on a kernel
// version only when the host kernel is that new), for the native
// architecture. Capability names may be in any form NormalizeCapability
// accepts. It fails with ErrUnsupported off Linux.
func DefaultSeccomp(caps []string) (*specs.LinuxSeccomp, error) {
	p, err := dockerDefaultProfile()
	if err != nil {
		return nil, err
	}
	s, err := resolveProfile(p, runtime.GOARCH, caps, hostKernel)
	if err != nil {
		return nil, fmt.Errorf("docker default seccomp profile: %w", err)
	}
	return s, nil
}

// LoadSeccompJSON parses a seccomp profile file (--security-opt seccomp=FILE)
// for a container holding caps, for the native architecture. It accepts
// Docker's format (archMap, includes/excludes on capabilities, arches and
// minimum kernel, the legacy "name" field) and, as a subset of it, a plain
// runtime-spec LinuxSeccomp document. Malformed JSON, fields of the wrong
// type, trailing data, a missing defaultAction (Docker would run such a
// profile unconfined; callers spell that "unconfined" instead), or
// conflicting fields fail with ErrInvalidProfile. Actions, operators and
// architectures are checked by Compile.
func LoadSeccompJSON(data []byte, caps []string) (*specs.LinuxSeccomp, error) {
	return loadSeccompJSON(data, runtime.GOARCH, caps, hostKernel)
}

// loadSeccompJSON is LoadSeccompJSON for any GOARCH and kernel-version source.
func loadSeccompJSON(data []byte, goarch string, caps []string, kernel func() (*seccomp.KernelVersion, error)) (*specs.LinuxSeccomp, error) {
	var p seccomp.Seccomp
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode seccomp profile: %w: %w", ErrInvalidProfile, err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return nil, fmt.Errorf("decode seccomp profile: trailing data after the JSON document: %w", ErrInvalidProfile)
	}
	return resolveProfile(&p, goarch, caps, kernel)
}

// resolveProfile turns a Docker-format profile into the runtime-spec profile
// for a container on goarch holding caps: it does what
// github.com/moby/profiles/seccomp's setupSeccomp does, but for any GOARCH
// (so other architectures can be compiled and tested anywhere) and without
// modifying p. kernel is asked only when a rule has a minKernel condition.
func resolveProfile(p *seccomp.Seccomp, goarch string, caps []string, kernel func() (*seccomp.KernelVersion, error)) (*specs.LinuxSeccomp, error) {
	if p.DefaultAction == "" {
		return nil, fmt.Errorf("profile has no defaultAction: %w", ErrInvalidProfile)
	}
	if len(p.Architectures) != 0 && len(p.ArchMap) != 0 {
		return nil, fmt.Errorf("both architectures and archMap are set: %w", ErrInvalidProfile)
	}
	if len(p.LinuxSeccomp.Syscalls) != 0 {
		return nil, fmt.Errorf("LinuxSeccomp.Syscalls set in a Docker-format profile: %w", ErrInvalidProfile)
	}
	arch, ok := mobyArch[goarch]
	if !ok {
		return nil, fmt.Errorf("GOARCH %q: %w", goarch, ErrUnsupportedArch)
	}
	held := map[string]bool{}
	for _, c := range caps {
		if n, err := NormalizeCapability(c); err == nil {
			held[n] = true
		} else {
			held[c] = true
		}
	}

	out := &specs.LinuxSeccomp{
		DefaultAction:    p.DefaultAction,
		DefaultErrnoRet:  copyUint(p.DefaultErrnoRet),
		Architectures:    slices.Clone(p.Architectures),
		Flags:            slices.Clone(p.Flags),
		ListenerPath:     p.ListenerPath,
		ListenerMetadata: p.ListenerMetadata,
	}
	for _, a := range p.ArchMap {
		if a.Arch == arch.scmp {
			out.Architectures = append(append(out.Architectures, a.Arch), a.SubArches...)
			break
		}
	}

	var kv *seccomp.KernelVersion
	kernelAtLeast := func(min *seccomp.KernelVersion) (bool, error) {
		if kv == nil {
			k, err := kernel()
			if err != nil {
				return false, fmt.Errorf("host kernel version: %w", err)
			}
			kv = k
		}
		return kv.Kernel > min.Kernel || (kv.Kernel == min.Kernel && kv.Major >= min.Major), nil
	}

	for i, call := range p.Syscalls {
		if call == nil {
			return nil, fmt.Errorf("syscalls[%d] is null: %w", i, ErrInvalidProfile)
		}
		names := call.Names
		if call.Name != "" {
			if len(call.Names) != 0 {
				return nil, fmt.Errorf("syscalls[%d]: both name and names are set: %w", i, ErrInvalidProfile)
			}
			names = []string{call.Name}
		}
		include, err := ruleApplies(call, arch.name, held, kernelAtLeast)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		if !include {
			continue
		}
		out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{
			Names:    slices.Clone(names),
			Action:   call.Action,
			ErrnoRet: copyUint(call.ErrnoRet),
			Args:     slices.Clone(call.Args),
		})
	}
	return out, nil
}

// ruleApplies evaluates a Docker rule's excludes and includes filters: a rule
// is dropped if any excluded cap is held, the arch is excluded, or the kernel
// is at least the excluded minimum; it is kept only if every included cap is
// held, the arch is included, and the kernel is at least the included minimum.
func ruleApplies(call *seccomp.Syscall, arch string, held map[string]bool, kernelAtLeast func(*seccomp.KernelVersion) (bool, error)) (bool, error) {
	if ex := call.Excludes; ex != nil {
		if slices.Contains(ex.Arches, arch) {
			return false, nil
		}
		for _, c := range ex.Caps {
			if held[c] {
				return false, nil
			}
		}
		if ex.MinKernel != nil {
			ok, err := kernelAtLeast(ex.MinKernel)
			if err != nil || ok {
				return false, err
			}
		}
	}
	if in := call.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, arch) {
			return false, nil
		}
		for _, c := range in.Caps {
			if !held[c] {
				return false, nil
			}
		}
		if in.MinKernel != nil {
			ok, err := kernelAtLeast(in.MinKernel)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

func copyUint(p *uint) *uint {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// parseKernelRelease reads "<kernel>.<major>" from a uname release such as
// "6.18.3-amd64" or "3.12-1-amd64".
func parseKernelRelease(release string) (*seccomp.KernelVersion, error) {
	var kv seccomp.KernelVersion
	if _, err := fmt.Sscanf(release, "%d.%d", &kv.Kernel, &kv.Major); err != nil {
		return nil, fmt.Errorf("parse kernel release %q: %w", release, err)
	}
	return &kv, nil
}
