package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	for _, tc := range []struct {
		in        string
		milli     int64
		value     int64
		canonical string
	}{
		{"0", 0, 0, "0"},
		{"0Mi", 0, 0, "0"},
		{"500m", 500, 1, "500m"},
		{"2", 2000, 2, "2"},
		{"1.5", 1500, 2, "1500m"},
		{".5", 500, 1, "500m"},
		{"1.", 1000, 1, "1"},
		{"+3", 3000, 3, "3"},
		{"0.1m", 1, 1, "1m"}, // below a thousandth: rounded up
		{"100u", 1, 1, "1m"},
		{"250000000n", 250, 1, "250m"},
		{"250000n", 1, 1, "1m"},
		{"1000m", 1000, 1, "1"},
		{"128Mi", 128 << 20 * 1000, 128 << 20, "128Mi"},
		{"1.5Gi", 1536 << 20 * 1000, 1536 << 20, "1536Mi"},
		{"0.5Ki", 512000, 512, "512"},
		{"1025Ki", 1025 << 10 * 1000, 1025 << 10, "1025Ki"},
		{"1G", 1e12, 1e9, "1G"},
		{"1000", 1e6, 1000, "1k"},
		{"1500", 1.5e6, 1500, "1500"},
		{"1e3", 1e6, 1000, "1k"},
		{"1E3", 1e6, 1000, "1k"},
		{"5e-1", 500, 1, "500m"},
		{"12e+2", 1.2e6, 1200, "1200"},
		{"2k", 2e6, 2000, "2k"},
		{"3M", 3e9, 3e6, "3M"},
		{"4T", 4e15, 4e12, "4T"},
		{"2P", 2e18, 2e15, "2P"},
		{"8Pi", 8 << 50 * 1000, 8 << 50, "8Pi"},
		{"007", 7000, 7, "7"},
	} {
		q, err := ParseQuantity(tc.in)
		if err != nil {
			t.Errorf("ParseQuantity(%q): %v", tc.in, err)
			continue
		}
		if q.MilliValue() != tc.milli || q.Value() != tc.value || q.String() != tc.canonical {
			t.Errorf("ParseQuantity(%q) = %d milli, %d, %q; want %d, %d, %q", tc.in,
				q.MilliValue(), q.Value(), q.String(), tc.milli, tc.value, tc.canonical)
		}
		// The canonical form parses back to the identical quantity.
		if again := MustParseQuantity(q.String()); again != q {
			t.Errorf("ParseQuantity(%q).String() = %q parses to %+v, want %+v", tc.in, q.String(), again, q)
		}
	}
}

func TestParseQuantityErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"-1", "must not be negative"},
		{"abc", "want a number"},
		{"1K", "want a number"}, // Kubernetes has k and Ki, not K
		{"1 Gi", "want a number"},
		{"1e", "want a number"},
		{"1.2.3", "want a number"},
		{".", "want a number"},
		{"1Gb", "want a number"},
		{"1e999", "exponent out of range"},
		{"10P", "too large"},
		{"9Ei", "too large"},
		{strings.Repeat("9", 70), "too long"},
	} {
		_, err := ParseQuantity(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseQuantity(%q) = %v; want an ErrInvalid with %q", tc.in, err, tc.want)
		}
	}
}

