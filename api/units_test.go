package api

import (
	"errors"
	"testing"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"512", 512, false},
		{"64k", 64 << 10, false},
		{"64K", 64 << 10, false},
		{"10m", 10 << 20, false},
		{"10MB", 10 << 20, false},
		{"1.5g", 3 << 29, false},
		{"2GiB", 2 << 30, false},
		{"1t", 1 << 40, false},
		{"", 0, true},
		{"-1m", 0, true},
		{"m", 0, true},
		{"1e3", 0, true},
		{"NaN", 0, true},
		{"inf", 0, true},
		{"99999999999p", 0, true},
		{"ten", 0, true},
	}
	for _, c := range cases {
		got, err := ParseSize(c.in)
		if c.bad {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseSize(%q) = %d, %v; want an ErrInvalid error", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0B", 999: "999B", 1500: "1.5kB", 4_300_000: "4.3MB"} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "10m", "1.5g", "", "-1", "1e309", "0x10", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d: negative without error", s, n)
		}
	})
}
