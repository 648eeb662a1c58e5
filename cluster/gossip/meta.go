package gossip

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// MetaMaxSize is the largest encoded Meta memberlist carries, in bytes.
const MetaMaxSize = memberlist.MetaMaxSize

// metaVersion is the first byte of an encoded Meta. Later versions may only
// append fields (see the package doc).
const metaVersion = 1

// Meta is what a node tells the others about itself. It travels with every
// alive message, so it is kept small: see MetaMaxSize.
type Meta struct {
	// ID is the node ID. It is not encoded: peers fill it from the memberlist
	// node name. Config.NodeID sets it for the local node.
	ID string
	// Name is the human-readable node name (often the host name; not unique).
	Name string
	// APIAddr is the node's HTTPS API address (host:port).
	APIAddr string
	// RaftAddr is the node's Raft transport address (host:port).
	RaftAddr string
	// Version is the Kedge version the node runs.
	Version string
	// Labels are the node's scheduling labels.
	Labels map[string]string
	// Capacity is what the node offers to workloads.
	Capacity Capacity
	// Protocol is the newest protocol level (state.ProtocolLevel) whose
	// commands the node applies; 0 from nodes that predate it (level 1).
	Protocol int
}

// Capacity is the allocatable resources of a node. Zero means unknown.
type Capacity struct {
	// MilliCPU is CPU in thousandths of a core.
	MilliCPU int64
	// MemoryBytes is memory in bytes.
	MemoryBytes int64
	// DiskBytes is local disk for images and volumes in bytes.
	DiskBytes int64
	// Pods is the maximum number of pods.
	Pods int64
}

func (m Meta) clone() Meta {
	m.Labels = maps.Clone(m.Labels)
	return m
}

// Validate reports whether m can be gossiped: an error wrapping
// ErrInvalidMeta for malformed fields (negative capacity, empty label key,
// non-UTF-8 text) or ErrMetaTooLarge when it encodes to more than MetaMaxSize.
func (m Meta) Validate() error {
	_, err := encodeMeta(m, false)
	return err
}

// Flags in the wire form.
const flagLeaving = 1 << 0 // the node is about to Leave (see delegate.NotifyAlive)

// encodeMeta validates m and returns its wire form (see the package doc).
func encodeMeta(m Meta, leaving bool) ([]byte, error) {
	var flags uint64
	if leaving {
		flags |= flagLeaving
	}
	b, err := m.appendTo(make([]byte, 0, 128), flags)
	if err != nil {
		return nil, err
	}
	if len(b) > MetaMaxSize {
		labels := 0
		for k, v := range m.Labels {
			labels += uvarintLen(len(k)) + len(k) + uvarintLen(len(v)) + len(v)
		}
		return nil, fmt.Errorf("node metadata is %d bytes (%d labels take %d), limit %d: %w",
			len(b), len(m.Labels), labels, MetaMaxSize, ErrMetaTooLarge)
	}
	return b, nil
}

func (m Meta) appendTo(b []byte, flags uint64) ([]byte, error) {
	c := m.Capacity
	if c.MilliCPU < 0 || c.MemoryBytes < 0 || c.DiskBytes < 0 || c.Pods < 0 {
		return nil, fmt.Errorf("negative capacity %+v: %w", c, ErrInvalidMeta)
	}
	for _, f := range []struct{ name, v string }{
		{"name", m.Name}, {"api address", m.APIAddr}, {"raft address", m.RaftAddr}, {"version", m.Version},
	} {
		if !utf8.ValidString(f.v) {
			return nil, fmt.Errorf("%s %q is not UTF-8: %w", f.name, f.v, ErrInvalidMeta)
		}
	}
	b = append(b, metaVersion)
	b = appendString(b, m.Name)
	b = appendString(b, m.APIAddr)
	b = appendString(b, m.RaftAddr)
	b = appendString(b, m.Version)
	b = binary.AppendUvarint(b, uint64(c.MilliCPU))
	b = binary.AppendUvarint(b, uint64(c.MemoryBytes))
	b = binary.AppendUvarint(b, uint64(c.DiskBytes))
	b = binary.AppendUvarint(b, uint64(c.Pods))
	b = binary.AppendUvarint(b, uint64(len(m.Labels)))
	for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
		v := m.Labels[k]
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("label %q=%q: key must be non-empty and both UTF-8: %w", k, v, ErrInvalidMeta)
		}
		b = appendString(b, k)
		b = appendString(b, v)
	}
	b = binary.AppendUvarint(b, flags)
	if m.Protocol < 0 {
		return nil, fmt.Errorf("negative protocol level %d: %w", m.Protocol, ErrInvalidMeta)
	}
	return binary.AppendUvarint(b, uint64(m.Protocol)), nil
}

// decodeMeta parses the wire form sent by the node id and reports whether
// it carries the leaving flag. It accepts any version >= 1 and ignores
// trailing bytes of newer versions.
func decodeMeta(id string, b []byte) (m Meta, leaving bool, err error) {
	m = Meta{ID: id}
	if len(b) == 0 || b[0] < 1 {
		return m, false, fmt.Errorf("node %q: metadata has no version byte: %w", id, ErrInvalidMeta)
	}
	d := metaDecoder{b: b[1:]}
	m.Name = d.string()
	m.APIAddr = d.string()
	m.RaftAddr = d.string()
	m.Version = d.string()
	m.Capacity.MilliCPU = d.int64()
	m.Capacity.MemoryBytes = d.int64()
	m.Capacity.DiskBytes = d.int64()
	m.Capacity.Pods = d.int64()
	n := d.uvarint()
	// Every label takes at least 3 bytes (two lengths, a non-empty key).
	if d.err == nil && n > uint64(len(d.b)/3) {
		d.err = fmt.Errorf("%d labels in %d bytes", n, len(d.b))
	}
	if d.err == nil && n > 0 {
		m.Labels = make(map[string]string, n)
		for range n {
			k, v := d.string(), d.string()
			if d.err != nil {
				break
			}
			if k == "" {
				d.err = fmt.Errorf("empty label key")
				break
			}
			m.Labels[k] = v
		}
	}
	flags := d.uvarint()
	if d.err == nil { // appended after the flags; absent from older nodes
		if p, n := binary.Uvarint(d.b); n > 0 && p <= 1<<16 {
			m.Protocol = int(p)
		}
	}
	if d.err != nil {
		return Meta{ID: id}, false, fmt.Errorf("node %q: decoding metadata: %v: %w", id, d.err, ErrInvalidMeta)
	}
	return m, flags&flagLeaving != 0, nil
}

// equal reports whether m and o carry the same information.
func (m Meta) equal(o Meta) bool {
	return m.ID == o.ID && m.Name == o.Name && m.APIAddr == o.APIAddr && m.RaftAddr == o.RaftAddr &&
		m.Version == o.Version && m.Capacity == o.Capacity && maps.Equal(m.Labels, o.Labels) && m.Protocol == o.Protocol
}

type metaDecoder struct {
	b   []byte
	err error
}

func (d *metaDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *metaDecoder) int64() int64 {
	v := d.uvarint()
	if v > 1<<63-1 {
		d.err = fmt.Errorf("capacity %d out of range", v)
		return 0
	}
	return int64(v)
}

func (d *metaDecoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("string of %d bytes, %d left", n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	if !utf8.ValidString(s) {
		d.err = fmt.Errorf("string %q is not UTF-8", s)
		return ""
	}
	return s
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func uvarintLen(n int) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], uint64(n))
}