func TestQuantityJSON(t *testing.T) {
	var v struct {
		R ResourceList `json:"r"`
		P *Quantity    `json:"p"`
	}
	if err := json.Unmarshal([]byte(`{"r":{"cpu":0.25,"memory":"1Gi"},"p":"1e3"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.R.CPU().MilliValue() != 250 || v.R.Memory().Value() != 1<<30 || v.P.Value() != 1000 {
		t.Fatalf("decoded %v %v", v.R, v.P)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"r":{"cpu":"250m","memory":"1Gi"},"p":"1k"}`; string(out) != want {
		t.Errorf("encoded %s, want %s", out, want)
	}
	if err := json.Unmarshal([]byte(`{"p":"lots"}`), &v); err == nil {
		t.Error("bad quantity decoded")
	}
}

func TestQuantityCompareAndConstructors(t *testing.T) {
	if NewMilliQuantity(1500).Cmp(MustParseQuantity("1.5")) != 0 ||
		NewQuantity(1).Cmp(MustParseQuantity("999m")) != 1 ||
		MustParseQuantity("1Mi").Cmp(MustParseQuantity("1M")) != 1 {
		t.Error("Cmp is wrong")
	}
	if got := NewBinaryQuantity(3 << 20).String(); got != "3Mi" {
		t.Errorf("NewBinaryQuantity(3Mi) = %s", got)
	}
	if got := NewBinaryQuantity(1000).String(); got != "1k" {
		t.Errorf("NewBinaryQuantity(1000) = %s (not a binary multiple: decimal)", got)
	}
	if !MustParseQuantity("3").IsWhole() || MustParseQuantity("1500m").IsWhole() {
		t.Error("IsWhole is wrong")
	}
}

func TestIntOrString(t *testing.T) {
	for _, tc := range []struct {
		json          string
		total         int
		up, down      int
		percent, isPc bool
	}{
		{`3`, 10, 3, 3, false, false},
		{`"25%"`, 10, 3, 2, true, true},
		{`"25%"`, 4, 1, 1, true, true},
		{`"25%"`, 1, 1, 0, true, true},
		{`"0%"`, 7, 0, 0, true, true},
		{`"100%"`, 7, 7, 7, true, true},
		{`"150%"`, 3, 5, 4, true, true},
	} {
		var v IntOrString
		if err := json.Unmarshal([]byte(tc.json), &v); err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		up, err1 := v.ScaledValue(tc.total, true)
		down, err2 := v.ScaledValue(tc.total, false)
		if err1 != nil || err2 != nil || up != tc.up || down != tc.down {
			t.Errorf("%s of %d = %d, %d (%v, %v); want %d up, %d down", tc.json, tc.total, up, down, err1, err2, tc.up, tc.down)
		}
		if out, _ := json.Marshal(v); string(out) != tc.json {
			t.Errorf("%s re-encodes as %s", tc.json, out)
		}
	}
	for _, bad := range []IntOrString{FromString("http"), FromString("2.5%"), FromString("-5%")} {
		if _, err := bad.ScaledValue(10, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("%v.ScaledValue: %v, want ErrInvalid", bad, err)
		}
	}
	var v IntOrString
	if err := json.Unmarshal([]byte(`1.5`), &v); err == nil {
		t.Error("1.5 decoded as IntOrString")
	}
}

func TestRollingUpdateResolve(t *testing.T) {
	pct := func(s string) *IntOrString { v := FromString(s); return &v }
	num := func(n int32) *IntOrString { v := FromInt(n); return &v }
	for _, tc := range []struct {
		surge, unavailable *IntOrString
		replicas           int32
		wantS, wantU       int32
	}{
		{pct("25%"), pct("25%"), 10, 3, 2},
		{pct("25%"), pct("25%"), 1, 1, 0},
		{num(0), num(0), 5, 0, 1}, // both zero: one may be unavailable
		{pct("0%"), pct("10%"), 5, 0, 1},
		{num(2), nil, 3, 2, 0},
	} {
		ru := RollingUpdateDeployment{MaxSurge: tc.surge, MaxUnavailable: tc.unavailable}
		s, u, err := ru.Resolve(tc.replicas)
		if err != nil || s != tc.wantS || u != tc.wantU {
			t.Errorf("Resolve(%v, %v, %d) = %d, %d, %v; want %d, %d", tc.surge, tc.unavailable, tc.replicas, s, u, err, tc.wantS, tc.wantU)
		}
	}
	ds := RollingUpdateDaemonSet{MaxUnavailable: num(1), MaxSurge: num(0)}
	if s, u, err := ds.Resolve(20); s != 0 || u != 1 || err != nil {
		t.Errorf("DaemonSet Resolve = %d, %d, %v", s, u, err)
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"500m", "1.5Gi", "1e3", "-1", "9Ei", ".5", "1E", "0.0001n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err != nil {
			return
		}
		again, err := ParseQuantity(q.String())
		if err != nil || again != q {
			t.Fatalf("%q -> %q -> %+v, %v; want %+v", s, q.String(), again, err, q)
		}
	})
}
