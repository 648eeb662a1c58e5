package api

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses a size as Docker's flags take it: a number with an optional
// binary unit, case-insensitive: "512", "64k", "10m", "1.5g", "2gb", "1t"
// (k = 1024). It refuses negative, empty, non-finite and overflowing sizes.
func ParseSize(s string) (int64, error) {
	in := strings.TrimSpace(strings.ToLower(s))
	if in == "" {
		return 0, fmt.Errorf("size %q: empty: %w", s, ErrInvalid)
	}
	in = strings.TrimSuffix(in, "ib")
	in = strings.TrimSuffix(in, "b")
	mult := 1.0
	if n := len(in); n > 0 {
		switch in[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		case 'p':
			mult = 1 << 50
		}
		if mult != 1 {
			in = in[:n-1]
		}
	}
	if in == "" || strings.ContainsAny(in, "+-eExXpP_") {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (b, k, m, g, t): %w", s, ErrInvalid)
	}
	v, err := strconv.ParseFloat(in, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (b, k, m, g, t): %w", s, ErrInvalid)
	}
	total := v * mult
	if total >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large: %w", s, ErrInvalid)
	}
	return int64(total), nil
}

// FormatSize prints bytes in Docker's human style ("1.5MB" with 1000-based
// units, as `docker images` shows sizes).
func FormatSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB", "PB"} {
		f /= unit
		if f < unit {
			return strconv.FormatFloat(f, 'g', 3, 64) + u
		}
	}
	return strconv.FormatFloat(f, 'g', 3, 64) + "EB"
}
