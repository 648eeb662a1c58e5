package dns

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// recorder is a dns.ResponseWriter that keeps what the handler writes.
type recorder struct {
	remote net.Addr
	msgs   []*dns.Msg
}

func (w *recorder) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3), Port: 53} }
func (w *recorder) RemoteAddr() net.Addr { return w.remote }
func (w *recorder) WriteMsg(m *dns.Msg) error {
	w.msgs = append(w.msgs, m)
	return nil
}
func (w *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (w *recorder) Close() error                { return nil }
func (w *recorder) TsigStatus() error           { return nil }
func (w *recorder) TsigTimersOnly(bool)         {}
func (w *recorder) Hijack()                     {}

// FuzzServeDNS feeds arbitrary queries (as a client would send them) to
// the handler of a server with local names and no upstream: every query
// gets exactly one answer, with the client's id, that packs within the
// client's size limit.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"web.", dns.TypeA}, {"db.", dns.TypeAAAA}, {"web.", dns.TypeMX}, {"ghost.mynet.", dns.TypeA},
		{"example.com.", dns.TypeA}, {"2.0.88.10.in-addr.arpa.", dns.TypePTR}, {"web.", dns.TypeANY}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, _ := m.Pack()
		f.Add(b, false)
		m.SetEdns0(1232, true)
		b, _ = m.Pack()
		f.Add(b, true)
	}
	s := NewServer(Options{Lookup: netTable(), Domains: []string{"mynet"}})
	f.Fuzz(func(t *testing.T, data []byte, tcp bool) {
		r := new(dns.Msg)
		if err := r.Unpack(data); err != nil {
			return // the miekg/dns server answers FORMERR itself
		}
		w := &recorder{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5353}}
		limit := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > limit {
			limit = int(opt.UDPSize())
		}
		if tcp {
			w.remote, limit = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5353}, dns.MaxMsgSize
		}
		s.ServeDNS(w, r)
		if len(w.msgs) != 1 {
			t.Fatalf("%d answers", len(w.msgs))
		}
		m := w.msgs[0]
		if m.Id != r.Id || !m.Response {
			t.Fatalf("answer id %d response %v for query id %d", m.Id, m.Response, r.Id)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("answer does not pack: %v\n%v", err, m)
		}
		if len(b) > limit {
			t.Fatalf("answer of %d bytes for a client taking %d", len(b), limit)
		}
	})
}
