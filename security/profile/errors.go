package profile

import "errors"

// Sentinel errors of this package. Callers match them with errors.Is; the
// wrapping error names the capability, syscall, field or architecture involved.
var (
	// ErrUnknownCapability: a capability name the capability library does not know.
	ErrUnknownCapability = errors.New("unknown capability")
	// ErrInvalidProfile: a seccomp profile that cannot be parsed or compiled
	// (malformed JSON, unknown action, operator or architecture, bad argument index).
	ErrInvalidProfile = errors.New("invalid seccomp profile")
	// ErrUnsupportedArch: a GOARCH the seccomp compiler has no syscall tables for.
	ErrUnsupportedArch = errors.New("unsupported architecture for seccomp")
	// ErrProgramTooLong: the compiled filter exceeds the kernel's BPF_MAXINSNS.
	ErrProgramTooLong = errors.New("seccomp program too long")
	// ErrUnsupported: seccomp is not available on this operating system.
	ErrUnsupported = errors.New("seccomp is only supported on linux")
)
