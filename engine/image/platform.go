package image

import (
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// parsePlatform parses "os/arch[/variant]"; empty means this machine's.
func parsePlatform(s string) (ocispec.Platform, error) {
	if s == "" {
		return hostPlatform(), nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	if p.Architecture == "aarch64" {
		p.Architecture = "arm64"
	}
	if p.Architecture == "x86_64" {
		p.Architecture = "amd64"
	}
	if p.Variant == "" {
		p.Variant = defaultVariant(p.Architecture)
	}
	return p, nil
}

// defaultVariant is the variant assumed when none is given.
func defaultVariant(arch string) string {
	switch arch {
	case "arm":
		return "v7"
	case "arm64":
		return "v8"
	}
	return ""
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// platformRank says how well have serves want: 0 is an exact match, higher
// is a compatible older variant (arm v7 runs v6 and v5), -1 no match.
func platformRank(want ocispec.Platform, have *ocispec.Platform) int {
	if have == nil || have.OS != want.OS || have.Architecture != want.Architecture {
		return -1
	}
	hv := have.Variant
	if hv == "" {
		hv = defaultVariant(have.Architecture)
	}
	if hv == want.Variant {
		return 0
	}
	order := map[string][]string{
		"arm":   {"v8", "v7", "v6", "v5"},
		"arm64": {"v9", "v8"},
	}[want.Architecture]
	wi, hi := -1, -1
	for i, v := range order {
		if v == want.Variant {
			wi = i
		}
		if v == hv {
			hi = i
		}
	}
	if wi >= 0 && hi > wi {
		return hi - wi
	}
	return -1
}

// pickManifest chooses the best descriptor of an index for want.
func pickManifest(want ocispec.Platform, descs []ocispec.Descriptor) (ocispec.Descriptor, error) {
	best, bestRank := -1, -1
	var avail []string
	for i, d := range descs {
		if d.Platform == nil || d.Platform.OS == "unknown" {
			continue // attestations and the like
		}
		avail = append(avail, platformString(*d.Platform))
		r := platformRank(want, d.Platform)
		if r >= 0 && (best < 0 || r < bestRank) {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		return ocispec.Descriptor{}, fmt.Errorf("%w %s (available: %s)", ErrNoPlatform, platformString(want), strings.Join(avail, ", "))
	}
	return descs[best], nil
}
