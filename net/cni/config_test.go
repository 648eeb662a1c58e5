package cni

import (
	"errors"
	"net"
	"testing"
)

func TestParseConfig(t *testing.T) {
	nc, err := parseConfig([]byte(`{"cniVersion":"1.1.0","name":"web","type":"kedge-cni","bridge":"kb0",
		"subnet":"10.77.3.9/24","dataDir":"/var/lib/kedge/ipam","nftTable":"kedge",
		"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP","hostIP":"0.0.0.0"},
		{"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"192.0.2.7"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if nc.subnet.String() != "10.77.3.0/24" || !nc.gateway.Equal(net.IPv4(10, 77, 3, 1)) {
		t.Fatalf("subnet %s gateway %s", nc.subnet, nc.gateway)
	}
	if len(nc.ports) != 2 || portKey(nc.ports[0]) != "tcp/*/8080" || portKey(nc.ports[1]) != "udp/192.0.2.7/53" {
		t.Fatalf("ports %+v", nc.ports)
	}
	for _, bad := range []string{
		`{`,
		`{"name":"x","bridge":"kb0","subnet":"10.0.0.0/24","dataDir":"/d","nftTable":"t","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80},{"hostPort":80,"containerPort":81}]}}`,
		`{"name":"x","bridge":"kb0","subnet":"10.0.0.0/24","dataDir":"/d","nftTable":"t","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"hostIP":"::1"}]}}`,
		`{"name":"x","bridge":"k b","subnet":"10.0.0.0/24","dataDir":"/d","nftTable":"t"}`,
		`{"name":"x","bridge":"kb0","subnet":"10.0.0.0/24","gateway":"10.0.0.255","dataDir":"/d","nftTable":"t"}`,
	} {
		if _, err := parseConfig([]byte(bad)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", bad, err)
		}
	}
}

// FuzzParseConfig: any input either fails with ErrInvalidConfig or yields a
// configuration whose invariants the plugin relies on.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"web","type":"kedge-cni","bridge":"kb0","subnet":"10.77.3.0/24","dataDir":"/d","nftTable":"kedge"}`))
	f.Add([]byte(`{"name":"n","bridge":"kb0","subnet":"10.0.0.0/30","gateway":"10.0.0.2","dataDir":"/d","nftTable":"t","mtu":1500,"runtimeConfig":{"portMappings":[{"hostPort":1,"containerPort":65535,"protocol":"udp","hostIP":"127.0.0.1"}]}}`))
	f.Add([]byte(`{"name":"n","bridge":"kb0","subnet":"fd00::/64","dataDir":"/d","nftTable":"t"}`))
	f.Add([]byte(`{"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]},"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := parseConfig(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error without ErrInvalidConfig: %v", err)
			}
			return
		}
		if validIfName(nc.Bridge) != nil || nc.subnet.IP.To4() == nil || !nc.subnet.Contains(nc.gateway) || !validName.MatchString(nc.Name) {
			t.Fatalf("accepted an unusable config: %+v", nc)
		}
		seen := map[string]bool{}
		for _, p := range nc.ports {
			if p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 ||
				(p.Protocol != "tcp" && p.Protocol != "udp") || seen[portKey(p)] {
				t.Fatalf("accepted a bad port mapping: %+v", p)
			}
			if p.HostIP != "" && net.ParseIP(p.HostIP).To4() == nil {
				t.Fatalf("accepted host IP %q", p.HostIP)
			}
			seen[portKey(p)] = true
		}
	})
}
