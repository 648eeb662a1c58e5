package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// IntOrString is a value that is either a whole number or a string, as
// Kubernetes' intstr: a rolling update's maxSurge (1 or "25%"), a probe's
// port (8080 or "http").
type IntOrString struct {
	// IsString says StrVal holds the value; otherwise IntVal does.
	IsString bool
	IntVal   int32
	StrVal   string
}

// FromInt is the number v.
func FromInt(v int32) IntOrString { return IntOrString{IntVal: v} }

// FromString is the string s.
func FromString(s string) IntOrString { return IntOrString{IsString: true, StrVal: s} }

// String prints the value: "3", "25%", "http".
func (v IntOrString) String() string {
	if v.IsString {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// MarshalJSON writes a JSON number or string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsString {
		return json.Marshal(v.StrVal)
	}
	return json.Marshal(v.IntVal)
}

// UnmarshalJSON reads a JSON number (a whole number within int32) or string.
func (v *IntOrString) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*v = FromString(s)
		return nil
	}
	n, err := strconv.ParseInt(string(data), 10, 32)
	if err != nil {
		return fmt.Errorf("want a whole number or a string, got %s: %w", data, ErrInvalid)
	}
	*v = FromInt(int32(n))
	return nil
}

// Percent is the percentage of a string like "25%"; ok is false when the
// value is a number or another string. err reports a malformed percentage
// ("25.5%", "-1%").
func (v IntOrString) Percent() (pct int, ok bool, err error) {
	if !v.IsString || !strings.HasSuffix(v.StrVal, "%") {
		return 0, false, nil
	}
	p, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil || p < 0 || p > math.MaxInt32 || strings.HasPrefix(v.StrVal, "+") {
		return 0, true, fmt.Errorf("%q: want a whole percentage like \"25%%\": %w", v.StrVal, ErrInvalid)
	}
	return p, true, nil
}

// ScaledValue resolves the value against total: a number is itself, a
// percentage is that share of total, rounded up (roundUp, as Kubernetes
// resolves maxSurge) or down (as it resolves maxUnavailable). Any other
// string is an error.
func (v IntOrString) ScaledValue(total int, roundUp bool) (int, error) {
	if !v.IsString {
		return int(v.IntVal), nil
	}
	p, ok, err := v.Percent()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%q: want a number or a percentage: %w", v.StrVal, ErrInvalid)
	}
	if total < 0 || total > math.MaxInt32 {
		return 0, fmt.Errorf("%q of %d: total out of range: %w", v.StrVal, total, ErrInvalid)
	}
	share := int64(p) * int64(total)
	if roundUp {
		share += 99
	}
	share /= 100
	if share > math.MaxInt32 {
		return 0, fmt.Errorf("%q of %d: too large: %w", v.StrVal, total, ErrInvalid)
	}
	return int(share), nil
}
