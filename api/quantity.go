package api

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Quantity is an amount of a resource as Kubernetes writes it: CPU in cores
// ("2", "1.5", "500m"), memory and storage in bytes ("128Mi", "1G", "1e3"),
// object counts in a quota ("10").
//
// Kedge holds it as an exact count of thousandths, rounded up (as Kubernetes
// rounds "0.1m" of CPU up to "1m"), so CPU reads back as millicores
// (MilliValue) and memory as bytes (Value). Quantities are never negative
// and at most about 9.2P (9.2e15 units). The zero value is 0.
//
// A Quantity prints in canonical form (String, MarshalJSON): a binary suffix
// when it was written with one and still divides evenly ("1536Mi" for
// "1.5Gi"), else the largest decimal suffix that keeps it whole ("1500m" for
// "1.5", "1k" for "1000", "1G" for "1e9"). Parsing the canonical form gives
// back an identical Quantity.
type Quantity struct {
	milli  int64
	binary bool
}

// Limits of a quantity: its text, and its value in thousandths.
const (
	maxQuantityLen = 64
	maxMilli       = math.MaxInt64
)

// decimalSuffixes are the decimal SI suffixes from large to small, with their
// power of ten; used to print.
var decimalSuffixes = [...]struct {
	suffix string
	exp    int
}{{"E", 18}, {"P", 15}, {"T", 12}, {"G", 9}, {"M", 6}, {"k", 3}}

// binarySuffixes are the binary SI suffixes from large to small, with their
// power of two; used to print.
var binarySuffixes = [...]struct {
	suffix string
	exp    uint
}{{"Ei", 60}, {"Pi", 50}, {"Ti", 40}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}}

// NewQuantity is value whole units (cores, bytes, objects), printed with
// decimal suffixes.
func NewQuantity(value int64) Quantity {
	if value < 0 || value > maxMilli/1000 {
		panic(fmt.Sprintf("api.NewQuantity(%d): out of range", value))
	}
	return Quantity{milli: value * 1000}
}

// NewBinaryQuantity is value bytes, printed with binary suffixes when they
// divide evenly (NewBinaryQuantity(1<<20) prints "1Mi").
func NewBinaryQuantity(value int64) Quantity {
	q := NewQuantity(value)
	q.binary = true
	return q.normalize()
}

// NewMilliQuantity is milli thousandths of a unit (millicores of CPU).
func NewMilliQuantity(milli int64) Quantity {
	if milli < 0 {
		panic(fmt.Sprintf("api.NewMilliQuantity(%d): negative", milli))
	}
	return Quantity{milli: milli}
}

// MustParseQuantity is ParseQuantity that panics on error, for constants in
// code and tests.
func MustParseQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return q
}

// ParseQuantity parses a quantity in Kubernetes' notation: a decimal number
// ("2", "1.5", ".5") followed by nothing, a decimal SI suffix (n u m k M G T P
// E), a binary SI suffix (Ki Mi Gi Ti Pi Ei) or a decimal exponent ("1e3",
// "5E-1"). Errors wrap ErrInvalid and quote the input.
func ParseQuantity(s string) (Quantity, error) {
	bad := func(why string) (Quantity, error) {
		return Quantity{}, fmt.Errorf("quantity %q: %s: %w", s, why, ErrInvalid)
	}
	const want = `want a number with an optional suffix, like "500m", "2", "1.5", "128Mi", "1G" or "1e3"`
	if s == "" {
		return bad("empty")
	}
	if len(s) > maxQuantityLen {
		return bad("too long")
	}
	rest := s
	if rest[0] == '+' || rest[0] == '-' {
		if rest[0] == '-' {
			return bad("must not be negative")
		}
		rest = rest[1:]
	}
	// The number: digits with an optional point.
	i, intEnd, fracStart := 0, -1, -1
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	intEnd = i
	if i < len(rest) && rest[i] == '.' {
		i++
		fracStart = i
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
	}
	intPart := rest[:intEnd]
	fracPart := ""
	if fracStart >= 0 {
		fracPart = rest[fracStart:i]
	}
	if intPart == "" && fracPart == "" {
		return bad(want)
	}
	suffix := rest[i:]

	exp10, exp2 := 0, uint(0)
	switch suffix {
	case "":
	case "n":
		exp10 = -9
	case "u":
		exp10 = -6
	case "m":
		exp10 = -3
	case "k":
		exp10 = 3
	case "M":
		exp10 = 6
	case "G":
		exp10 = 9
	case "T":
		exp10 = 12
	case "P":
		exp10 = 15
	case "E":
		exp10 = 18
	case "Ki":
		exp2 = 10
	case "Mi":
		exp2 = 20
	case "Gi":
		exp2 = 30
	case "Ti":
		exp2 = 40
	case "Pi":
		exp2 = 50
	case "Ei":
		exp2 = 60
	default:
		if suffix[0] != 'e' && suffix[0] != 'E' {
			return bad(want)
		}
		e, err := strconv.Atoi(suffix[1:])
		if err != nil {
			return bad(want)
		}
		if e > 100 || e < -100 {
			return bad("exponent out of range")
		}
		exp10 = e
	}

	digits := strings.TrimLeft(intPart+fracPart, "0")
	if digits == "" {
		return Quantity{binary: exp2 != 0}.normalize(), nil
	}
	// value = digits * 10^(exp10 - len(frac)) * 2^exp2, in thousandths.
	scale := exp10 - len(fracPart) + 3
	if len(digits)+scale > 40 {
		return bad("too large")
	}
	n, _ := new(big.Int).SetString(digits, 10)
	n.Lsh(n, exp2)
	if scale >= 0 {
		n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
	} else {
		d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-scale)), nil)
		var r big.Int
		n.QuoRem(n, d, &r)
		if r.Sign() != 0 {
			n.Add(n, big.NewInt(1)) // round up to the next thousandth
		}
	}
	if !n.IsInt64() {
		return bad("too large (at most 9.2P)")
	}
	return Quantity{milli: n.Int64(), binary: exp2 != 0}.normalize(), nil
}

