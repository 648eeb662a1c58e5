package dns

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	stubConf = `# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).
nameserver 127.0.0.53
options edns0 trust-ad
search corp.example
`
	systemdConf = `# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).
nameserver 192.0.2.53
nameserver 2001:db8::53
search corp.example
`
	plainConf = `; written by dhclient
domain lan.example
nameserver 198.51.100.1   # the router
nameserver ::1
nameserver fe80::1%eth0
nameserver not-an-ip
options ndots:2
options timeout:1 rotate
`
)

func TestParseResolvConf(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want ResolvConf
	}{
		{"empty", "", ResolvConf{}},
		{"plain", plainConf, ResolvConf{
			Nameservers: []string{"198.51.100.1", "::1", "fe80::1%eth0"},
			Search:      []string{"lan.example"},
			Options:     []string{"ndots:2", "timeout:1", "rotate"},
		}},
		{"last of search and domain wins", "search a.example b.example\ndomain c.example\n", ResolvConf{Search: []string{"c.example"}}},
		{"search after domain", "domain c.example\nsearch a.example b.example\n", ResolvConf{Search: []string{"a.example", "b.example"}}},
		{"comments and blanks", "#nameserver 192.0.2.1\n\n   \n;search x\nnameserver\t192.0.2.2\r\n", ResolvConf{Nameservers: []string{"192.0.2.2"}}},
		{"unknown keywords", "sortlist 10.0.0.0/255.0.0.0\nlookup file bind\nnameserver 192.0.2.3\n", ResolvConf{Nameservers: []string{"192.0.2.3"}}},
	}
	for _, c := range cases {
		got := ParseResolvConf([]byte(c.in))
		if !slices.Equal(got.Nameservers, c.want.Nameservers) || !slices.Equal(got.Search, c.want.Search) || !slices.Equal(got.Options, c.want.Options) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// writeConfs writes name -> content files into a fresh directory and
// returns the directory.
func writeConfs(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestHostUpstreams(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string // "host" and "systemd"
		want    []string
		wantErr error
	}{
		{"systemd-resolved stub: the real servers behind it", map[string]string{"host": stubConf, "systemd": systemdConf},
			[]string{"192.0.2.53", "2001:db8::53"}, nil},
		{"plain file: loopback and zoned servers skipped", map[string]string{"host": plainConf, "systemd": systemdConf},
			[]string{"198.51.100.1"}, nil},
		{"stub without systemd's file", map[string]string{"host": stubConf}, nil, ErrNoUpstreams},
		{"no host file: systemd's", map[string]string{"systemd": systemdConf}, []string{"192.0.2.53", "2001:db8::53"}, nil},
		{"no files at all", map[string]string{}, nil, ErrNoUpstreams},
		{"only loopback everywhere", map[string]string{"host": "nameserver 127.0.0.1\n", "systemd": "nameserver ::1\nnameserver 127.0.0.53\n"}, nil, ErrNoUpstreams},
		{"duplicates and mapped addresses", map[string]string{"host": "nameserver 192.0.2.9\nnameserver ::ffff:192.0.2.9\nnameserver 0.0.0.0\n"}, []string{"192.0.2.9"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeConfs(t, c.files)
			got, err := HostUpstreams(filepath.Join(dir, "host"), filepath.Join(dir, "systemd"))
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("upstreams %v, want %v", got, c.want)
			}
		})
	}
}

func TestReadHostResolvConfUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory where a file is expected
	if _, err := ReadHostResolvConf(dir); err == nil || errors.Is(err, ErrNoUpstreams) {
		t.Fatalf("reading a directory: %v, want a read error", err)
	}
}

func TestContainerResolvConf(t *testing.T) {
	cases := []struct {
		name                         string
		host                         string
		nameservers, search, options []string
		want                         string
	}{
		{"bridge on a plain host: host's servers, search and options", plainConf, nil, nil, nil,
			"nameserver 198.51.100.1\nsearch lan.example\noptions ndots:2 timeout:1 rotate\n"},
		{"bridge on systemd-resolved (file from ReadHostResolvConf)", systemdConf, nil, nil, nil,
			"nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch corp.example\n"},
		{"stub file passed as is: the stub is never written", stubConf, nil, nil, nil,
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch corp.example\noptions edns0 trust-ad\n"},
		{"user network: the responder only", systemdConf, []string{"10.88.0.1"}, nil, nil,
			"nameserver 10.88.0.1\nsearch corp.example\n"},
		{"--dns overrides, deduplicated", plainConf, []string{"192.0.2.10", " 192.0.2.11 ", "192.0.2.10"}, nil, nil,
			"nameserver 192.0.2.10\nnameserver 192.0.2.11\nsearch lan.example\noptions ndots:2 timeout:1 rotate\n"},
		{"--dns-search replaces", plainConf, nil, []string{"a.example", "b.example"}, nil,
			"nameserver 198.51.100.1\nsearch a.example b.example\noptions ndots:2 timeout:1 rotate\n"},
		{"--dns-search . drops search", plainConf, nil, []string{"."}, nil,
			"nameserver 198.51.100.1\noptions ndots:2 timeout:1 rotate\n"},
		{"--dns-option replaces", plainConf, nil, nil, []string{"ndots:0", "use-vc"},
			"nameserver 198.51.100.1\nsearch lan.example\noptions ndots:0 use-vc\n"},
		{"no host file", "", nil, nil, nil, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"bad overrides cannot add lines", "", []string{"192.0.2.1\nnameserver 6.6.6.6", "bogus"}, []string{"x.example\noptions debug", "ok.example"}, []string{"ndots:1 rotate", "#x", "edns0"},
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch ok.example\noptions edns0\n"},
	}
	for _, c := range cases {
		got := string(ContainerResolvConf([]byte(c.host), c.nameservers, c.search, c.options))
		if !strings.HasPrefix(got, resolvConfHeader) {
			t.Errorf("%s: no header in %q", c.name, got)
		}
		if got = strings.TrimPrefix(got, resolvConfHeader); got != c.want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}

func FuzzParseResolvConf(f *testing.F) {
	for _, s := range []string{"", stubConf, systemdConf, plainConf, "search\n", "options\x00 a\n", "nameserver ::ffff:1.2.3.4\n", "domain a\u00a0b\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rc := ParseResolvConf(data)
		out := rc.Bytes()
		// What the parser returns survives formatting unchanged.
		back := ParseResolvConf(out)
		if !slices.Equal(rc.Nameservers, back.Nameservers) || !slices.Equal(rc.Search, back.Search) || !slices.Equal(rc.Options, back.Options) {
			t.Fatalf("round trip changed %+v into %+v (file %q)", rc, back, out)
		}
		// A container's file has only known lines and at least one server.
		cont := ContainerResolvConf(data, nil, nil, nil)
		lines := strings.Split(strings.TrimSuffix(string(cont), "\n"), "\n")
		servers := 0
		for _, l := range lines[1:] {
			switch strings.Fields(l)[0] {
			case "nameserver":
				servers++
			case "search", "options":
			default:
				t.Fatalf("unexpected line %q in %q", l, cont)
			}
		}
		if servers == 0 {
			t.Fatalf("no nameserver in %q", cont)
		}
		for _, ns := range ParseResolvConf(cont).Nameservers {
			if strings.HasPrefix(ns, "127.") || ns == "::1" || strings.Contains(ns, "%") {
				t.Fatalf("unusable nameserver %s written", ns)
			}
		}
	})
}
