package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []Meta{
		{ID: "n1"},
		{ID: "n1", Name: "lab", APIAddr: "[fd00::1]:8443", RaftAddr: "10.0.0.1:8301", Version: "v1.2.3",
			Labels:   map[string]string{"zone": "a", "gpu": "", "ünïcode": "ok"},
			Capacity: Capacity{MilliCPU: 4000, MemoryBytes: 1 << 40, DiskBytes: 1<<63 - 1, Pods: 110}},
	} {
		for _, leaving := range []bool{false, true} {
			b, err := encodeMeta(m, leaving)
			if err != nil {
				t.Fatalf("encode %+v: %v", m, err)
			}
			got, gotLeaving, err := decodeMeta(m.ID, b)
			if err != nil {
				t.Fatalf("decode %x: %v", b, err)
			}
			if !got.equal(m) || gotLeaving != leaving {
				t.Errorf("round trip: got %+v %v, want %+v %v", got, gotLeaving, m, leaving)
			}
		}
	}
}

// TestMetaDeterministic: memberlist compares metadata bytes to detect
// updates, so the same Meta must always encode the same way.
func TestMetaDeterministic(t *testing.T) {
	m := Meta{Labels: map[string]string{}}
	for i := range 20 {
		m.Labels[fmt.Sprintf("k%d", i)] = fmt.Sprint(i)
	}
	first, err := encodeMeta(m, false)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if b, _ := encodeMeta(m, false); !bytes.Equal(b, first) {
			t.Fatalf("encoding changed: %x vs %x", b, first)
		}
	}
}

// TestMetaCompatibility: a decoder ignores fields appended by newer versions
// and rejects bytes that are not metadata.
func TestMetaCompatibility(t *testing.T) {
	m := Meta{ID: "n", Name: "x", Labels: map[string]string{"a": "b"}}
	b, _ := encodeMeta(m, false)
	newer := append(append([]byte{2}, b[1:]...), 0x05, 'e', 'x', 't', 'r', 'a')
	if got, _, err := decodeMeta("n", newer); err != nil || !got.equal(m) {
		t.Errorf("newer version: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0}, {1}, {1, 200}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 5}, []byte("{\"json\":true}")} {
		if _, _, err := decodeMeta("n", bad); !errors.Is(err, ErrInvalidMeta) {
			t.Errorf("decode %q: %v, want ErrInvalidMeta", bad, err)
		}
	}
}

func TestMetaLimit(t *testing.T) {
	m := Meta{Name: "n", Labels: map[string]string{}}
	for i := 0; ; i++ {
		m.Labels[fmt.Sprintf("label-%03d", i)] = strings.Repeat("v", 10)
		b, err := encodeMeta(m, true)
		if errors.Is(err, ErrMetaTooLarge) {
			if m.Validate() == nil {
				t.Errorf("Validate accepts what encodeMeta rejects")
			}
			t.Logf("%d labels of ~20 bytes fit", i)
			return
		}
		if err != nil || len(b) > MetaMaxSize {
			t.Fatalf("%d labels: %d bytes, %v", i+1, len(b), err)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	for _, m := range []Meta{{}, {Name: "lab", APIAddr: "a:1", Labels: map[string]string{"k": "v"}, Capacity: Capacity{Pods: 3}}} {
		b, _ := encodeMeta(m, true)
		f.Add(b)
	}
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, leaving, err := decodeMeta("n", b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := encodeMeta(m, leaving)
		if err != nil {
			if errors.Is(err, ErrMetaTooLarge) && len(b) > MetaMaxSize {
				return
			}
			t.Fatalf("decoded %+v but cannot encode it: %v", m, err)
		}
		m2, leaving2, err := decodeMeta("n", again)
		if err != nil || !m2.equal(m) || leaving2 != leaving {
			t.Fatalf("re-decode: %+v %v %v, want %+v %v", m2, leaving2, err, m, leaving)
		}
	})
}
