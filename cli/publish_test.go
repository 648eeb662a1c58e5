package cli

import (
	"errors"
	"testing"

	"kedge/api"
)

func TestParsePublish(t *testing.T) {
	good := map[string]api.PortBinding{
		"8080:80":             {HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		"127.0.0.1:8080:80":   {HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		"5353:53/udp":         {HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
		"[::1]:8080:80/TCP":   {HostIP: "::1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		"0.0.0.0:1:65535/tcp": {HostIP: "0.0.0.0", HostPort: 1, ContainerPort: 65535, Protocol: "tcp"},
		"80":                  {ContainerPort: 80, Protocol: "tcp"},
		"53/udp":              {ContainerPort: 53, Protocol: "udp"},
		"127.0.0.1::80":       {HostIP: "127.0.0.1", ContainerPort: 80, Protocol: "tcp"},
	}
	for in, want := range good {
		got, err := parsePublish(in)
		if err != nil || got != want {
			t.Errorf("parsePublish(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "::80", "80:", ":80", "0:80", "80:70000", "a:b", "1.2.3:80:80", "80:80/sctp", "[::1:80:80", "1:2:3:4"} {
		if _, err := parsePublish(bad); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("parsePublish(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{"8080:80", "127.0.0.1:1:2/udp", "[::1]:3:4", "::", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePublish(s)
		if err == nil && (p.HostPort < 0 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 || (p.Protocol != "tcp" && p.Protocol != "udp")) {
			t.Fatalf("parsePublish(%q) accepted %+v", s, p)
		}
	})
}