// normalize keeps the binary flag only where the canonical form uses a
// binary suffix, so that the printed form parses back to the same value.
func (q Quantity) normalize() Quantity {
	if q.binary {
		v := q.milli / 1000
		if q.milli%1000 != 0 || v == 0 || v%1024 != 0 {
			q.binary = false
		}
	}
	return q
}

// Value is the quantity in whole units, rounded up: bytes of memory, cores of
// CPU, a count of objects.
func (q Quantity) Value() int64 {
	v := q.milli / 1000
	if q.milli%1000 != 0 {
		v++
	}
	return v
}

// MilliValue is the quantity in thousandths of a unit: millicores of CPU.
func (q Quantity) MilliValue() int64 { return q.milli }

// IsZero reports whether the quantity is zero.
func (q Quantity) IsZero() bool { return q.milli == 0 }

// IsWhole reports whether the quantity is a whole number of units (an object
// count must be; "1500m" is not).
func (q Quantity) IsWhole() bool { return q.milli%1000 == 0 }

// Cmp compares two quantities by value: -1 if q < o, 0 if equal, +1 if q > o.
func (q Quantity) Cmp(o Quantity) int {
	switch {
	case q.milli < o.milli:
		return -1
	case q.milli > o.milli:
		return 1
	}
	return 0
}

// String is the canonical form ("500m", "2", "128Mi", "1G").
func (q Quantity) String() string {
	if q.milli == 0 {
		return "0"
	}
	if q.milli%1000 != 0 {
		return strconv.FormatInt(q.milli, 10) + "m"
	}
	v := q.milli / 1000
	if q.binary {
		for _, s := range binarySuffixes {
			if v%(1<<s.exp) == 0 {
				return strconv.FormatInt(v>>s.exp, 10) + s.suffix
			}
		}
		return strconv.FormatInt(v, 10)
	}
	for _, s := range decimalSuffixes {
		p := int64(math.Pow10(s.exp))
		if v%p == 0 {
			return strconv.FormatInt(v/p, 10) + s.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

// MarshalJSON writes the canonical form as a JSON string.
func (q Quantity) MarshalJSON() ([]byte, error) {
	return json.Marshal(q.String())
}

// UnmarshalJSON reads a quantity from a JSON string ("500m") or number (0.5),
// as Kubernetes does.
func (q *Quantity) UnmarshalJSON(data []byte) error {
	s := string(data)
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
	}
	v, err := ParseQuantity(s)
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// ResourceList maps a resource name ("cpu", "memory", or a quota's
// "requests.cpu", "pods" ...) to an amount.
type ResourceList map[string]Quantity

// Resource names Kedge knows in container resources.
const (
	// ResourceCPU is CPU in cores ("500m" is half a core).
	ResourceCPU = "cpu"
	// ResourceMemory is memory in bytes.
	ResourceMemory = "memory"
)

// CPU is the list's "cpu" amount, zero when absent.
func (r ResourceList) CPU() Quantity { return r[ResourceCPU] }

// Memory is the list's "memory" amount, zero when absent.
func (r ResourceList) Memory() Quantity { return r[ResourceMemory] }
