package profile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
)

// allCaps is the pseudo-capability that --cap-add/--cap-drop accept for "every capability".
const allCaps = "ALL"

// DefaultCapabilities returns Docker's 14 default capabilities, "CAP_"-prefixed.
// A fresh slice is returned on each call; callers may modify it.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// AllCapabilities returns every capability the running kernel knows (for
// --privileged), "CAP_"-prefixed, in kernel order. Where the kernel cannot be
// asked (not Linux, or /proc unavailable) it returns every capability the
// capability library knows.
func AllCapabilities() []string {
	caps, err := capability.ListSupported()
	if err != nil {
		caps = capability.ListKnown()
	}
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		out = append(out, capName(c))
	}
	return out
}

// capName is the "CAP_"-prefixed upper-case name of c.
func capName(c capability.Cap) string {
	return "CAP_" + strings.ToUpper(c.String())
}

// NormalizeCapability turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into
// "CAP_NET_ADMIN", or fails with ErrUnknownCapability for a name the
// capability library does not know. "ALL" (any case) is returned as "ALL".
func NormalizeCapability(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == allCaps {
		return allCaps, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for _, c := range capability.ListKnown() {
		if capName(c) == n {
			return n, nil
		}
	}
	return "", fmt.Errorf("capability %q: %w", name, ErrUnknownCapability)
}

// normalizeCapabilities normalises every name in caps and removes duplicates,
// keeping first occurrences in order.
func normalizeCapabilities(caps []string) ([]string, error) {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		n, err := NormalizeCapability(c)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// ApplyCapabilityChanges applies --cap-add and --cap-drop to base (usually
// DefaultCapabilities) with Docker's semantics:
//   - "ALL" in add: every capability of the kernel (AllCapabilities) except
//     those in drop;
//   - otherwise "ALL" in drop: only the capabilities in add;
//   - otherwise: base minus drop, then plus add (so an explicit add of a
//     capability that is also dropped keeps it: drop only wins over base).
//
// Names in add and drop may be given in any form NormalizeCapability accepts;
// an unknown name in either list is an error naming it (ErrUnknownCapability).
// The result is "CAP_"-prefixed and free of duplicates; base is not modified.
func ApplyCapabilityChanges(base []string, add, drop []string) ([]string, error) {
	addN, err := normalizeCapabilities(add)
	if err != nil {
		return nil, fmt.Errorf("cap-add: %w", err)
	}
	dropN, err := normalizeCapabilities(drop)
	if err != nil {
		return nil, fmt.Errorf("cap-drop: %w", err)
	}
	var out []string
	appendNew := func(c string) {
		if c != allCaps && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	switch {
	case slices.Contains(addN, allCaps):
		for _, c := range AllCapabilities() {
			if !slices.Contains(dropN, c) {
				appendNew(c)
			}
		}
	case slices.Contains(dropN, allCaps):
		for _, c := range addN {
			appendNew(c)
		}
	default:
		for _, c := range base {
			if !slices.Contains(dropN, c) {
				appendNew(c)
			}
		}
		for _, c := range addN {
			appendNew(c)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// HeldCapabilities returns the capabilities in the calling process's
// permitted set: the most a container started by it can have (root on some
// hosts lacks a few, CAP_SYS_RESOURCE for one). nil when it cannot tell.
func HeldCapabilities() []string {
	caps, err := capability.NewPid2(0)
	if err != nil || caps.Load() != nil {
		return nil
	}
	var out []string
	for _, c := range capability.ListKnown() {
		if caps.Get(capability.PERMITTED, c) {
			out = append(out, capName(c))
		}
	}
	return out
}
