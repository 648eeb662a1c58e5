package profile

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDefaultCapabilities(t *testing.T) {
	caps := DefaultCapabilities()
	if len(caps) != 14 {
		t.Fatalf("got %d default capabilities, want Docker's 14: %v", len(caps), caps)
	}
	for _, c := range caps {
		if n, err := NormalizeCapability(c); err != nil || n != c {
			t.Errorf("default %q does not normalise to itself: %q, %v", c, n, err)
		}
	}
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"} {
		if slices.Contains(caps, c) {
			t.Errorf("%s must not be a default capability", c)
		}
	}
	caps[0] = "changed"
	if DefaultCapabilities()[0] == "changed" {
		t.Error("DefaultCapabilities returned shared storage")
	}
}

func TestAllCapabilities(t *testing.T) {
	all := AllCapabilities()
	for _, c := range append(DefaultCapabilities(), "CAP_SYS_ADMIN", "CAP_NET_ADMIN") {
		if !slices.Contains(all, c) {
			t.Errorf("AllCapabilities lacks %s", c)
		}
	}
}

func TestNormalizeCapability(t *testing.T) {
	for in, want := range map[string]string{
		"net_admin": "CAP_NET_ADMIN", "NET_ADMIN": "CAP_NET_ADMIN", "CAP_NET_ADMIN": "CAP_NET_ADMIN",
		"cap_sys_admin": "CAP_SYS_ADMIN", " chown ": "CAP_CHOWN", "all": "ALL", "ALL": "ALL",
	} {
		if got, err := NormalizeCapability(in); err != nil || got != want {
			t.Errorf("NormalizeCapability(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "CAP_", "net_admn", "CAP_ALL", "foo"} {
		if _, err := NormalizeCapability(in); !errors.Is(err, ErrUnknownCapability) {
			t.Errorf("NormalizeCapability(%q) err = %v, want ErrUnknownCapability", in, err)
		}
	}
}

func TestApplyCapabilityChanges(t *testing.T) {
	def := DefaultCapabilities()
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(def), func(c string) bool { return slices.Contains(drop, c) })
	}
	cases := []struct {
		name      string
		add, drop []string
		want      []string
	}{
		{"nothing", nil, nil, def},
		{"add", []string{"net_admin"}, nil, append(slices.Clone(def), "CAP_NET_ADMIN")},
		{"add existing", []string{"CAP_CHOWN"}, nil, def},
		{"drop", nil, []string{"chown", "NET_RAW"}, without("CAP_CHOWN", "CAP_NET_RAW")},
		{"drop then add same", []string{"chown"}, []string{"chown"}, append(without("CAP_CHOWN"), "CAP_CHOWN")},
		{"drop all", []string{"chown", "kill"}, []string{"ALL"}, []string{"CAP_CHOWN", "CAP_KILL"}},
		{"drop all only", nil, []string{"all"}, []string{}},
	}
	for _, c := range cases {
		got, err := ApplyCapabilityChanges(def, c.add, c.drop)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}

	all, err := ApplyCapabilityChanges(def, []string{"ALL"}, []string{"sys_admin"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(all, "CAP_SYS_ADMIN") || !slices.Contains(all, "CAP_NET_ADMIN") || len(all) != len(AllCapabilities())-1 {
		t.Errorf("add ALL drop SYS_ADMIN: got %v", all)
	}

	_, err = ApplyCapabilityChanges(def, []string{"CAP_FLY"}, nil)
	if !errors.Is(err, ErrUnknownCapability) || !strings.Contains(err.Error(), "CAP_FLY") {
		t.Errorf("unknown add: err = %v, want ErrUnknownCapability naming CAP_FLY", err)
	}
	if _, err := ApplyCapabilityChanges(def, nil, []string{"bogus"}); !errors.Is(err, ErrUnknownCapability) {
		t.Errorf("unknown drop: err = %v, want ErrUnknownCapability", err)
	}
	if !slices.Equal(def, DefaultCapabilities()) {
		t.Error("ApplyCapabilityChanges modified base")
	}
}

func FuzzNormalizeCapability(f *testing.F) {
	for _, s := range []string{"net_admin", "CAP_SYS_ADMIN", "all", "", "cap_", "CAP_CAP_CHOWN", "\x00", "ſys_admin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeCapability(in)
		if err != nil {
			if !errors.Is(err, ErrUnknownCapability) {
				t.Fatalf("NormalizeCapability(%q): unexpected error kind %v", in, err)
			}
			return
		}
		if got != "ALL" && !slices.Contains(AllCapabilities(), got) && !strings.HasPrefix(got, "CAP_") {
			t.Fatalf("NormalizeCapability(%q) = %q: not a capability name", in, got)
		}
		again, err := NormalizeCapability(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}
